"""configs/gres/lavt_swinb_grefcoco.py: LAVT's RefCOCO recipe, gRefCOCO's
data and metric, and the no-target branch; nothing else changes."""
import os.path as osp

import torch
from mmengine.config import Config

from mmrefseg.evaluation.metrics import GReferMetric
from mmrefseg.registry import MODELS
from mmrefseg.utils import register_all_modules
from tests.helpers import flatten_config
from .conftest import REPO

GRES = 'configs/gres/lavt_swinb_grefcoco.py'
LAVT = 'configs/lavt/lavt_swinb_refcoco.py'
DATASET_KEYS = ('type', 'data_root', 'dataset', 'split_by', 'split',
                'data_prefix', 'test_mode')


def load(config):
    return Config.fromfile(osp.join(REPO, config))


def test_only_data_metric_and_branch_change():
    gres = flatten_config(load(GRES).to_dict())
    lavt = flatten_config(load(LAVT).to_dict())
    changed = {
        key
        for key in set(gres) | set(lavt) if gres.get(key) != lavt.get(key)
    }
    branch = 'model.decode_head.no_target_classifier.'
    assert {key for key in changed if not key.startswith(branch)} == {
        'dataset_type', 'default_hooks.checkpoint.save_best',
        *(f'{loader}_dataloader.dataset.{key}'
          for loader in ('train', 'val', 'test')
          for key in ('type', 'dataset')), 'val_evaluator.type',
        'test_evaluator.type'
    }
    # LAVT's pipelines, batch, schedule and 20 tokens are kept
    cfg = load(GRES)
    assert cfg.model.text_encoder.word_len == 20
    assert cfg.train_dataloader.batch_size == 8
    assert cfg.train_dataloader.drop_last is True


def test_data_and_metric_are_grefcoco_py():
    cfg = load(GRES)
    base = load('configs/_base_/datasets/grefcoco.py')
    for loader in ('train', 'val', 'test'):
        ours = cfg[f'{loader}_dataloader'].dataset
        theirs = base[f'{loader}_dataloader'].dataset
        for key in DATASET_KEYS:
            assert ours.get(key) == theirs.get(key), (loader, key)
    assert cfg.val_evaluator == base.val_evaluator
    assert cfg.test_evaluator == base.test_evaluator
    # the best checkpoint is kept by a key the metric reports
    metric = GReferMetric()
    metrics = metric.compute_metrics([(3, 4, False, False),
                                      (0, 0, True, True)])
    save_best = cfg.default_hooks.checkpoint.save_best
    assert save_best in metrics and cfg.default_hooks.checkpoint.rule == (
        'greater')


def test_head_has_the_branch_on_lavt_inputs():
    register_all_modules()
    cfg = load(GRES)
    head_cfg = cfg.model.decode_head
    classifier = head_cfg.no_target_classifier
    assert classifier.in_channels == head_cfg.channels
    # no sentence projection in LAVT's BERT: the pooled hidden states
    assert cfg.model.text_encoder.use_sentence is False
    assert cfg.model.text_encoder.word_dim is None
    assert classifier.sentence_channels == cfg.language_channels
    with torch.device('meta'):
        head = MODELS.build(head_cfg)
        plain = MODELS.build(load(LAVT).model.decode_head)
    keys, plain_keys = list(head.state_dict()), list(plain.state_dict())
    assert [k for k in keys if not k.startswith('no_target_classifier.')
            ] == plain_keys
    assert len(keys) > len(plain_keys)
