"""The CRIS.pytorch converter on a tiny re-statement of its checkpoint."""
import argparse

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mmrefseg.registry import MODELS
from mmrefseg.utils.checkpoint_conversion import cris
from tests.helpers import (CRIS_REFERENCE_CONTEXT,
                                                 CRIS_WORD_LEN,
                                                 cris_reference_checkpoint,
                                                 write_tiny_cris_config)


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    return write_tiny_cris_config(tmp_path_factory.mktemp('configs'))


@pytest.fixture(scope='module')
def model_shapes(tiny_config):
    return cris.model_shapes_from_config(tiny_config)


def reference_state(model_shapes):
    return cris_reference_checkpoint(model_shapes,
                                     cris.map_reference_key)['state_dict']


def test_model_shapes_are_tuples_in_model_order(tiny_config, model_shapes):
    model = MODELS.build(Config.fromfile(tiny_config).model)
    assert list(model_shapes) == list(model.state_dict())
    assert all(type(shape) is tuple for shape in model_shapes.values())
    assert model_shapes['text_encoder.text.positional_embedding'] == (
        CRIS_WORD_LEN, 32)


def test_every_key_consumed_and_filled(model_shapes):
    source = reference_state(model_shapes)
    converted, report = cris.convert_state_dict(source, model_shapes)
    assert report.complete, report.lines()
    assert report.dropped == ['backbone.logit_scale']
    assert list(converted) == list(model_shapes)
    pairs = {
        'backbone.visual.attnpool.connect.0.weight':
        'backbone.connect.conv.weight',
        'backbone.visual.attnpool.connect.1.running_mean':
        'backbone.connect.bn.running_mean',
        'backbone.visual.layer4.0.downsample.0.weight':
        'backbone.visual.layer4.0.downsample.0.weight',
        'backbone.token_embedding.weight':
        'text_encoder.text.token_embedding.weight',
        'backbone.transformer.resblocks.0.attn.in_proj_weight':
        'text_encoder.text.transformer.resblocks.0.attn.in_proj_weight',
        'backbone.ln_final.bias': 'text_encoder.text.ln_final.bias',
        'backbone.text_projection': 'text_encoder.text.text_projection',
        'neck.coordconv.0.conv1.1.running_var':
        'neck.coordconv.0.bn.running_var',
        'neck.f2_cat.0.weight': 'neck.f2_cat.conv.weight',
        'neck.txt_proj.0.weight': 'neck.txt_proj.0.weight',
        'decoder.layers.1.ffn.3.weight':
        'decode_head.decoder.layers.1.ffn.3.weight',
        'proj.vis.3.0.weight': 'decode_head.proj.vis.3.conv.weight',
        'proj.vis.1.1.running_mean': 'decode_head.proj.vis.1.bn.running_mean',
        'proj.txt.bias': 'decode_head.proj.txt.bias',
    }
    for src, dst in pairs.items():
        assert converted[dst].equal(source['module.' + src]), src
    positions = source['module.backbone.positional_embedding']
    assert positions.shape[0] == CRIS_REFERENCE_CONTEXT
    assert converted['text_encoder.text.positional_embedding'].equal(
        positions[:CRIS_WORD_LEN])
    assert report.lines() == [
        "dropped backbone.logit_scale: CLIP's contrastive temperature; "
        'CRIS never uses it',
        f'cut backbone.positional_embedding from {CRIS_REFERENCE_CONTEXT} '
        f'to {CRIS_WORD_LEN} positions (word_len; CRIS never reads the '
        'others)',
    ]


def test_keys_without_the_ddp_prefix_convert_alike(model_shapes):
    source = reference_state(model_shapes)
    bare = {k[len('module.'):]: v for k, v in source.items()}
    converted, report = cris.convert_state_dict(bare, model_shapes)
    assert report.complete, report.lines()
    assert converted['decode_head.proj.txt.bias'].equal(
        source['module.proj.txt.bias'])


@pytest.mark.parametrize('key, target', [
    ('backbone.visual.attnpool.connect.0.weight',
     'backbone.connect.conv.weight'),
    ('backbone.visual.attnpool.connect.1.num_batches_tracked',
     'backbone.connect.bn.num_batches_tracked'),
    ('backbone.visual.attnpool.connect.2.weight', None),
    # the index is the first component, whatever follows
    ('backbone.visual.attnpool.connect.0.conv.weight',
     'backbone.connect.conv.conv.weight'),
    ('backbone.visual.attnpool.c_proj.weight',
     'backbone.visual.attnpool.c_proj.weight'),
    ('backbone.positional_embedding',
     'text_encoder.text.positional_embedding'),
    ('backbone.logit_scale', None),
    ('backbone.something', None),
    ('neck.f4_proj3.1.bias', 'neck.f4_proj3.bn.bias'),
    ('neck.coordconv.1.0.weight', 'neck.coordconv.1.conv.weight'),
    ('neck.norm_layer.0.weight', 'neck.norm_layer.0.weight'),
    ('decoder.norm.weight', 'decode_head.decoder.norm.weight'),
    ('proj.vis.4.weight', 'decode_head.proj.vis.4.weight'),
    ('proj.vis.1.1.weight', 'decode_head.proj.vis.1.bn.weight'),
    ('head.something', None),
    ('visual.conv1.weight', None),
])
def test_map_reference_key(key, target):
    assert cris.map_reference_key(key) == target


def test_missing_extra_and_mismatched_keys_are_named(model_shapes):
    source = reference_state(model_shapes)
    del source['module.neck.f2_cat.1.running_var']
    source['module.neck.extra.weight'] = torch.zeros(3)
    source['module.head.something'] = torch.zeros(3)
    source['module.backbone.visual.attnpool.connect.2.weight'] = \
        torch.zeros(3)
    source['module.proj.txt.bias'] = torch.zeros(5)
    width = model_shapes['decode_head.proj.vis.4.bias'][0]
    # larger along the first dimension, like the positions, but no cut
    source['module.proj.vis.4.bias'] = torch.zeros(width + 3)
    _, report = cris.convert_state_dict(source, model_shapes)
    assert not report.complete
    assert report.not_consumed == [
        'neck.extra.weight (-> neck.extra.weight)', 'head.something',
        'backbone.visual.attnpool.connect.2.weight'
    ]
    assert report.not_filled == [
        key for key in model_shapes
        if key in ('neck.f2_cat.bn.running_var', 'decode_head.proj.vis.4.bias',
                   'decode_head.proj.txt.bias')
    ]
    assert len(report.not_filled) == 3
    txt = model_shapes['decode_head.proj.txt.bias'][0]
    assert report.mismatched == [
        f'proj.vis.4.bias ({width + 3},) -> decode_head.proj.vis.4.bias '
        f'({width},)',
        f'proj.txt.bias (5,) -> decode_head.proj.txt.bias ({txt},)',
    ]
    assert len(report.notes) == 1  # the positions' cut only
    lines = report.lines()
    assert 'shape mismatches (2):' in lines
    assert '  head.something' in lines


@pytest.mark.parametrize('positions, problem', [
    (CRIS_WORD_LEN, None),
    (CRIS_WORD_LEN - 2, f'({CRIS_WORD_LEN - 2}, 32) -> '),
])
def test_positions_are_cut_only_when_longer(model_shapes, positions,
                                            problem):
    source = reference_state(model_shapes)
    key = 'module.backbone.positional_embedding'
    source[key] = source[key][:positions]
    converted, report = cris.convert_state_dict(source, model_shapes)
    assert report.notes == []
    if problem is None:
        assert report.complete
        assert converted['text_encoder.text.positional_embedding'].equal(
            source[key])
    else:
        assert len(report.mismatched) == 1
        assert problem in report.mismatched[0]


def test_positions_of_another_width_are_not_cut(model_shapes):
    source = reference_state(model_shapes)
    key = 'module.backbone.positional_embedding'
    source[key] = torch.zeros(CRIS_REFERENCE_CONTEXT, 16)
    _, report = cris.convert_state_dict(source, model_shapes)
    assert report.notes == []
    assert report.mismatched == [
        f'backbone.positional_embedding ({CRIS_REFERENCE_CONTEXT}, 16) -> '
        f'text_encoder.text.positional_embedding ({CRIS_WORD_LEN}, 32)'
    ]


def test_load_reference_checkpoint(tmp_path, model_shapes):
    checkpoint = cris_reference_checkpoint(model_shapes,
                                           cris.map_reference_key)
    checkpoint['cur_iou'] = torch.tensor(0.5)  # not a number: left out
    path = tmp_path / 'best_model.pth'
    torch.save(checkpoint, path)
    state_dict, record = cris.load_reference_checkpoint(str(path))
    assert record == dict(reference_epoch=50, reference_best_iou=0.7)
    assert set(state_dict) == set(checkpoint['state_dict'])
    # a bare state dict
    torch.save({'a': torch.ones(1)}, path)
    state_dict, record = cris.load_reference_checkpoint(str(path))
    assert list(state_dict) == ['a'] and record == {}
    torch.save({'epoch': 3, 'cur_iou': 0.25, 'state_dict': {}}, path)
    assert cris.load_reference_checkpoint(str(path)) == ({}, dict(
        reference_epoch=3, reference_cur_iou=0.25))


@pytest.mark.parametrize('content', [
    [torch.ones(1)],
    {'state_dict': {'a': torch.ones(1), 'b': 2}},
    {'state_dict': [torch.ones(1)]},
    {'a': torch.ones(1), 'epoch': 3},
])
def test_load_reference_checkpoint_wants_a_state_dict_of_tensors(
        tmp_path, content):
    path = tmp_path / 'odd.pth'
    torch.save(content, path)
    with pytest.raises(ValueError,
                       match=r"^'.*odd\.pth' holds no state dict of tensors "
                       r"\(looked under 'state_dict' and at the top level\)$"):
        cris.load_reference_checkpoint(str(path))


def test_load_reference_checkpoint_runs_no_code(tmp_path):
    path = tmp_path / 'args.pth'
    torch.save({'state_dict': {}, 'args': argparse.Namespace()}, path)
    with pytest.raises(ValueError, match='weights_only'):
        cris.load_reference_checkpoint(str(path))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        cris.load_reference_checkpoint(str(tmp_path / 'missing.pth'))


def test_convert_checkpoint(tmp_path, tiny_config, model_shapes):
    checkpoint = cris_reference_checkpoint(model_shapes,
                                           cris.map_reference_key)
    src, dst = tmp_path / 'best_model.pth', tmp_path / 'cris.pth'
    torch.save(checkpoint, src)
    report = cris.convert_checkpoint(str(src), str(dst), tiny_config)
    assert report.complete and report.dropped == ['backbone.logit_scale']
    saved = torch.load(dst, weights_only=True)
    assert saved['meta'] == dict(
        converted_from='best_model.pth',
        converter='tools/model_converters/cris2mmrefseg.py',
        config='tiny_cris.py', reference_epoch=50, reference_cur_iou=0.69,
        reference_best_iou=0.7)
    model = MODELS.build(Config.fromfile(tiny_config).model)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    torch.testing.assert_close(
        model.decode_head.proj.vis[1].bn.running_mean,
        checkpoint['state_dict']['module.proj.vis.1.1.running_mean'])
    with pytest.raises(FileExistsError, match='--force'):
        cris.convert_checkpoint(str(src), str(dst), tiny_config)
    checkpoint['epoch'] = 51
    torch.save(checkpoint, src)
    assert cris.convert_checkpoint(str(src), str(dst), tiny_config,
                                   force=True).complete
    assert torch.load(dst, weights_only=True)['meta']['reference_epoch'] == 51


def test_parse_args():
    args = cris.parse_args(['a.pth', 'b.pth', '--config', 'c.py'])
    assert vars(args) == dict(src='a.pth', dst='b.pth', config='c.py',
                              force=False)
    assert cris.parse_args(['a', 'b', '--config', 'c', '--force']).force


def test_parse_args_help(capsys):
    with pytest.raises(SystemExit):
        cris.parse_args(['--help'])
    out = ' '.join(capsys.readouterr().out.split())
    assert ' src dst Convert a CRIS.pytorch checkpoint to mmrefseg ' \
        'positional arguments: src reference checkpoint (.pth) dst ' in out


def test_main(tmp_path, tiny_config, model_shapes, capsys):
    checkpoint = cris_reference_checkpoint(model_shapes,
                                           cris.map_reference_key)
    del checkpoint['state_dict']['module.decoder.norm.bias']
    src, dst = tmp_path / 'partial.pth', tmp_path / 'cris.pth'
    torch.save(checkpoint, src)
    assert cris.main([str(src), str(dst), '--config', tiny_config]) == 1
    assert list(tmp_path.iterdir()) == [src]
    captured = capsys.readouterr()
    assert 'model keys not filled (1):\n  decode_head.decoder.norm.bias' \
        in captured.out
    assert captured.err == f'conversion incomplete: {dst} NOT written\n'
