"""Draw the sentence of a training sample."""
import numpy as np
from mmcv.transforms import BaseTransform

from mmrefseg.registry import TRANSFORMS

__all__ = ['SampleSentence']


@TRANSFORMS.register_module()
class SampleSentence(BaseTransform):
    """Draw one of the referred object's sentences, anew on every fetch.

    A training item holds every sentence of its object; each time it is
    fetched one is drawn uniformly with NumPy's global generator (which
    mmengine seeds per worker). Test items already carry their one sentence
    (``text`` set by ``ReferDataset`` in test mode) and pass through.

    Required keys: ``sentences`` (list of ``dict(sent_id, sent)``), or
    ``text``.

    Added keys: ``text`` (str), ``sent_id`` (int).
    """

    def transform(self, results: dict) -> dict:
        """Set ``text`` and ``sent_id`` from a random sentence.

        Args:
            results (dict): The result dict.

        Returns:
            dict: The result dict with ``text`` and ``sent_id``.
        """
        if 'text' in results:
            return results
        sentences = results.get('sentences')
        if not sentences:
            raise ValueError(
                f'Ref {results.get("ref_id")} ({results.get("img_path")}) '
                'has no sentence to draw.')
        sentence = sentences[np.random.randint(len(sentences))]
        results['text'] = sentence['sent']
        results['sent_id'] = sentence['sent_id']
        return results
