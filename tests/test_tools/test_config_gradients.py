"""Every shipped config's model, at tiny widths, gives every trainable
parameter a gradient: DDP (``find_unused_parameters=False``, the default)
stops at the second iteration of a model that builds a parameter its loss
does not reach."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.registry import MODELS
from tests.helpers import tiny_model_cfg, write_tiny_bert_vocab
from .conftest import REPO

CONFIG_FOLDERS = ('cris', 'eavl', 'eavl/ablations', 'gres', 'lavt', 'toy')
MODEL_CONFIGS = sorted(
    osp.relpath(path, REPO) for folder in CONFIG_FOLDERS
    for path in glob.glob(osp.join(REPO, 'configs', folder, '*.py')))
IMG_SIZE = 64


@pytest.fixture(scope='module')
def vocab_file(tmp_path_factory):
    return write_tiny_bert_vocab(
        tmp_path_factory.mktemp('bert') / 'vocab.txt')


def training_batch(texts, size):
    samples = []
    for i, text in enumerate(texts):
        mask = torch.zeros(1, size, size)
        mask[:, size // 4:size // 2, i * 8:i * 8 + size // 2] = 1
        sample = SegDataSample(
            metainfo=dict(
                text=text,
                img_shape=(size, size),
                ori_shape=(size, size),
                resized_shape=(size, size),
                pad_offset=(0, 0),
                scale_factor=(1.0, 1.0)))
        sample.gt_sem_seg = PixelData(data=mask)
        samples.append(sample)
    return torch.randn(len(texts), 3, size, size), samples


def test_all_config_folders_are_covered():
    shipped = {
        osp.relpath(osp.dirname(path), REPO)
        for path in glob.glob(
            osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
        if '_base_' not in path
    }
    assert {osp.dirname(c) for c in MODEL_CONFIGS} == shipped
    assert len(MODEL_CONFIGS) >= 50


# parameters without a gradient, per tiny model config already run: configs
# that differ only in their data (RefCOCO / RefCOCO+) build the same model
_RESULTS = {}


def params_without_gradient(model_cfg: dict, size: int) -> list:
    key = (json.dumps(model_cfg, sort_keys=True, default=str), size)
    if key not in _RESULTS:
        _RESULTS[key] = _backward_once(model_cfg, size)
    return _RESULTS[key]


def _backward_once(model_cfg: dict, size: int) -> list:
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.train()
    inputs, samples = training_batch(
        ['the man on the left', 'a small red dog'], size)
    loss, _ = model.parse_losses(model.loss(inputs, samples))
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters()
                 if p.requires_grad]
    assert trainable
    return [n for n, p in trainable if p.grad is None]


@pytest.mark.parametrize('config', MODEL_CONFIGS)
def test_every_parameter_gets_a_gradient(config, vocab_file):
    cfg = Config.fromfile(osp.join(REPO, config))
    assert not cfg.get('find_unused_parameters', False), (
        f'{config} sets find_unused_parameters: build only what trains')
    if '_tiny_' in osp.basename(config):
        # already tiny, and tied to its input size
        model_cfg, size = cfg.model, cfg.img_scale[0]
    else:
        model_cfg, size = tiny_model_cfg(cfg.model, vocab_file), IMG_SIZE
    missing = params_without_gradient(model_cfg, size)
    assert not missing, f'{config}: no gradient for {missing}'
