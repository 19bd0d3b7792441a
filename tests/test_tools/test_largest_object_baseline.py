"""tools/analysis_tools/largest_object_baseline.py on generated data."""
import importlib.util
import json
import os.path as osp
import pickle

import pytest

from tests.helpers import make_refer_data
from .conftest import REPO


@pytest.fixture(scope='module')
def baseline_tool():
    path = osp.join(REPO, 'tools', 'analysis_tools',
                    'largest_object_baseline.py')
    spec = importlib.util.spec_from_file_location('largest_baseline', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scores_the_sentences_that_name_the_largest_object(
        baseline_tool, tmp_path):
    data_root = make_refer_data(tmp_path, num_images=12)
    metrics = baseline_tool.evaluate_baseline(
        dict(
            type='ReferDataset',
            data_root=data_root,
            dataset='refcoco',
            split_by='unc',
            split='train'))

    # Oracle from the annotation files alone: the generated shapes do not
    # overlap, so a sentence scores IoU 1 when its object has the largest
    # `area` of its image, else 0.
    with open(osp.join(data_root, 'refcoco', 'instances.json')) as f:
        anns = json.load(f)['annotations']
    largest = {}
    for ann in anns:
        best = largest.get(ann['image_id'])
        if best is None or ann['area'] > best['area']:
            largest[ann['image_id']] = ann
    with open(osp.join(data_root, 'refcoco', 'refs(unc).p'), 'rb') as f:
        refs = [r for r in pickle.load(f) if r['split'] == 'train']
    hits = [
        largest[r['image_id']]['id'] == r['ann_id'] for r in refs
        for _ in r['sentences']
    ]
    assert 0 < sum(hits) < len(hits)
    assert metrics['mIoU'] == pytest.approx(100 * sum(hits) / len(hits))
    assert metrics['Pr@0.5'] == pytest.approx(metrics['mIoU'])


def test_command_line(baseline_tool, tmp_path, capsys):
    data_root = make_refer_data(tmp_path, num_images=8)
    config = osp.join(REPO, 'configs', '_base_', 'datasets', 'refer_toy.py')
    metrics = baseline_tool.main([
        config, '--split', 'val', '--cfg-options',
        f'test_dataloader.dataset.data_root={data_root}'
    ])
    assert set(metrics) >= {'mIoU', 'oIoU', 'Pr@0.5'}
    assert 'largest-object baseline on refcoco val: oIoU' in \
        capsys.readouterr().out
