"""Referring-segmentation metrics: overall IoU, mean IoU and Pr@X."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from prettytable import PrettyTable
from torch import Tensor

from mmrefseg.registry import METRICS

__all__ = ['ReferMetric', 'foreground_masks', 'iou_thresholds']

# One result per sentence: (intersection pixels, union pixels, sent_id).
SentenceResult = Tuple[int, int, Optional[int]]



def foreground_masks(data_sample, metric: str) -> Tuple[dict, Tensor, Tensor]:
    """A data sample's predicted and ground-truth foreground, checked.

    Args:
        data_sample (dict | :obj:`BaseDataElement`): With
            ``pred_sem_seg.data`` and ``gt_sem_seg.data`` (1, H0, W0).
        metric (str): The metric's name, for the error messages.

    Returns:
        tuple[dict, Tensor, Tensor]: The sample as a dict, and the predicted
        and ground-truth foreground, both bool (1, H0, W0) on the
        prediction's device.
    """
    if isinstance(data_sample, BaseDataElement):
        data_sample = data_sample.to_dict()
    where = (f"img_path={data_sample.get('img_path')!r}, "
             f"sent_id={data_sample.get('sent_id')!r}")
    for key in ('pred_sem_seg', 'gt_sem_seg'):
        if key not in data_sample:
            raise KeyError(f'{metric} needs "{key}" in every data sample; it '
                           f'is missing for {where}')
    pred = data_sample['pred_sem_seg']['data']
    gt = data_sample['gt_sem_seg']['data']
    if pred.shape != gt.shape:
        raise ValueError(
            f'{metric} compares masks at the original image size, but '
            f'pred_sem_seg has shape {tuple(pred.shape)} and gt_sem_seg '
            f'{tuple(gt.shape)} for {where}')
    return data_sample, pred != 0, gt.to(pred.device) != 0


def iou_thresholds(iou_thrs: Union[float, Sequence[float]]
                   ) -> Tuple[float, ...]:
    """A metric's ``iou_thrs`` as a tuple of floats, each checked to lie in
    [0, 1]."""
    if isinstance(iou_thrs, (int, float)):
        iou_thrs = (iou_thrs, )
    iou_thrs = tuple(float(thr) for thr in iou_thrs)
    for thr in iou_thrs:
        if not 0.0 <= thr <= 1.0:
            raise ValueError(
                f'iou_thrs must lie in [0, 1], got {thr} in {iou_thrs}')
    return iou_thrs

@METRICS.register_module()
class ReferMetric(BaseMetric):
    """oIoU, mIoU and Pr@X of referring image segmentation.

    Every data sample is one sentence. For sentence ``i`` with predicted mask
    ``P_i`` and ground truth ``G_i`` (both at the original image size),
    ``I_i = |P_i & G_i|`` and ``U_i = |P_i | G_i|``:

    - ``oIoU`` (overall or cumulative IoU, LAVT / EAVL):
      ``sum_i I_i / sum_i U_i``;
    - ``mIoU`` (CRIS's "IoU"): ``mean_i IoU_i`` with ``IoU_i = I_i / U_i``;
    - ``Pr@X``: the fraction of sentences whose ``IoU_i`` reaches ``X``.

    All values are reported in percent. Non-zero pixels count as foreground
    in both masks.

    A sentence whose prediction and ground truth are both empty has an empty
    union. Its ``IoU_i`` is ``empty_union_iou``: 0 as in LAVT and mmdet (such
    sentences do not exist in RefCOCO/+/g), 1 as in gRefCOCO's gIoU, where a
    correctly empty prediction for a no-target expression is a success. Such a
    sentence adds nothing to either sum of ``oIoU``; if every union is empty,
    ``oIoU`` is ``empty_union_iou`` as well.

    Only two integers and the ``sent_id`` are kept per sentence, so that
    collecting the results of all ranks is cheap. Each rank appends exactly
    one result per data sample, in the order of its sampler;
    ``BaseMetric.evaluate`` interleaves the ranks' lists back into dataset
    order and truncates them to ``len(dataset)``, which drops the samples the
    distributed sampler repeats as padding. Hence every sentence counts once
    and no de-duplication on ``sent_id`` is done: it would be redundant, and
    wrong where ids repeat legitimately (a missing ``sent_id``, or a
    concatenation of RefCOCO and RefCOCO+, whose ids overlap).

    Args:
        iou_thrs (Sequence[float]): The thresholds X of Pr@X, each in [0, 1].
            Defaults to (0.5, 0.6, 0.7, 0.8, 0.9).
        strict_threshold (bool): Whether a sentence needs ``IoU > X`` (as the
            CRIS reference) rather than ``IoU >= X`` (as LAVT) to count in
            Pr@X. Defaults to False.
        empty_union_iou (float): The IoU of a sentence whose prediction and
            ground truth are both empty, in [0, 1]. Defaults to 0.0.
        collect_device (str): Device used to collect the results of all
            ranks, 'cpu' or 'gpu'. Defaults to 'cpu'.
        collect_dir (str, optional): Shared directory used by the 'cpu'
            collection. Defaults to None (a temporary one).
        prefix (str, optional): Prefix of the metric names, e.g. 'val' gives
            'val/oIoU'. Defaults to None.
    """

    def __init__(self,
                 iou_thrs: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9),
                 strict_threshold: bool = False,
                 empty_union_iou: float = 0.0,
                 collect_device: str = 'cpu',
                 collect_dir: Optional[str] = None,
                 prefix: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        iou_thrs = iou_thresholds(iou_thrs)
        if not 0.0 <= empty_union_iou <= 1.0:
            raise ValueError('empty_union_iou must lie in [0, 1], got '
                             f'{empty_union_iou}')
        self.iou_thrs = iou_thrs
        self.strict_threshold = strict_threshold
        self.empty_union_iou = float(empty_union_iou)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Count the intersection and union pixels of each sentence.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): The model outputs, as dicts (what
                mmengine's ``Evaluator`` passes) or ``SegDataSample``. Each
                has ``pred_sem_seg.data`` and ``gt_sem_seg.data``, both
                Tensor: (1, H0, W0) at the original image size, and the
                metainfo ``sent_id`` and ``img_path``.
        """
        for data_sample in data_samples:
            data_sample, pred_fg, gt_fg = foreground_masks(
                data_sample, type(self).__name__)
            # One device-to-host copy per sentence for both counts.
            intersection, union = torch.stack(
                ((pred_fg & gt_fg).sum(), (pred_fg | gt_fg).sum())).tolist()
            self.results.append(
                (intersection, union, data_sample.get('sent_id')))

    def compute_metrics(self,
                        results: List[SentenceResult]) -> Dict[str, float]:
        """Compute oIoU, mIoU and Pr@X from the results of all sentences.

        Args:
            results (list[tuple]): One ``(intersection, union, sent_id)``
                per sentence.

        Returns:
            dict[str, float]: 'oIoU', 'mIoU' and 'Pr@X' for every X of
            ``iou_thrs``, in percent.
        """
        if len(results) == 0:
            raise ValueError('ReferMetric got no results: the evaluation '
                             'dataset is empty or process() was never called')
        intersections = np.array([r[0] for r in results], dtype=np.float64)
        unions = np.array([r[1] for r in results], dtype=np.float64)

        ious = np.full(len(results), self.empty_union_iou)
        has_union = unions > 0
        ious[has_union] = intersections[has_union] / unions[has_union]

        total_union = unions.sum()
        overall_iou = (intersections.sum() / total_union
                       if total_union > 0 else self.empty_union_iou)

        metrics = dict(oIoU=100 * float(overall_iou),
                       mIoU=100 * float(ious.mean()))
        for thr in self.iou_thrs:
            hits = ious > thr if self.strict_threshold else ious >= thr
            metrics[f'Pr@{thr:g}'] = 100 * float(hits.mean())

        self._log_table(metrics, len(results))
        return metrics

    def _log_table(self, metrics: Dict[str, float],
                   num_sentences: int) -> None:
        """Print the metrics as a one-row table to the current logger."""
        table = PrettyTable()
        for name, value in metrics.items():
            table.add_column(name, [f'{value:.2f}'])
        comparison = '>' if self.strict_threshold else '>='
        print_log(
            f'Referring segmentation results on {num_sentences} sentences '
            f'(Pr@X: IoU {comparison} X):\n' + table.get_string(),
            logger='current')
