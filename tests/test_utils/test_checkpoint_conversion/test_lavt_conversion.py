"""The LAVT converter on a tiny re-statement of LAVT's checkpoint layout.

The reference's key names and shapes are written out in
tests/checkpoint_conversion_helpers.py (no checkout is needed); every tensor
holds distinct values, so a key mapped onto the wrong (same-shaped) target
fails.
"""
import argparse

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mmrefseg.registry import MODELS
from mmrefseg.utils.checkpoint_conversion import lavt
from tests.helpers import (distinct_tensors,
                                                 lavt_reference_bert_state,
                                                 lavt_reference_checkpoint,
                                                 lavt_reference_layout,
                                                 merge_order,
                                                 write_tiny_lavt_config)

POOLER = "BERT's pooler: LAVT never reads it and BertTextEncoder builds none"
BUFFER = 'a constant buffer that transformers rebuilds'


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    return write_tiny_lavt_config(tmp_path_factory.mktemp('lavt'))


@pytest.fixture(scope='module')
def model_state(tiny_config):
    return lavt.model_state_from_config(tiny_config)


def _expected_value(value, how):
    if how == 'squeeze':
        return value[..., 0]
    if how == 'merge':
        return merge_order(value, 1 if value.dim() == 2 else 0)
    return value


def test_every_key_lands_on_its_own_target(model_state):
    shapes, expected = lavt_reference_layout()
    source, bert = distinct_tensors(shapes), lavt_reference_bert_state()
    converted, report = lavt.convert_state_dicts(
        {'module.' + k: v for k, v in source.items()}, bert, model_state)
    assert report.complete, '\n'.join(report.lines())
    assert sorted(report.dropped) == sorted(
        ['bert_model.embeddings.position_ids'] +
        [f'bert_model.pooler.dense.{p}' for p in ('weight', 'bias')])
    assert list(converted) == list(model_state)
    for key, (target, how) in expected.items():
        assert torch.equal(converted[target],
                           _expected_value(source[key], how)), \
            f'{key} -> {target}'
    for key, value in bert.items():
        if not key.startswith('pooler.') and key != 'embeddings.position_ids':
            assert torch.equal(converted['text_encoder.bert.' + key], value)
    assert report.lines() == [
        f'dropped bert_model.pooler.dense.weight: {POOLER}',
        f'dropped bert_model.pooler.dense.bias: {POOLER}',
        f'dropped bert_model.embeddings.position_ids: {BUFFER}',
    ]


def test_lavt_one_keeps_bert_inside_the_model(model_state):
    """``lavt_one``: BERT under ``text_encoder.`` of ``model``, no
    ``bert_model``; DDP prefixes on both kinds of keys."""
    shapes, expected = lavt_reference_layout()
    source, bert = distinct_tensors(shapes), lavt_reference_bert_state()
    bert['embeddings.token_type_ids'] = torch.zeros(1, 32, dtype=torch.long)
    model = dict(source)
    model.update({'module.text_encoder.' + k: v for k, v in bert.items()})
    converted, report = lavt.convert_state_dicts(model, None, model_state)
    assert report.complete, '\n'.join(report.lines())
    assert report.dropped == [
        'text_encoder.pooler.dense.weight', 'text_encoder.pooler.dense.bias',
        'text_encoder.embeddings.position_ids',
        'text_encoder.embeddings.token_type_ids'
    ]
    assert report.drop_reasons['text_encoder.pooler.dense.bias'] == POOLER
    assert report.drop_reasons['text_encoder.embeddings.token_type_ids'] \
        == BUFFER
    key = 'embeddings.word_embeddings.weight'
    assert converted['text_encoder.bert.' + key].equal(bert[key])


def test_bert_model_keys_lose_their_ddp_prefix(model_state):
    shapes, _ = lavt_reference_layout()
    bert = lavt_reference_bert_state()
    _, report = lavt.convert_state_dicts(
        distinct_tensors(shapes), {'module.' + k: v
                                   for k, v in bert.items()}, model_state)
    assert report.complete, '\n'.join(report.lines())
    assert 'bert_model.pooler.dense.bias' in report.dropped


def test_constant_buffers_the_model_stores_are_converted(model_state):
    shapes, _ = lavt_reference_layout()
    bert = lavt_reference_bert_state()
    target = 'text_encoder.bert.embeddings.position_ids'
    stored = dict(model_state)
    stored[target] = torch.zeros(1, 32, dtype=torch.long)
    converted, report = lavt.convert_state_dicts(distinct_tensors(shapes),
                                                 bert, stored)
    assert report.complete, '\n'.join(report.lines())
    assert converted[target].equal(bert['embeddings.position_ids'])
    assert 'bert_model.embeddings.position_ids' not in report.dropped


@pytest.mark.parametrize('key, target', [
    ('backbone.layers.2.fusion.image_lang_att.W.0.bias',
     'backbone.pixel_word_attns.2.out_proj.bias'),
    ('backbone.layers.0.fusion.extra.weight', None),
    ('backbone.layers.1.res_gate.2.weight',
     'backbone.language_gates.1.fc2.weight'),
    ('backbone.layers.1.res_gate.1.weight', None),
    ('backbone.layers.1.res_gate.0.bias',
     'backbone.stages.1.res_gate.0.bias'),  # Swin's rule: not consumed
    ('backbone.norm3.weight', 'backbone.norm3.weight'),
    ('backbone.layers.0.blocks.1.mlp.fc2.bias',
     'backbone.stages.0.blocks.1.ffn.layers.1.bias'),
    ('backbone.absolute_pos_embed', None),
    ('classifier.conv1_1.weight', 'decode_head.conv_seg.weight'),
    ('classifier.bn2_2.running_var', 'decode_head.fuse_c1.1.bn.running_var'),
    ('classifier.conv1_3.weight', 'decode_head.fuse_c2.0.conv.weight'),
    ('classifier.conv1_5.weight', None),
    ('classifier.other.weight', None),
    ('bert_model.encoder.layer.0.output.dense.bias',
     'text_encoder.bert.encoder.layer.0.output.dense.bias'),
    ('text_encoder.embeddings.LayerNorm.weight',
     'text_encoder.bert.embeddings.LayerNorm.weight'),
    ('lang_proj.weight', None),
])
def test_map_reference_entry(key, target):
    value = torch.arange(6.).reshape(2, 3)
    mapped, new_value = lavt.map_reference_entry(key, value)
    assert mapped == target
    assert new_value is value


def test_map_reference_entry_reshapes_conv1d_weights():
    weight = torch.arange(6.).reshape(3, 2, 1)
    key, value = lavt.map_reference_entry(
        'backbone.layers.0.fusion.project_mm.0.weight', weight)
    assert key == 'backbone.pixel_word_attns.0.mm_proj.weight'
    assert value.shape == (3, 2) and value.equal(weight[..., 0])
    bias = torch.arange(3.)
    assert lavt.map_reference_entry(
        'backbone.layers.0.fusion.project_mm.0.bias', bias)[1] is bias


def test_reports_unknown_missing_and_mismatched_keys(model_state):
    shapes, _ = lavt_reference_layout()
    source = distinct_tensors(shapes)
    source['backbone.layers.0.fusion.extra.weight'] = torch.zeros(8, 8, 1)
    source['lang_proj.weight'] = torch.zeros(2)
    del source['classifier.conv1_1.bias']
    index = 'backbone.layers.1.blocks.0.attn.relative_position_index'
    source[index] = source[index].flip(0)
    source['backbone.norm0.bias'] = torch.zeros(3)
    _, report = lavt.convert_state_dicts(source, lavt_reference_bert_state(),
                                         model_state)
    assert not report.complete
    assert report.not_consumed == [
        'backbone.layers.0.fusion.extra.weight', 'lang_proj.weight'
    ]
    assert report.not_filled == [
        'backbone.stages.1.blocks.0.attn.w_msa.relative_position_index',
        'backbone.norm0.bias', 'decode_head.conv_seg.bias'
    ]
    assert report.mismatched == [
        'backbone.norm0.bias (3,) -> backbone.norm0.bias (8,)',
        f'{index}: the window indexing differs from '
        'backbone.stages.1.blocks.0.attn.w_msa.relative_position_index',
    ]
    assert 'mismatches (2):' in report.lines()


def test_position_index_of_another_dtype_is_compared_by_value(model_state):
    shapes, _ = lavt_reference_layout()
    source = distinct_tensors(shapes)
    index = 'backbone.layers.1.blocks.0.attn.relative_position_index'
    source[index] = source[index].int()
    _, report = lavt.convert_state_dicts(source, lavt_reference_bert_state(),
                                         model_state)
    assert report.complete, '\n'.join(report.lines())


def test_a_target_filled_twice_is_a_mismatch(model_state):
    shapes, _ = lavt_reference_layout()
    source = distinct_tensors(shapes)
    bert = lavt_reference_bert_state()
    key = 'embeddings.word_embeddings.weight'
    source['text_encoder.' + key] = bert[key]  # and bert_model.* again
    _, report = lavt.convert_state_dicts(source, bert, model_state)
    assert report.mismatched == [
        f'bert_model.{key}: text_encoder.bert.{key} filled twice'
    ]


def test_load_reference_checkpoint(tmp_path):
    checkpoint = lavt_reference_checkpoint()
    path = tmp_path / 'lavt.pth'
    torch.save(checkpoint, path)
    model, bert, record = lavt.load_reference_checkpoint(str(path))
    assert record == dict(reference_epoch=39)
    assert set(model) == set(checkpoint['model'])
    assert set(bert) == set(checkpoint['bert_model'])
    # lavt_one: no bert_model; an epoch that is no int is left out
    torch.save(dict(model={'a': torch.ones(1)}, epoch=3.5), path)
    assert lavt.load_reference_checkpoint(str(path)) == ({
        'a': torch.ones(1)
    }, None, {})


NO_MODEL = (" has no 'model' state dict (a LAVT checkpoint holds 'model' "
            "and 'bert_model')")


@pytest.mark.parametrize('content, message', [
    ([torch.ones(1)], NO_MODEL),
    (dict(state_dict={}), NO_MODEL),
    (dict(model=[torch.ones(1)]), NO_MODEL),
    (dict(model={'a': 1}), ": 'model' is not a state dict of tensors"),
    (dict(model={}, bert_model={'a': torch.ones(1), 'b': 'x'}),
     ": 'bert_model' is not a state dict of tensors"),
])
def test_load_reference_checkpoint_names_what_is_wrong(
        tmp_path, content, message):
    path = str(tmp_path / 'odd.pth')
    torch.save(content, path)
    with pytest.raises(ValueError) as error:
        lavt.load_reference_checkpoint(path)
    assert str(error.value) == repr(path) + message


def test_load_reference_checkpoint_missing_or_unreadable(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        lavt.load_reference_checkpoint(str(tmp_path / 'missing.pth'))
    path = tmp_path / 'code.pth'
    torch.save(dict(model={}, hook=argparse.ArgumentParser), path)
    with pytest.raises(ValueError, match='weights_only'):
        lavt.load_reference_checkpoint(str(path))


def test_convert_checkpoint(tiny_config, tmp_path):
    src, dst = str(tmp_path / 'lavt.pth'), str(tmp_path / 'out.pth')
    torch.save(lavt_reference_checkpoint(), src)
    report = lavt.convert_checkpoint(src, dst, tiny_config)
    assert report.complete, '\n'.join(report.lines())
    model = MODELS.build(Config.fromfile(tiny_config).model)
    checkpoint = load_checkpoint(model, dst, strict=True)
    assert checkpoint['meta'] == dict(
        converted_from='lavt.pth',
        converter='tools/model_converters/lavt2mmrefseg.py',
        config='lavt_tiny.py', reference_epoch=39)
    with pytest.raises(FileExistsError):
        lavt.convert_checkpoint(src, dst, tiny_config)
    assert lavt.convert_checkpoint(src, dst, tiny_config, force=True).complete
    torch.save(dict(model={}, bert_model={}), src)
    report = lavt.convert_checkpoint(src, str(tmp_path / 'no.pth'),
                                     tiny_config)
    assert not report.complete and report.not_filled == list(
        lavt.model_state_from_config(tiny_config))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['lavt.pth',
                                                          'out.pth']


def test_parse_args_and_help(capsys):
    args = lavt.parse_args(['a.pth', 'b.pth', '--config', 'c.py'])
    assert vars(args) == dict(src='a.pth', dst='b.pth', config='c.py',
                              force=False)
    with pytest.raises(SystemExit):
        lavt.parse_args(['--help'])
    out = ' '.join(capsys.readouterr().out.split())
    assert ' src dst Convert a LAVT (LAVT-RIS) checkpoint to mmrefseg ' \
        "positional arguments: src LAVT checkpoint (.pth with 'model' and " \
        "'bert_model') dst " in out


def test_main(tiny_config, tmp_path, capsys):
    src, dst = str(tmp_path / 'lavt.pth'), str(tmp_path / 'out.pth')
    checkpoint = lavt_reference_checkpoint()
    torch.save(checkpoint, src)
    assert lavt.main([src, dst, '--config', tiny_config]) == 0
    captured = capsys.readouterr()
    assert captured.out.endswith(f'saved {dst}\n')
    assert captured.out.startswith(
        f'dropped bert_model.pooler.dense.weight: {POOLER}\n')
    del checkpoint['model']['classifier.conv1_1.bias']
    torch.save(checkpoint, src)
    assert lavt.main([src, dst, '--config', tiny_config, '--force']) == 1
    captured = capsys.readouterr()
    assert '  decode_head.conv_seg.bias' in captured.out
    assert captured.err == f'conversion incomplete: {dst} NOT written\n'
