"""The CRIS converter puts every reference tensor where its role is.

Two checks, both independent of the converter's own rules:

1. A name table written here from the reference's module tree (see
   ``shared/specs/cris.md``): every source tensor holds values no other
   tensor holds, so a swap of any two same-shaped tensors (``norm1`` and
   ``norm2``, ``f4_proj3`` and ``f4_proj4``) lands a tensor under the wrong
   name and is caught.
2. The reference's neck and decoder re-stated with torch primitives on the
   reference-layout weights give the outputs of mmrefseg's modules loaded
   with the converted weights: a name that the table and the module agree on
   but that plays another role in the forward pass is caught too.
"""
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from mmrefseg.registry import MODELS
from mmrefseg.utils.checkpoint_conversion import cris
from tests.helpers import (reference_decoder, reference_pos1d,
                           reference_pos2d, tiny_clip_state_dict)

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
NUM_LAYERS, NUM_HEADS, WORD_LEN, REFERENCE_CONTEXT = 2, 2, 8, 20
BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')

TINY_CRIS = f"""
_base_ = {osp.join(REPO, 'configs', '_base_', 'models', 'cris_r50.py')!r}
model = dict(
    backbone=dict(layers=(1, 1, 1, 1), width=8, output_dim=64, heads=4,
                  image_size=64, pretrained=None),
    text_encoder=dict(context_length={WORD_LEN}, width=32, heads=2,
                      layers=1, embed_dim=64, pretrained=None),
    neck=dict(in_channels=(64, 128, 64), out_channels=(16, 32, 64),
              sentence_channels=64),
    decode_head=dict(in_channels=32, text_channels=64,
                     num_layers={NUM_LAYERS}, num_heads={NUM_HEADS},
                     feedforward_channels=64, proj_channels=16,
                     dropout=0.0))
"""


def _conv_bn_block(reference, target):
    """A reference ``Sequential(Conv2d, BN, ReLU)`` -> a ConvModule."""
    table = {f'{reference}.0.weight': f'{target}.conv.weight'}
    table.update({f'{reference}.1.{n}': f'{target}.bn.{n}' for n in BN})
    return table


def reference_to_mmrefseg_table():
    """Reference key (no ``module.``) -> mmrefseg key, for the parts that
    CRIS adds to CLIP, written out from the reference's module tree."""
    table = {'neck.txt_proj.0.weight': 'neck.txt_proj.0.weight'}
    table.update(
        {f'neck.txt_proj.1.{n}': f'neck.txt_proj.1.{n}'
         for n in BN})
    table.update(
        {f'neck.norm_layer.0.{n}': f'neck.norm_layer.0.{n}'
         for n in BN})
    for block in ('f1_v_proj', 'f2_v_proj', 'f2_cat', 'f3_v_proj', 'f3_cat',
                  'f4_proj5', 'f4_proj4', 'f4_proj3', 'aggr'):
        table.update(_conv_bn_block(f'neck.{block}', f'neck.{block}'))
    table.update(
        _conv_bn_block('neck.coordconv.0.conv1', 'neck.coordconv.0'))
    table.update(_conv_bn_block('neck.coordconv.1', 'neck.coordconv.1'))

    layer_params = [
        f'{norm}.{p}'
        for norm in ('self_attn_norm', 'cross_attn_norm', 'norm1', 'norm2',
                     'norm3', 'ffn.3') for p in ('weight', 'bias')
    ] + [
        f'{attn}.{p}' for attn in ('self_attn', 'multihead_attn')
        for p in ('in_proj_weight', 'in_proj_bias', 'out_proj.weight',
                  'out_proj.bias')
    ] + [f'ffn.{i}.{p}' for i in (0, 4) for p in ('weight', 'bias')]
    for i in range(NUM_LAYERS):
        table.update({
            f'decoder.layers.{i}.{name}':
            f'decode_head.decoder.layers.{i}.{name}'
            for name in layer_params
        })
    table.update({f'decoder.norm.{p}': f'decode_head.decoder.norm.{p}'
                  for p in ('weight', 'bias')})

    # proj.vis = (Upsample, conv block, Upsample, conv block, Conv2d)
    table.update(_conv_bn_block('proj.vis.1', 'decode_head.proj.vis.1'))
    table.update(_conv_bn_block('proj.vis.3', 'decode_head.proj.vis.3'))
    table.update({f'proj.{m}.{p}': f'decode_head.proj.{m}.{p}'
                  for m in ('vis.4', 'txt') for p in ('weight', 'bias')})

    # CRIS's new branch on CLIP's attention pool: Sequential(conv, BN)
    table.update(_conv_bn_block('backbone.visual.attnpool.connect',
                                'backbone.connect'))
    return table


CLIP_TEXT_PARTS = ('token_embedding.', 'positional_embedding', 'transformer.',
                   'ln_final.', 'text_projection')


def clip_target(name):
    """mmrefseg key of a CLIP key (OpenAI names, no ``backbone.``)."""
    if name.startswith('visual.'):
        return 'backbone.' + name
    if name.startswith(CLIP_TEXT_PARTS):
        return 'text_encoder.text.' + name
    assert name == 'logit_scale', name
    return None  # dropped: CRIS never reads it


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    from mmrefseg.utils import register_all_modules
    register_all_modules()
    path = tmp_path_factory.mktemp('configs') / 'tiny_cris_mapping.py'
    path.write_text(TINY_CRIS)
    return MODELS.build(Config.fromfile(str(path)).model).eval()


@pytest.fixture(scope='module')
def source(model):
    """(reference state dict, reference key -> expected mmrefseg key).

    Every float tensor is drawn afresh (distinct values), every BN's
    running_var positive and every ``num_batches_tracked`` a distinct
    integer; shapes of the CRIS parts come from the model via the table.
    """
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    table = {}
    state = {}
    for name, value in tiny_clip_state_dict(
            context_length=REFERENCE_CONTEXT).items():
        state['backbone.' + name] = value
        table['backbone.' + name] = clip_target(name)
    for reference, target in reference_to_mmrefseg_table().items():
        state[reference] = torch.empty(shapes[target])
        table[reference] = target
    for index, (key, value) in enumerate(sorted(state.items())):
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(index + 1)
        elif key.endswith('running_var'):
            state[key] = 0.5 + torch.rand(value.shape, generator=generator)
        else:
            fan_in = value[0].numel() if value.dim() > 1 else value.numel()
            state[key] = torch.randn(
                value.shape, generator=generator) / math.sqrt(fan_in)
    return state, table


def test_table_covers_the_model(model, source):
    """The written table is complete: one source for every model key."""
    _, table = source
    targets = [t for t in table.values() if t is not None]
    assert len(targets) == len(set(targets))
    assert set(targets) == set(model.state_dict())


def test_every_tensor_lands_under_its_reference_role(model, source):
    state, table = source
    # Distinct values: no two same-shaped source tensors are equal.
    by_shape = {}
    for key, value in state.items():
        for other in by_shape.setdefault(tuple(value.shape), []):
            assert not value.equal(state[other]), (key, other)
        by_shape[tuple(value.shape)].append(key)

    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    converted, report = cris.convert_state_dict(
        {'module.' + k: v
         for k, v in state.items()}, shapes)
    assert report.complete, report.lines()
    misplaced = []
    for reference, target in table.items():
        if target is None:
            assert target not in converted
            continue
        expected = state[reference]
        if target.endswith('positional_embedding'):
            expected = expected[:WORD_LEN]  # CRIS reads word_len positions
        if not converted[target].equal(expected):
            misplaced.append(f'{reference} -> {target}')
    assert not misplaced, misplaced


def _conv_bn_relu(x, params, name, padding=0):
    x = F.conv2d(x, params[f'{name}.0.weight'], padding=padding)
    x = F.batch_norm(x, params[f'{name}.1.running_mean'],
                     params[f'{name}.1.running_var'],
                     params[f'{name}.1.weight'], params[f'{name}.1.bias'])
    return F.relu(x)


def _bn_relu(x, params, name):
    return F.relu(
        F.batch_norm(x, params[f'{name}.running_mean'],
                     params[f'{name}.running_var'], params[f'{name}.weight'],
                     params[f'{name}.bias']))


def reference_neck(p, c3, c4, c5, sentence):
    """The CRIS reference neck (eval) on reference-layout weights."""

    def up2(x):
        return F.interpolate(x, scale_factor=2, mode='bilinear')

    state = _bn_relu(sentence @ p['txt_proj.0.weight'].t(), p, 'txt_proj.1')
    f5 = _conv_bn_relu(c5, p, 'f1_v_proj')
    f5 = _bn_relu(f5 * state[:, :, None, None], p, 'norm_layer.0')
    f4 = _conv_bn_relu(c4, p, 'f2_v_proj', 1)
    f4 = _conv_bn_relu(torch.cat([f4, up2(f5)], 1), p, 'f2_cat')
    f3 = F.avg_pool2d(_conv_bn_relu(c3, p, 'f3_v_proj', 1), 2, 2)
    f3 = _conv_bn_relu(torch.cat([f3, f4], 1), p, 'f3_cat')
    fq = torch.cat([
        _conv_bn_relu(f3, p, 'f4_proj3', 1),
        _conv_bn_relu(f4, p, 'f4_proj4', 1),
        up2(_conv_bn_relu(f5, p, 'f4_proj5', 1))
    ], 1)
    fq = _conv_bn_relu(fq, p, 'aggr')
    batch, _, height, width = fq.shape
    ys, xs = torch.meshgrid(
        torch.linspace(-1, 1, height), torch.linspace(-1, 1, width),
        indexing='ij')
    coords = torch.stack([xs, ys]).expand(batch, -1, -1, -1)
    fq = _conv_bn_relu(torch.cat([fq, coords], 1), p, 'coordconv.0.conv1', 1)
    return _conv_bn_relu(fq, p, 'coordconv.1', 1)


def _part(state, prefix):
    return {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix)}


@pytest.fixture(scope='module')
def converted_model(model, source):
    state, _ = source
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    converted, report = cris.convert_state_dict(state, shapes)
    assert report.complete, report.lines()
    model.load_state_dict(converted, strict=True)
    return model


def test_converted_neck_computes_the_reference_neck(converted_model, source):
    state, _ = source
    generator = torch.Generator().manual_seed(1)
    c3, c4, c5 = (torch.randn(2, c, s, s, generator=generator)
                  for c, s in ((64, 8), (128, 4), (64, 2)))
    sentence = torch.randn(2, 64, generator=generator)
    with torch.no_grad():
        ours = converted_model.neck((c3, c4, c5), sentence)
    expected = reference_neck(_part(state, 'neck.'), c3, c4, c5, sentence)
    assert expected.std() > 0.1  # not a degenerate map
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)


def test_converted_decoder_computes_the_reference_decoder(
        converted_model, source):
    state, _ = source
    generator = torch.Generator().manual_seed(2)
    height, width, channels = 3, 4, 32
    pixels = torch.randn(2, height * width, channels, generator=generator)
    words = torch.randn(2, WORD_LEN, channels, generator=generator)
    pad_mask = torch.zeros(2, WORD_LEN, dtype=torch.bool)
    pad_mask[0, 5:] = True
    pixel_pos = reference_pos2d(channels, height, width)
    word_pos = reference_pos1d(channels, WORD_LEN)
    with torch.no_grad():
        ours = converted_model.decode_head.decoder(
            pixels, words, pixel_pos, word_pos, pad_mask)
    expected = reference_decoder(
        _part(state, 'decoder.'), NUM_LAYERS, NUM_HEADS, pixels, words,
        pixel_pos, word_pos, pad_mask)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)
