"""GReferMetric: gIoU, cIoU, N-acc, T-acc and Pr@X on hand-counted cases."""
import pytest
import torch

from mmrefseg.evaluation import GReferMetric
from mmrefseg.registry import METRICS
from tests.helpers import evaluate_grefer, grefer_sample

KEYS = ['gIoU', 'cIoU', 'N-acc', 'T-acc', 'Pr@0.7', 'Pr@0.8', 'Pr@0.9']


def _mask(rows=slice(0, 0), cols=slice(0, 0), height=10, width=10):
    mask = torch.zeros(1, height, width, dtype=torch.uint8)
    mask[0, rows, cols] = 1
    return mask


EMPTY = _mask()
GT = _mask(slice(0, 4), slice(0, 5))  # 20 px
PRED = _mask(slice(0, 4), slice(1, 6))  # 20 px, I = 16, U = 24


def test_registered_and_keys():
    assert METRICS.get('GReferMetric') is GReferMetric
    metrics = evaluate_grefer([grefer_sample(GT, GT, False, False)])
    assert list(metrics) == KEYS


def test_four_kinds_by_hand():
    samples = [
        # TP: no-target, predicted no-target (a stray mask is ignored).
        grefer_sample(_mask(slice(0, 1), slice(0, 3)), EMPTY, True, True),
        # FN: no-target, predicted 6 pixels: IoU 0, union sum += 6.
        grefer_sample(_mask(slice(0, 2), slice(0, 3)), EMPTY, True, False),
        # FP: targeted, predicted no-target; I would be 16 but counts 0,
        # U = 24 as usual.
        grefer_sample(PRED, GT, False, True),
        # TN: targeted, I = 16, U = 24, IoU 2/3.
        grefer_sample(PRED, GT, False, False),
        # TN: perfect, I = U = 20.
        grefer_sample(GT, GT, False, False),
    ]
    metrics = evaluate_grefer(samples)
    assert metrics['gIoU'] == pytest.approx(100 * (1 + 0 + 0 + 2 / 3 + 1) / 5)
    assert metrics['cIoU'] == pytest.approx(100 * (16 + 20) / (6 + 24 + 24 +
                                                                 20))
    assert metrics['N-acc'] == pytest.approx(50.0)  # TP / (TP + FN)
    assert metrics['T-acc'] == pytest.approx(100 * 2 / 3)  # TN / (TN + FP)
    # Over the 3 targeted sentences: IoUs 0, 2/3, 1.
    assert metrics['Pr@0.7'] == pytest.approx(100 / 3)
    assert metrics['Pr@0.9'] == pytest.approx(100 / 3)
    assert evaluate_grefer(samples, iou_thrs=0.6)['Pr@0.6'] == pytest.approx(
        200 / 3)


def test_flags_default_to_empty_masks():
    # Without no_target / pred_no_target an empty mask means "no target".
    samples = [
        grefer_sample(EMPTY, EMPTY),  # TP
        grefer_sample(PRED, EMPTY),  # FN
        grefer_sample(EMPTY, GT),  # FP
        grefer_sample(GT, GT, as_dict=False),  # TN, as a SegDataSample
    ]
    metrics = evaluate_grefer(samples)
    assert metrics['N-acc'] == pytest.approx(50.0)
    assert metrics['T-acc'] == pytest.approx(50.0)
    assert metrics['gIoU'] == pytest.approx(50.0)
    assert metrics['cIoU'] == pytest.approx(100 * 20 / (20 + 20 + 20))


def test_without_no_target_sentences():
    metrics = evaluate_grefer([grefer_sample(PRED, GT, False, False)])
    assert metrics['N-acc'] == 0.0 and metrics['T-acc'] == 100.0
    assert metrics['gIoU'] == pytest.approx(100 * 16 / 24)
    assert metrics['cIoU'] == pytest.approx(100 * 16 / 24)


def test_only_true_positives():
    metrics = evaluate_grefer([grefer_sample(EMPTY, EMPTY, True, True)] * 3)
    assert metrics['gIoU'] == 100.0 and metrics['cIoU'] == 100.0
    assert metrics['N-acc'] == 100.0 and metrics['T-acc'] == 0.0
    assert metrics['Pr@0.7'] == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match='no-target but'):
        evaluate_grefer([grefer_sample(GT, GT, True, True)])
    with pytest.raises(ValueError, match='shape'):
        evaluate_grefer([grefer_sample(_mask(height=5), GT)])
    sample = grefer_sample(GT, GT)
    del sample['gt_sem_seg']
    with pytest.raises(KeyError, match='gt_sem_seg'):
        evaluate_grefer([sample])
    with pytest.raises(ValueError, match='no results'):
        GReferMetric().compute_metrics([])
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        GReferMetric(iou_thrs=(0.5, 1.5))
