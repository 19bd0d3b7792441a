"""ReferMetric: oIoU, mIoU and Pr@X on hand-counted masks."""
import json

import pytest
import torch
import torch.multiprocessing as mp
from mmengine.dataset import DefaultSampler
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.evaluation import ReferMetric
from mmrefseg.registry import METRICS

PR_KEYS = ['Pr@0.5', 'Pr@0.6', 'Pr@0.7', 'Pr@0.8', 'Pr@0.9']


def _mask(height, width, rows=slice(0, 0), cols=slice(0, 0), dtype=None):
    """(1, height, width) mask, 1 inside ``[rows, cols]``."""
    mask = torch.zeros(1, height, width, dtype=dtype or torch.uint8)
    mask[0, rows, cols] = 1
    return mask


def _sample(pred, gt, sent_id=0, img_path='COCO_train2014_0.jpg'):
    """A model output as mmengine's Evaluator hands it to a metric."""
    sample = SegDataSample(
        metainfo=dict(
            img_path=img_path,
            sent_id=sent_id,
            ori_shape=tuple(gt.shape[-2:])))
    sample.pred_sem_seg = PixelData(data=pred.long())
    sample.gt_sem_seg = PixelData(data=gt)
    return sample.to_dict()


def _evaluate(samples, **kwargs):
    metric = ReferMetric(**kwargs)
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_perfect_prediction():
    gt = _mask(5, 7, slice(1, 4), slice(2, 6))
    metrics = _evaluate([_sample(gt.clone(), gt)])
    assert list(metrics) == ['oIoU', 'mIoU'] + PR_KEYS
    for value in metrics.values():
        assert value == pytest.approx(100.0)


def test_disjoint_prediction():
    gt = _mask(5, 7, slice(0, 2), slice(0, 3))
    pred = _mask(5, 7, slice(3, 5), slice(4, 7))
    metrics = _evaluate([_sample(pred, gt)])
    for value in metrics.values():
        assert value == 0.0


def test_partial_overlap_counts_pixels():
    # gt: rows 0-3 x cols 0-2 (12 px); pred: rows 0-3 x cols 1-4 (16 px).
    # I = rows 0-3 x cols 1-2 = 8 px; U = rows 0-3 x cols 0-4 = 20 px.
    gt = _mask(4, 6, slice(0, 4), slice(0, 3))
    pred = _mask(4, 6, slice(0, 4), slice(1, 5))
    metric = ReferMetric()
    metric.process({}, [_sample(pred, gt, sent_id=42)])
    assert metric.results == [(8, 20, 42)]
    metrics = metric.compute_metrics(metric.results)
    assert metrics['oIoU'] == pytest.approx(40.0)
    assert metrics['mIoU'] == pytest.approx(40.0)
    assert all(metrics[key] == 0.0 for key in PR_KEYS)


def test_empty_prediction_with_target_scores_zero():
    gt = _mask(4, 4, slice(0, 2), slice(0, 2))
    pred = _mask(4, 4)
    for empty_union_iou in (0.0, 1.0):
        metrics = _evaluate([_sample(pred, gt)],
                            empty_union_iou=empty_union_iou)
        assert metrics['mIoU'] == 0.0 and metrics['oIoU'] == 0.0


def test_empty_prediction_without_target_follows_convention():
    empty = _mask(4, 4)
    # Sentence 2: I = 3, U = 4.
    gt = _mask(4, 4, slice(0, 1), slice(0, 4))
    pred = _mask(4, 4, slice(0, 1), slice(0, 3))
    samples = [_sample(empty, empty, 1), _sample(pred, gt, 2)]

    lavt = _evaluate(samples)  # the empty union scores 0
    assert lavt['mIoU'] == pytest.approx(100 * (0 + 3 / 4) / 2)
    assert lavt['Pr@0.5'] == pytest.approx(50.0)
    grefcoco = _evaluate(samples, empty_union_iou=1.0)
    assert grefcoco['mIoU'] == pytest.approx(100 * (1 + 3 / 4) / 2)
    assert grefcoco['Pr@0.5'] == pytest.approx(100.0)
    # An empty union adds nothing to either sum of oIoU.
    assert lavt['oIoU'] == grefcoco['oIoU'] == pytest.approx(75.0)

    only_empty = [_sample(empty, empty)]
    assert _evaluate(only_empty)['oIoU'] == 0.0
    assert _evaluate(only_empty, empty_union_iou=1.0)['oIoU'] == 100.0


def test_prediction_without_target_scores_zero():
    gt = _mask(4, 4)
    pred = _mask(4, 4, slice(1, 3), slice(1, 3))
    metric = ReferMetric(empty_union_iou=1.0)
    metric.process({}, [_sample(pred, gt)])
    assert metric.results == [(0, 4, 0)]
    metrics = metric.compute_metrics(metric.results)
    assert metrics['mIoU'] == 0.0 and metrics['oIoU'] == 0.0


def test_threshold_at_exactly_half():
    # I = 2 x 2 = 4, U = 2 x 4 = 8: IoU exactly 0.5.
    gt = _mask(4, 4, slice(0, 2), slice(0, 4))
    pred = _mask(4, 4, slice(0, 2), slice(0, 2))
    inclusive = _evaluate([_sample(pred, gt)])
    strict = _evaluate([_sample(pred, gt)], strict_threshold=True)
    assert inclusive['Pr@0.5'] == 100.0
    assert strict['Pr@0.5'] == 0.0
    assert inclusive['Pr@0.6'] == strict['Pr@0.6'] == 0.0


def test_overall_and_mean_iou_differ():
    # Small object, exact: I = U = 1. Large object, half found: I = 10,
    # U = 20. mIoU = (1 + 0.5) / 2; oIoU = 11 / 21.
    small = _mask(6, 6, slice(0, 1), slice(0, 1))
    large = _mask(6, 6, slice(2, 6), slice(0, 5))
    half = _mask(6, 6, slice(2, 4), slice(0, 5))
    metrics = _evaluate([_sample(small, small, 1), _sample(half, large, 2)])
    assert metrics['mIoU'] == pytest.approx(75.0)
    assert metrics['oIoU'] == pytest.approx(100 * 11 / 21)
    assert metrics['Pr@0.5'] == pytest.approx(100.0)
    assert metrics['Pr@0.6'] == pytest.approx(50.0)


def test_custom_thresholds_and_key_names():
    gt = _mask(4, 5, slice(0, 4), slice(0, 5))  # 20 px
    pred = _mask(4, 5, slice(0, 3), slice(0, 5))  # 15 px inside: IoU 0.75
    metrics = _evaluate([_sample(pred, gt)], iou_thrs=(0.25, 0.75, 0.95))
    assert list(metrics) == ['oIoU', 'mIoU', 'Pr@0.25', 'Pr@0.75', 'Pr@0.95']
    assert [metrics['Pr@0.25'], metrics['Pr@0.75'], metrics['Pr@0.95']] == \
        [100.0, 100.0, 0.0]


def test_shape_mismatch_names_the_sample():
    gt = _mask(4, 6)
    pred = _mask(6, 4)
    metric = ReferMetric()
    with pytest.raises(ValueError, match=r"img_path='a/b\.jpg', sent_id=7"):
        metric.process({}, [_sample(pred, gt, 7, img_path='a/b.jpg')])


def test_missing_ground_truth_names_the_key():
    sample = _sample(_mask(4, 4), _mask(4, 4), 3, img_path='c.jpg')
    del sample['gt_sem_seg']
    with pytest.raises(KeyError, match=r'gt_sem_seg.*c\.jpg.*sent_id=3'):
        ReferMetric().process({}, [sample])


def test_invalid_arguments():
    with pytest.raises(ValueError, match='1.5'):
        ReferMetric(iou_thrs=(0.5, 1.5))
    with pytest.raises(ValueError, match='empty_union_iou'):
        ReferMetric(empty_union_iou=2)
    with pytest.raises(ValueError, match='no results'):
        ReferMetric().compute_metrics([])


def test_built_from_registry_through_evaluator():
    """SegDataSample objects through mmengine's Evaluator, a missing sent_id
    and a logged table."""
    evaluator = Evaluator(
        METRICS.build(dict(type='ReferMetric', prefix='refcoco_val')))
    gt = _mask(4, 4, slice(0, 2), slice(0, 4))
    pred = _mask(4, 4, slice(0, 2), slice(0, 2))
    samples = []
    for pred_mask in (pred, gt):  # IoU 0.5, then 1
        sample = SegDataSample(metainfo=dict(img_path='x.jpg'))
        sample.pred_sem_seg = PixelData(data=pred_mask.long())
        sample.gt_sem_seg = PixelData(data=gt)
        samples.append(sample)
    evaluator.process(samples)
    assert evaluator.metrics[0].results == [(4, 8, None), (8, 8, None)]
    metrics = evaluator.evaluate(size=2)
    assert metrics['refcoco_val/mIoU'] == pytest.approx(75.0)
    assert metrics['refcoco_val/oIoU'] == pytest.approx(100 * 12 / 16)


# --- Multi-process evaluation ------------------------------------------------
NUM_SENTENCES, WORLD_SIZE = 5, 2


def _sentence_sample(index):
    """Sentence ``index``: gt 8 px, prediction overlapping ``8 - index``."""
    gt = _mask(4, 4, slice(0, 2), slice(0, 4))
    pred = gt.clone().flatten()
    pred[:index] = 0
    return _sample(pred.view(1, 4, 4), gt, sent_id=1000 + index)


class _RecordingReferMetric(ReferMetric):
    """Keeps the results it was given after collection."""

    def compute_metrics(self, results):
        self.collected = list(results)
        return super().compute_metrics(results)


def _evaluate_on_rank(rank, init_file, collect_dir, out_file):
    torch.set_num_threads(1)  # a forked child must not reuse the OpenMP pool
    torch.distributed.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=WORLD_SIZE)
    try:
        sampler = DefaultSampler(range(NUM_SENTENCES), shuffle=False)
        metric = _RecordingReferMetric(collect_dir=collect_dir)
        indices = list(sampler)
        for start in range(0, len(indices), 2):  # batches of two
            metric.process(
                {}, [_sentence_sample(i) for i in indices[start:start + 2]])
        metrics = metric.evaluate(size=NUM_SENTENCES)
        if rank == 0:
            with open(out_file, 'w') as f:
                json.dump(
                    dict(
                        metrics=metrics,
                        collected=metric.collected,
                        rank_indices=indices), f)
    finally:
        torch.distributed.destroy_process_group()


def test_two_processes_count_every_sentence_once(tmp_path):
    """The sampler pads rank 1 with sentence 0 again; the collected results
    must hold each sentence once and equal a single-process evaluation."""
    out_file = tmp_path / 'rank0.json'
    # fork: spawned children would re-import mmseg and mmrefseg (~20 s on a
    # busy 2-core machine); forked ones start in well under a second.
    mp.start_processes(
        _evaluate_on_rank,
        args=(str(tmp_path / 'init'), str(tmp_path / 'collect'),
              str(out_file)),
        nprocs=WORLD_SIZE,
        start_method='fork')
    rank0 = json.loads(out_file.read_text())

    # Rank 0 saw sentences 0, 2, 4; rank 1 saw 1, 3 and the padding 0.
    assert rank0['rank_indices'] == [0, 2, 4]
    sent_ids = [sent_id for _, _, sent_id in rank0['collected']]
    assert sent_ids == [1000 + i for i in range(NUM_SENTENCES)]

    single = ReferMetric()
    single.process({}, [_sentence_sample(i) for i in range(NUM_SENTENCES)])
    expected = single.compute_metrics(single.results)
    assert rank0['metrics'] == pytest.approx(expected)
    padded = single.compute_metrics(single.results + single.results[:1])
    assert padded['mIoU'] != pytest.approx(expected['mIoU'])
