"""Collects every sentence's predicted mask, for ``tools/test.py --out``."""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.fileio import dump
from pycocotools import mask as mask_utils

from mmrefseg.registry import METRICS

__all__ = ['DumpReferResults']


def encode_mask(mask: torch.Tensor) -> dict:
    """COCO run-length encoding of a (1, H, W) or (H, W) mask.

    Returns:
        dict: ``size`` [H, W] and ``counts`` as an ASCII string, so that the
        record can be written to JSON as well as to a pickle.
    """
    mask = mask.detach().cpu().numpy().reshape(mask.shape[-2:]) > 0
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=[int(s) for s in rle['size']],
                counts=rle['counts'].decode('ascii'))


@METRICS.register_module()
class DumpReferResults(BaseMetric):
    """Keeps one record per sentence: ids, text, IoU and the RLE mask.

    It computes no metric (:meth:`compute_metrics` returns ``{}``): put it
    after the real metric. In a distributed run the records are gathered on
    rank 0 in dataset order, the sampler's padding dropped, like any metric.
    A record is ``dict(img_path, image_id, ref_id, sent_id, text, iou,
    pred_mask)`` with ``pred_mask`` a COCO RLE at the original image size
    (``pycocotools.mask.decode`` restores it) and ``iou`` None when the
    sample has no ground truth. GRES samples add ``no_target`` and
    ``pred_no_target`` (bool) where the sample carries them, and a
    no-target sentence with an empty prediction has ``iou`` 1, as in
    :class:`GReferMetric`.

    Args:
        out_file (str, optional): Where rank 0 dumps the records
            (``.pkl``/``.pickle``/``.json``). None keeps them in
            :attr:`records` for the caller. Defaults to None.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Unused, kept for the metric interface.
            Defaults to None.
    """

    default_prefix = 'dump'

    def __init__(self,
                 out_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if out_file is not None and not out_file.endswith(
                ('.pkl', '.pickle', '.json')):
            raise ValueError('DumpReferResults writes .pkl, .pickle or .json '
                             f'files, got "{out_file}".')
        self.out_file = out_file
        self.records: List[dict] = []

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data']
            iou = None
            if 'gt_sem_seg' in sample:
                gt = sample['gt_sem_seg']['data'].to(pred.device) > 0
                pred_bool = pred > 0
                union = (pred_bool | gt).sum().item()
                inter = (pred_bool & gt).sum().item()
                if union > 0:
                    iou = inter / union
                else:
                    iou = 1.0 if sample.get('no_target') else 0.0
            record = dict(
                img_path=sample.get('img_path'),
                image_id=sample.get('image_id'),
                ref_id=sample.get('ref_id'),
                sent_id=sample.get('sent_id'),
                text=sample.get('text'),
                iou=iou,
                pred_mask=encode_mask(pred))
            for key in ('no_target', 'pred_no_target'):
                if sample.get(key) is not None:
                    record[key] = bool(sample[key])
            self.results.append(record)

    def compute_metrics(self, results: list) -> dict:
        self.records = list(results)
        if self.out_file is not None:
            dump(self.records, self.out_file)
        return {}
