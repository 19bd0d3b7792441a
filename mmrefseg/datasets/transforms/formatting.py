"""Pack a referring sample into the model's inputs and data sample."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.registry import TRANSFORMS

__all__ = ['PackReferInputs']

META_KEYS = ('img_path', 'image_id', 'ref_id', 'sent_id', 'text', 'ori_shape',
             'img_shape', 'resized_shape', 'pad_offset', 'scale_factor',
             'no_target')


@TRANSFORMS.register_module()
class PackReferInputs(BaseTransform):
    """Pack the image, the mask and the sentence for the segmentor.

    Required keys: ``img`` (H, W, C) or (H, W); optional ``gt_seg_map``.

    Returns a dict with ``inputs``: (C, H, W) tensor in the image's dtype and
    channel order (BGR uint8 from ``LoadImageFromFile``), and
    ``data_samples``: a :class:`SegDataSample` whose ``gt_sem_seg.data`` is
    (1, h, w) in the mask's dtype (float32 [0, 1] at ``img_shape`` after a
    letterbox, uint8 {0, 1} at ``ori_shape`` in testing) and whose metainfo
    holds the ``meta_keys`` present in the results.

    Args:
        meta_keys (sequence[str]): Keys copied into the metainfo.
            Defaults to img_path, image_id, ref_id, sent_id, text, ori_shape,
            img_shape, resized_shape, pad_offset, scale_factor, no_target
            (True for a gRefCOCO expression without a target).
    """

    def __init__(self, meta_keys: Sequence[str] = META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        """Pack ``results``.

        Args:
            results (dict): The result dict.

        Returns:
            dict: ``inputs`` (Tensor) and ``data_samples`` (SegDataSample).
        """
        if 'text' not in results:
            raise KeyError(
                f'No sentence for ref {results.get("ref_id")}: put '
                'SampleSentence before PackReferInputs in a training '
                'pipeline, or build the dataset with test_mode=True.')
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

        data_sample = SegDataSample()
        if 'gt_seg_map' in results:
            gt = np.ascontiguousarray(results['gt_seg_map'][None])
            data_sample.gt_sem_seg = PixelData(data=torch.from_numpy(gt))
        data_sample.set_metainfo(
            {key: results[key]
             for key in self.meta_keys if key in results})
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
