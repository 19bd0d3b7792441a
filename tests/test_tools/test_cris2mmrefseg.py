import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mmrefseg.registry import MODELS
from mmrefseg.utils import register_all_modules
from tests.helpers import tiny_clip_state_dict

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_converter():
    path = osp.join(REPO, 'tools', 'model_converters', 'cris2mmrefseg.py')
    spec = importlib.util.spec_from_file_location('cris2mmrefseg', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


converter = _load_converter()

# The reference CRIS's own names for its neck, decoder (one layer, repeated)
# and projector, as CRIS.pytorch saves them.
_BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
_CONV_BN = ['0.weight'] + [f'1.{n}' for n in _BN]
REFERENCE_NECK = (
    ['neck.txt_proj.0.weight'] + [f'neck.txt_proj.1.{n}' for n in _BN] +
    [f'neck.norm_layer.0.{n}' for n in _BN] + [
        f'neck.{block}.{name}'
        for block in ('f1_v_proj', 'f2_v_proj', 'f2_cat', 'f3_v_proj',
                      'f3_cat', 'f4_proj5', 'f4_proj4', 'f4_proj3', 'aggr',
                      'coordconv.0.conv1', 'coordconv.1') for name in _CONV_BN
    ])
REFERENCE_DECODER_LAYER = [
    f'{norm}.{p}' for norm in ('self_attn_norm', 'cross_attn_norm', 'norm1',
                               'norm2', 'norm3') for p in ('weight', 'bias')
] + [
    f'{attn}.{p}' for attn in ('self_attn', 'multihead_attn')
    for p in ('in_proj_weight', 'in_proj_bias', 'out_proj.weight',
              'out_proj.bias')
] + [f'ffn.{i}.{p}' for i in (0, 3, 4) for p in ('weight', 'bias')]
REFERENCE_PROJ = [f'proj.vis.{i}.{name}' for i in (1, 3)
                  for name in _CONV_BN] + [
                      'proj.vis.4.weight', 'proj.vis.4.bias',
                      'proj.txt.weight', 'proj.txt.bias'
                  ]
NUM_DECODER_LAYERS = 2
WORD_LEN = 8

TINY_CRIS_CONFIG = f"""
_base_ = {osp.join(REPO, 'configs', '_base_', 'models', 'cris_r50.py')!r}
model = dict(
    backbone=dict(layers=(1, 1, 1, 1), width=8, output_dim=64, heads=4,
                  image_size=64, pretrained=None),
    text_encoder=dict(context_length={WORD_LEN}, width=32, heads=2,
                      layers=1, embed_dim=64, pretrained=None),
    neck=dict(in_channels=(64, 128, 64), out_channels=(16, 32, 64),
              sentence_channels=64),
    decode_head=dict(in_channels=32, text_channels=64,
                     num_layers={NUM_DECODER_LAYERS}, num_heads=2,
                     feedforward_channels=64, proj_channels=16))
"""


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp('configs') / 'tiny_cris.py'
    path.write_text(TINY_CRIS_CONFIG)
    register_all_modules()
    return str(path)


@pytest.fixture(scope='module')
def model_shapes(tiny_config):
    return converter.model_shapes_from_config(tiny_config)


def reference_checkpoint(model_shapes):
    """A CRIS.pytorch checkpoint for the tiny model: CLIP (77 -> 20
    positions, logit_scale) under ``backbone.``, the new ``connect`` branch
    and the reference's neck / decoder / projector names, all with
    ``module.``. Shapes of the non-CLIP parts come from the model."""
    state = {
        'backbone.' + k: v
        for k, v in tiny_clip_state_dict(context_length=20).items()
    }
    head_names = REFERENCE_NECK + REFERENCE_PROJ + [
        f'decoder.layers.{i}.{name}' for i in range(NUM_DECODER_LAYERS)
        for name in REFERENCE_DECODER_LAYER
    ] + ['decoder.norm.weight', 'decoder.norm.bias']
    head_names += ['backbone.visual.attnpool.connect.0.weight'] + [
        f'backbone.visual.attnpool.connect.1.{n}' for n in _BN
    ]
    for name in head_names:
        target = converter.map_reference_key(name)
        assert target in model_shapes, f'{name} -> {target}'
        state[name] = torch.randn(model_shapes[target])
    # train.py also saves the optimizer and scheduler (a Counter inside)
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.Adam([param], lr=1e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [35], 0.1)
    return {
        'epoch': 50,
        'cur_iou': 0.69,
        'best_iou': 0.7,
        'prec': {'Pr@50': 0.8},
        'state_dict': {'module.' + k: v
                       for k, v in state.items()},
        'optimizer': optimizer.state_dict(),
        'scheduler': scheduler.state_dict(),
    }


def test_every_key_consumed_and_filled(model_shapes):
    source = reference_checkpoint(model_shapes)['state_dict']
    converted, report = converter.convert_state_dict(source, model_shapes)
    assert report.complete, report.lines()
    assert report.dropped == ['backbone.logit_scale']
    assert list(converted) == list(model_shapes)
    pairs = {
        'backbone.visual.attnpool.connect.1.running_mean':
        'backbone.connect.bn.running_mean',
        'backbone.visual.layer4.0.downsample.0.weight':
        'backbone.visual.layer4.0.downsample.0.weight',
        'backbone.transformer.resblocks.0.attn.in_proj_weight':
        'text_encoder.text.transformer.resblocks.0.attn.in_proj_weight',
        'backbone.text_projection': 'text_encoder.text.text_projection',
        'neck.coordconv.0.conv1.1.running_var':
        'neck.coordconv.0.bn.running_var',
        'neck.txt_proj.0.weight': 'neck.txt_proj.0.weight',
        'decoder.layers.1.ffn.3.weight':
        'decode_head.decoder.layers.1.ffn.3.weight',
        'proj.vis.3.0.weight': 'decode_head.proj.vis.3.conv.weight',
        'proj.txt.bias': 'decode_head.proj.txt.bias',
    }
    for src, dst in pairs.items():
        assert converted[dst].equal(source['module.' + src]), src
    positions = source['module.backbone.positional_embedding']
    assert positions.shape[0] == 20
    assert converted['text_encoder.text.positional_embedding'].equal(
        positions[:WORD_LEN])


def test_missing_extra_and_mismatched_keys_are_named(model_shapes):
    source = reference_checkpoint(model_shapes)['state_dict']
    del source['module.neck.f2_cat.1.running_var']
    source['module.neck.extra.weight'] = torch.zeros(3)
    source['module.head.something'] = torch.zeros(3)
    source['module.proj.txt.bias'] = torch.zeros(5)
    _, report = converter.convert_state_dict(source, model_shapes)
    assert not report.complete
    assert report.not_consumed == [
        'neck.extra.weight (-> neck.extra.weight)', 'head.something'
    ]
    assert 'neck.f2_cat.bn.running_var' in report.not_filled
    assert report.mismatched == [
        'proj.txt.bias (5,) -> decode_head.proj.txt.bias '
        f'({model_shapes["decode_head.proj.txt.bias"][0]},)'
    ]
    text = '\n'.join(report.lines())
    assert 'neck.extra.weight' in text and 'head.something' in text


def test_cli_writes_loadable_mmengine_checkpoint(tmp_path, tiny_config,
                                                  model_shapes):
    src, dst = tmp_path / 'best_model.pth', tmp_path / 'out' / 'cris.pth'
    checkpoint = reference_checkpoint(model_shapes)
    torch.save(checkpoint, src)
    assert converter.main([str(src), str(dst), '--config', tiny_config]) == 0
    saved = torch.load(dst, weights_only=True)
    assert set(saved) == {'meta', 'state_dict'}
    assert saved['meta']['converted_from'] == 'best_model.pth'
    assert saved['meta']['reference_epoch'] == 50
    model = MODELS.build(Config.fromfile(tiny_config).model)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    torch.testing.assert_close(
        model.decode_head.proj.vis[1].bn.running_mean,
        checkpoint['state_dict']['module.proj.vis.1.1.running_mean'])
    # an existing file is kept unless --force
    with pytest.raises(FileExistsError, match='--force'):
        converter.main([str(src), str(dst), '--config', tiny_config])
    assert converter.main(
        [str(src), str(dst), '--config', tiny_config, '--force']) == 0


def test_cli_writes_nothing_when_incomplete(tmp_path, tiny_config,
                                            model_shapes, capsys):
    checkpoint = reference_checkpoint(model_shapes)
    del checkpoint['state_dict']['module.decoder.norm.bias']
    src, dst = tmp_path / 'partial.pth', tmp_path / 'cris.pth'
    torch.save(checkpoint, src)
    assert converter.main([str(src), str(dst), '--config', tiny_config]) == 1
    assert not dst.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary file left
    captured = capsys.readouterr()
    assert 'decode_head.decoder.norm.bias' in captured.out
    assert 'NOT written' in captured.err


def test_unreadable_source_is_named(tmp_path, tiny_config):
    bad = tmp_path / 'notes.pth'
    bad.write_text('not a checkpoint')
    with pytest.raises(ValueError, match='notes.pth'):
        converter.main([str(bad), str(tmp_path / 'x.pth'), '--config',
                        tiny_config])
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        converter.main([str(tmp_path / 'missing.pth'),
                        str(tmp_path / 'x.pth'), '--config', tiny_config])
