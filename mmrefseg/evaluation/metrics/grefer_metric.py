"""Generalised referring-segmentation metrics (gRefCOCO): gIoU, cIoU,
N-acc, T-acc and Pr@X."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from prettytable import PrettyTable

from mmrefseg.registry import METRICS
from .refer_metric import foreground_masks, iou_thresholds

__all__ = ['GReferMetric']

# One result per sentence: (intersection pixels, union pixels, ground truth
# is no-target, predicted no-target).
SentenceResult = Tuple[int, int, bool, bool]


@METRICS.register_module()
class GReferMetric(BaseMetric):
    """gIoU, cIoU, N-acc, T-acc and Pr@X of generalised referring
    segmentation (GRES, gRefCOCO), as ReLA's evaluator after its "fix eval
    metrics" commit.

    Every data sample is one sentence, with predicted mask ``P`` and ground
    truth ``G`` at the original image size, ``I = |P & G|`` and
    ``U = |P | G|``. "No target" is the positive class:

    ===================  =====================  =============================
    ground truth         predicted              counted as
    ===================  =====================  =============================
    no target            no target (TP)         IoU 1, adds nothing to sums
    no target            targeted (FN)          IoU 0, ``U`` (the predicted
                                                pixels) adds to the union sum
    targeted             no target (FP)         ``I`` counted as 0, ``U`` as
                                                usual, IoU 0
    targeted             targeted (TN)          IoU = I / U, both sums grow
    ===================  =====================  =============================

    - ``gIoU``: mean IoU over all sentences;
    - ``cIoU``: sum of I / sum of U (100 when the union sum is empty: every
      mask, predicted and true, is empty);
    - ``N-acc`` = TP / (TP + FN), ``T-acc`` = TN / (TN + FP) (0 without
      no-target, resp. targeted, sentences);
    - ``Pr@X``: the fraction of targeted sentences whose IoU reaches X (0
      without targeted sentences).

    On the same predictions these equal ReLA's figures (its N-acc and
    T-acc are fractions, here percent) wherever ReLA's are defined: ReLA
    divides by zero in the empty cases above, and it sets T-acc to 0 when
    there is no no-target sentence at all, where this metric still reports
    TN / (TN + FP).

    All values are in percent. The ground truth is no-target when the data
    sample's ``no_target`` is True (``GReferDataset`` sets it); the
    prediction when its ``pred_no_target`` is True (a head's no-target
    branch sets it). A sample without ``no_target`` or ``pred_no_target``
    is taken as no-target where its mask is empty, so that models without a
    no-target branch can be scored (an empty prediction is their only way
    to say "nothing"). A targeted ground truth with an empty mask counts as
    targeted; its IoU is 0 if the prediction is empty too.

    Four numbers per sentence are kept; as :class:`ReferMetric`, each rank
    appends one result per data sample and mmengine restores dataset order,
    so that multi-process evaluation is exact.

    Args:
        iou_thrs (Sequence[float]): The thresholds X of Pr@X, each in [0, 1].
            Defaults to (0.7, 0.8, 0.9) (ReLA's).
        collect_device (str): Device used to collect the results of all
            ranks, 'cpu' or 'gpu'. Defaults to 'cpu'.
        collect_dir (str, optional): Shared directory used by the 'cpu'
            collection. Defaults to None (a temporary one).
        prefix (str, optional): Prefix of the metric names, e.g. 'val' gives
            'val/gIoU'. Defaults to None.
    """

    def __init__(self,
                 iou_thrs: Sequence[float] = (0.7, 0.8, 0.9),
                 collect_device: str = 'cpu',
                 collect_dir: Optional[str] = None,
                 prefix: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        iou_thrs = iou_thresholds(iou_thrs)
        self.iou_thrs = iou_thrs

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Count the pixels and the no-target decisions of each sentence.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): The model outputs, as dicts (what
                mmengine's ``Evaluator`` passes) or ``SegDataSample``. Each
                has ``pred_sem_seg.data`` and ``gt_sem_seg.data`` (1, H0, W0)
                at the original image size, and optionally ``no_target``
                and ``pred_no_target`` (bool).
        """
        for data_sample in data_samples:
            data_sample, pred_fg, gt_fg = foreground_masks(
                data_sample, type(self).__name__)
            # One device-to-host copy per sentence for all counts.
            intersection, union, pred_any, gt_any = torch.stack(
                ((pred_fg & gt_fg).sum(), (pred_fg | gt_fg).sum(),
                 pred_fg.any(), gt_fg.any())).tolist()
            gt_no_target = data_sample.get('no_target')
            if gt_no_target is None:
                gt_no_target = not gt_any
            elif gt_no_target and gt_any:
                raise ValueError(
                    f"The data sample img_path={data_sample.get('img_path')!r}"
                    f", sent_id={data_sample.get('sent_id')!r} is no-target "
                    'but its ground-truth mask is not empty.')
            pred_no_target = data_sample.get('pred_no_target')
            if pred_no_target is None:
                pred_no_target = not pred_any
            self.results.append((int(intersection), int(union),
                                 bool(gt_no_target), bool(pred_no_target)))

    def compute_metrics(self,
                        results: List[SentenceResult]) -> Dict[str, float]:
        """Compute the metrics from the results of all sentences.

        Args:
            results (list[tuple]): One ``(intersection, union,
                no_target, pred_no_target)`` per sentence.

        Returns:
            dict[str, float]: 'gIoU', 'cIoU', 'N-acc', 'T-acc' and 'Pr@X'
            for every X of ``iou_thrs``, in percent.
        """
        if len(results) == 0:
            raise ValueError('GReferMetric got no results: the evaluation '
                             'dataset is empty or process() was never called')
        inter = np.array([r[0] for r in results], dtype=np.float64)
        union = np.array([r[1] for r in results], dtype=np.float64)
        gt_nt = np.array([r[2] for r in results], dtype=bool)
        pred_nt = np.array([r[3] for r in results], dtype=bool)

        tp = gt_nt & pred_nt
        fn = gt_nt & ~pred_nt
        fp = ~gt_nt & pred_nt
        tn = ~gt_nt & ~pred_nt
        # FP: intersection counted as 0; TP: nothing in either sum; FN: the
        # union (the predicted pixels) only.
        inter = np.where(fp | gt_nt, 0.0, inter)
        union = np.where(tp, 0.0, union)
        ious = np.zeros(len(results))
        ious[tp] = 1.0
        targeted = ~gt_nt
        has_union = targeted & (union > 0)
        ious[has_union] = inter[has_union] / union[has_union]

        total_union = union.sum()
        metrics = dict(
            gIoU=100 * float(ious.mean()),
            cIoU=100 * float(inter.sum() / total_union)
            if total_union > 0 else 100.0,
            **{
                'N-acc': _percent(tp.sum(), tp.sum() + fn.sum()),
                'T-acc': _percent(tn.sum(), tn.sum() + fp.sum()),
            })
        num_targeted = int(targeted.sum())
        for thr in self.iou_thrs:
            hits = int((targeted & (ious >= thr)).sum())
            metrics[f'Pr@{thr:g}'] = _percent(hits, num_targeted)

        counts = dict(TP=int(tp.sum()), FN=int(fn.sum()), FP=int(fp.sum()),
                      TN=int(tn.sum()))
        self._log_table(metrics, len(results), counts)
        return metrics

    @staticmethod
    def _log_table(metrics: Dict[str, float], num_sentences: int,
                   counts: Dict[str, int]) -> None:
        """Print the metrics as a one-row table to the current logger."""
        table = PrettyTable()
        for name, value in metrics.items():
            table.add_column(name, [f'{value:.2f}'])
        print_log(
            f'Generalised referring segmentation results on {num_sentences} '
            f'sentences (no-target = positive: {counts}; Pr@X: IoU >= X '
            'over targeted sentences):\n' + table.get_string(),
            logger='current')


def _percent(numerator: float, denominator: float) -> float:
    """100 * numerator / denominator, 0 for an empty denominator."""
    return 100 * float(numerator) / float(denominator) if denominator else 0.0
