"""The dataset configs, end to end on generated data."""
import copy
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmrefseg.registry import DATASETS
from tests.helpers import make_refer_data

CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    '_base_', 'datasets')
META_KEYS = {
    'img_path', 'image_id', 'ref_id', 'sent_id', 'text', 'ori_shape',
    'img_shape', 'resized_shape', 'pad_offset', 'scale_factor', 'no_target'
}


@pytest.fixture(autouse=True)
def mmrefseg_scope():
    import mmrefseg.datasets  # noqa: F401
    init_default_scope('mmrefseg')


def _dataset_cfg(name, loader, data_root):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    dataset_cfg = copy.deepcopy(cfg[loader].dataset)
    dataset_cfg.data_root = data_root
    return dataset_cfg


@pytest.mark.parametrize('name', [
    'refcoco.py', 'refcoco+.py', 'refcocog_umd.py', 'refcocog_google.py',
    'refer_toy.py'
])
def test_configs_build(name, refer_root):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    assert cfg.val_evaluator.type == 'ReferMetric'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].collate_fn.type == 'pseudo_collate'
        dataset_cfg = _dataset_cfg(name, loader, refer_root)
        assert dataset_cfg.get('test_mode', False) == (
            loader != 'train_dataloader')
        dataset = DATASETS.build(dataset_cfg)
        assert len(dataset) > 0
        packed = dataset[0]
        scale = [
            t for t in dataset_cfg.pipeline if t.type == 'LetterboxResize'
        ][0].scale
        assert packed['inputs'].shape == (3, scale[1], scale[0])
        assert set(packed['data_samples'].metainfo) == META_KEYS


def test_train_and_val_samples(refer_root):
    train = DATASETS.build(
        _dataset_cfg('refer_toy.py', 'train_dataloader', refer_root))
    sample = train[0]
    inputs, data_sample = sample['inputs'], sample['data_samples']
    assert inputs.shape == (3, 128, 128) and inputs.dtype == torch.uint8
    gt = data_sample.gt_sem_seg.data
    assert gt.shape == (1, 128, 128) and gt.dtype == torch.float32
    assert 0 <= gt.min() and gt.max() <= 1 and gt.max() > 0.99
    meta = data_sample.metainfo
    assert meta['text'] in [
        s['sent'] for s in train.get_data_info(0)['sentences']
    ]

    val = DATASETS.build(
        _dataset_cfg('refer_toy.py', 'val_dataloader', refer_root))
    for index in range(len(val)):
        sample = val[index]['data_samples']
        info = val.get_data_info(index)
        gt = sample.gt_sem_seg.data
        assert gt.dtype == torch.uint8
        assert tuple(gt.shape[1:]) == sample.ori_shape == (info['height'],
                                                           info['width'])
        assert sample.text == info['text']
        assert sample.sent_id == info['sent_id']


def test_dataloader_batches(refer_root):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'refer_toy.py'))
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.dataset.data_root = refer_root
    loader_cfg.update(num_workers=0, persistent_workers=False, batch_size=3)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    batch = next(iter(loader))
    assert len(batch['inputs']) == 3 and len(batch['data_samples']) == 3
    assert all(x.shape == (3, 128, 128) for x in batch['inputs'])


def _copy_of_data(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    cfg = _dataset_cfg('refer_toy.py', 'val_dataloader', root)
    dataset = DATASETS.build(cfg)
    return dataset, dataset.get_data_info(0)['img_path']


def test_missing_image_names_its_path(tmp_path):
    dataset, img_path = _copy_of_data(tmp_path)
    os.remove(img_path)
    with pytest.raises(FileNotFoundError, match=re.escape(img_path)):
        dataset[0]


@pytest.mark.parametrize('content', [b'', b'this is no jpeg'])
def test_unreadable_image_names_its_path(tmp_path, content):
    dataset, img_path = _copy_of_data(tmp_path)
    with open(img_path, 'wb') as f:
        f.write(content)
    with pytest.raises(OSError, match=re.escape(img_path)):
        dataset[0]


def test_train_sentence_drawn_per_fetch(refer_root):
    train = DATASETS.build(
        _dataset_cfg('refer_toy.py', 'train_dataloader', refer_root))
    index = max(
        range(len(train)),
        key=lambda i: len(train.get_data_info(i)['sentences']))
    np.random.seed(0)
    texts = {train[index]['data_samples'].text for _ in range(30)}
    assert texts == {
        s['sent']
        for s in train.get_data_info(index)['sentences']
    }
