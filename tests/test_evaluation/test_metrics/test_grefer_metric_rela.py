"""GReferMetric against ReLA's evaluator, restated here from its
definitions (henghuiding/ReLA, gres_model/evaluation/refer_evaluation.py
after the "fix eval metrics" commit 884ef17), on ~200 random sentences of
the four kinds, in one process and split over two as a distributed
evaluation sees them.

ReLA's per-sentence accumulation, "no target" being the positive class:

- ground truth no-target, predicted no-target (TP): IoU 1, nothing added
  to the intersection and union sums;
- ground truth no-target, predicted targeted (FN): IoU 0, the union
  (the predicted pixels) added to the union sum;
- targeted, predicted no-target (FP): the intersection counts 0, the union
  as computed (the predicted mask is not emptied by ReLA's evaluator); IoU 0
  (I = 0 over U, or 0 for an empty union);
- targeted, predicted targeted (TN): IoU = I / U (0 for an empty union);
  both sums grow.

gIoU = mean IoU over all sentences, cIoU = sum I / sum U, N-acc =
TP / (TP + FN), T-acc = TN / (TN + FP), Pr@X = share of the targeted
sentences (FP included) with IoU >= X. ReLA logs N_acc / T_acc as
fractions and the others in percent; GReferMetric reports all in percent.

Where ReLA is undefined or differs, not compared here (see
test_grefer_metric.py for GReferMetric's choices): ReLA sets T_acc (and
N_acc) to 0 when there is no no-target sentence, and divides by zero when
the union sum, the targeted count or TN + FP is 0.
"""
import numpy as np
import pytest
import torch

from mmrefseg.evaluation import GReferMetric

THRESHOLDS = (0.7, 0.8, 0.9)


def rela_restated(cases):
    """ReLA's metrics from (pred bool array, gt bool array, gt no-target,
    predicted no-target) per sentence, in percent."""
    sum_iou = sum_i = sum_u = 0.0
    counts = dict(TP=0, FN=0, FP=0, TN=0)
    targeted = 0
    hits = dict.fromkeys(THRESHOLDS, 0)
    for pred, gt, gt_no_target, pred_no_target in cases:
        inter = int(np.logical_and(pred, gt).sum())
        union = int(np.logical_or(pred, gt).sum())
        if gt_no_target:
            if pred_no_target:
                counts['TP'] += 1
                sum_iou += 1.0
            else:
                counts['FN'] += 1
                sum_u += union
            continue
        targeted += 1
        if pred_no_target:
            counts['FP'] += 1
            inter = 0
        else:
            counts['TN'] += 1
        iou = inter / union if union else 0.0
        sum_iou += iou
        sum_i += inter
        sum_u += union
        for thr in THRESHOLDS:
            hits[thr] += iou >= thr
    assert counts['TP'] + counts['FN'] > 0 and targeted > 0 and sum_u > 0
    metrics = {
        'gIoU': 100 * sum_iou / len(cases),
        'cIoU': 100 * sum_i / sum_u,
        'N-acc': 100 * counts['TP'] / (counts['TP'] + counts['FN']),
        'T-acc': 100 * counts['TN'] / (counts['TN'] + counts['FP']),
    }
    for thr in THRESHOLDS:
        metrics[f'Pr@{thr:g}'] = 100 * hits[thr] / targeted
    return metrics, counts


def _random_cases(num, seed):
    """Sentences of the four kinds, images of different sizes. Masks include
    a no-target decision with a stray mask (ReLA's model does not empty
    it), targeted predictions with empty masks, empty targeted ground
    truths, and IoUs exactly at 0.7, 0.8 and 0.9."""
    rng = np.random.default_rng(seed)
    cases = []
    for index in range(num):
        height, width = (int(v) for v in rng.integers(10, 30, size=2))
        gt_no_target = bool(rng.random() < 0.3)
        pred_no_target = bool(
            rng.random() < (0.65 if gt_no_target else 0.2))
        gt = np.zeros((height, width), bool)
        if not gt_no_target and rng.random() > 0.03:
            y0, x0 = rng.integers(0, height - 2), rng.integers(0, width - 2)
            gt[y0:rng.integers(y0 + 1, height + 1),
               x0:rng.integers(x0 + 1, width + 1)] = True
        kind = index % 5
        pred = np.zeros_like(gt)
        if kind == 0:
            pass  # empty prediction
        elif kind == 1 and not gt_no_target:
            # a 10-pixel row, predicted 7, 8, 9 or 10 of it: IoU 0.7-1.0
            gt[:] = False
            gt[0, :10] = True
            pred[0, :int(rng.integers(7, 11))] = True
        else:
            y0, x0 = rng.integers(0, height - 1), rng.integers(0, width - 1)
            pred[y0:rng.integers(y0 + 1, height + 1),
                 x0:rng.integers(x0 + 1, width + 1)] = True
            if kind == 2 and gt.any():
                pred |= gt  # a superset: high IoU
        cases.append((pred, gt, gt_no_target, pred_no_target))
    return cases


def _samples(cases):
    return [
        dict(
            pred_sem_seg=dict(data=torch.from_numpy(pred)[None].long()),
            gt_sem_seg=dict(data=torch.from_numpy(gt)[None].to(torch.uint8)),
            no_target=gt_no_target,
            pred_no_target=pred_no_target,
            sent_id=i)
        for i, (pred, gt, gt_no_target, pred_no_target) in enumerate(cases)
    ]


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_one_process_matches_rela(seed):
    cases = _random_cases(200, seed)
    expected, counts = rela_restated(cases)
    assert min(counts.values()) >= 10, counts
    metric = GReferMetric()
    # batches of 8, as a dataloader would hand them over
    samples = _samples(cases)
    for start in range(0, len(samples), 8):
        metric.process({}, samples[start:start + 8])
    metrics = metric.compute_metrics(metric.results)
    assert list(metrics) == list(expected)
    assert metrics == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_two_processes_match_rela():
    """201 sentences over two ranks, as mmengine's DefaultSampler (no
    shuffle) deals them: rank r gets r, r + 2, ..., rank 1 padded with
    sentence 0. The 'cpu' collection interleaves the ranks' results and
    drops the padding; the merged list must score as ReLA on all 201."""
    cases = _random_cases(201, seed=3)
    samples = _samples(cases)
    world = 2
    padded = list(range(len(samples))) + [0] * (-len(samples) % world)
    ranks = []
    for rank in range(world):
        metric = GReferMetric()
        indices = padded[rank::world]
        for start in range(0, len(indices), 4):
            metric.process(
                {}, [samples[i] for i in indices[start:start + 4]])
        ranks.append(metric.results)
    merged = [result for group in zip(*ranks) for result in group]
    merged = merged[:len(samples)]
    expected, _ = rela_restated(cases)
    metrics = GReferMetric().compute_metrics(merged)
    assert metrics == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # the same results, in dataset order, as one process keeps them
    single = GReferMetric()
    single.process({}, samples)
    assert merged == single.results
    # keeping the padding sentence would count sentence 0 twice
    with_padding = GReferMetric().compute_metrics(
        [result for group in zip(*ranks) for result in group])
    assert with_padding != pytest.approx(expected, rel=1e-12, abs=1e-12)
