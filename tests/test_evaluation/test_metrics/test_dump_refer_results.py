"""DumpReferResults: one record per sentence with an RLE mask."""
import json

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from mmrefseg.evaluation.metrics import DumpReferResults


def sample(sent_id, pred, gt=None):
    record = dict(
        img_path='a.jpg', image_id=3, ref_id=4, sent_id=sent_id,
        text='the dog', pred_sem_seg=dict(data=pred[None]))
    if gt is not None:
        record['gt_sem_seg'] = dict(data=gt[None])
    return record


def test_records_decode_back_to_the_predictions(tmp_path):
    rng = np.random.default_rng(0)
    pred = torch.from_numpy(rng.random((9, 13)) > 0.5).long()
    gt = torch.from_numpy(rng.random((9, 13)) > 0.5).to(torch.uint8)
    out_file = str(tmp_path / 'records.json')
    metric = DumpReferResults(out_file=out_file)
    metric.process({}, [sample(1, pred, gt), sample(2, pred)])
    assert metric.compute_metrics(metric.results) == {}
    with open(out_file) as f:
        records = json.load(f)
    assert records == metric.records and len(records) == 2
    decoded = mask_utils.decode(
        dict(size=records[0]['pred_mask']['size'],
             counts=records[0]['pred_mask']['counts'].encode()))
    np.testing.assert_array_equal(decoded, pred.numpy())
    inter = (pred.bool() & gt.bool()).sum().item()
    union = (pred.bool() | gt.bool()).sum().item()
    assert records[0]['iou'] == pytest.approx(inter / union)
    assert records[1]['iou'] is None
    assert (records[0]['image_id'], records[0]['sent_id'],
            records[0]['text']) == (3, 1, 'the dog')


def test_unknown_suffix_is_refused():
    with pytest.raises(ValueError, match='results.txt'):
        DumpReferResults(out_file='results.txt')


def test_gres_records_keep_the_no_target_flags():
    empty = torch.zeros(5, 6, dtype=torch.long)
    blob = empty.clone()
    blob[1:3, 2:4] = 1
    samples = []
    for gt_none, pred_none, pred in ((True, True, empty),
                                     (True, False, blob),
                                     (False, True, empty),
                                     (False, False, blob)):
        record = sample(len(samples), pred, empty if gt_none else blob)
        record.update(no_target=gt_none, pred_no_target=pred_none)
        samples.append(record)
    metric = DumpReferResults()
    metric.process({}, samples)
    metric.compute_metrics(metric.results)
    flags = [(r['no_target'], r['pred_no_target']) for r in metric.records]
    assert flags == [(True, True), (True, False), (False, True),
                     (False, False)]
    # As GReferMetric: a no-target sentence left empty is right (IoU 1).
    assert [r['iou'] for r in metric.records] == [1.0, 0.0, 0.0, 1.0]
    # Plain refer samples get no flags.
    metric = DumpReferResults()
    metric.process({}, [sample(0, blob, blob)])
    assert 'no_target' not in metric.results[0]
