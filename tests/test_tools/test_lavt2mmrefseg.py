"""lavt2mmrefseg on a tiny re-statement of LAVT's checkpoint layout.

The reference's key names and shapes are written out here (no checkout is
needed); every tensor holds distinct values, so a key mapped onto the wrong
(same-shaped) target fails.
"""
import argparse
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from transformers import BertConfig, BertModel

from mmrefseg.registry import MODELS
from mmrefseg.utils import register_all_modules
from tests.helpers import write_tiny_bert_vocab

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DIMS, DEPTHS, HEADS, WINDOW = (8, 16, 32, 64), (2, 1, 1, 1), (1, 1, 2, 2), 2
LANG, HIDDEN = 8, 32  # BERT width = stage-1 width: PWAM layers share shapes
BERT = dict(hidden_size=LANG, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=16, max_position_embeddings=32, vocab_size=64)
_BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def _load_converter():
    path = osp.join(REPO, 'tools', 'model_converters', 'lavt2mmrefseg.py')
    spec = importlib.util.spec_from_file_location('lavt2mmrefseg', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


converter = _load_converter()


def reference_position_index(window):
    """The official Swin's relative_position_index."""
    coords = torch.stack(torch.meshgrid(torch.arange(window),
                                        torch.arange(window),
                                        indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    return rel.sum(-1)


def reference_layout():
    """LAVT's ``model`` keys (lib/backbone.py, lib/mask_predictor.py) and
    their shapes, for the tiny sizes above; and the expected mmrefseg key
    of each (with how the value changes: 'same', 'squeeze', 'merge')."""
    shapes, expected = {}, {}

    def add(key, shape, target, how='same'):
        shapes[key], expected[key] = shape, (target, how)

    add('backbone.patch_embed.proj.weight', (8, 3, 4, 4),
        'backbone.patch_embed.projection.weight')
    add('backbone.patch_embed.proj.bias', (8, ),
        'backbone.patch_embed.projection.bias')
    for p in ('weight', 'bias'):
        add(f'backbone.patch_embed.norm.{p}', (8, ),
            f'backbone.patch_embed.norm.{p}')
    table = ((2 * WINDOW - 1)**2, )
    for i, (dim, depth, heads) in enumerate(zip(DIMS, DEPTHS, HEADS)):
        src, dst = f'backbone.layers.{i}.', f'backbone.stages.{i}.'
        for j in range(depth):
            s, d = f'{src}blocks.{j}.', f'{dst}blocks.{j}.'
            for p in ('weight', 'bias'):
                add(f'{s}norm1.{p}', (dim, ), f'{d}norm1.{p}')
                add(f'{s}norm2.{p}', (dim, ), f'{d}norm2.{p}')
                out = {'weight': (dim, dim), 'bias': (dim, )}[p]
                add(f'{s}attn.qkv.{p}', (3 * dim, ) + out[1:],
                    f'{d}attn.w_msa.qkv.{p}')
                add(f'{s}attn.proj.{p}', out, f'{d}attn.w_msa.proj.{p}')
                add(f'{s}mlp.fc1.{p}', (4 * dim, ) + out[1:],
                    f'{d}ffn.layers.0.0.{p}')
                add(f'{s}mlp.fc2.{p}', (dim, 4 * dim)[:len(out)],
                    f'{d}ffn.layers.1.{p}')
            add(f'{s}attn.relative_position_bias_table', table + (heads, ),
                f'{d}attn.w_msa.relative_position_bias_table')
            add(f'{s}attn.relative_position_index', (WINDOW**2, WINDOW**2),
                f'{d}attn.w_msa.relative_position_index', 'index')
        if i < 3:
            add(f'{src}downsample.reduction.weight', (2 * dim, 4 * dim),
                f'{dst}downsample.reduction.weight', 'merge')
            for p in ('weight', 'bias'):
                add(f'{src}downsample.norm.{p}', (4 * dim, ),
                    f'{dst}downsample.norm.{p}', 'merge')
        pwam = f'backbone.pixel_word_attns.{i}.'
        for name, layer, cin in (
            ('vis_project.0', 'vis_proj', dim),
            ('image_lang_att.f_query.0', 'query_proj', dim),
            ('image_lang_att.f_key.0', 'key_proj', LANG),
            ('image_lang_att.f_value.0', 'value_proj', LANG),
            ('image_lang_att.W.0', 'out_proj', dim),
            ('project_mm.0', 'mm_proj', dim),
        ):
            add(f'{src}fusion.{name}.weight', (dim, cin, 1),
                f'{pwam}{layer}.weight', 'squeeze')
            add(f'{src}fusion.{name}.bias', (dim, ), f'{pwam}{layer}.bias')
        add(f'{src}res_gate.0.weight', (dim, dim),
            f'backbone.language_gates.{i}.fc1.weight')
        add(f'{src}res_gate.2.weight', (dim, dim),
            f'backbone.language_gates.{i}.fc2.weight')
        for p in ('weight', 'bias'):
            add(f'backbone.norm{i}.{p}', (dim, ), f'backbone.norm{i}.{p}')
    for level, block, cin in (('4', 'fuse_c3', 64 + 32), ('3', 'fuse_c2',
                                                         HIDDEN + 16),
                              ('2', 'fuse_c1', HIDDEN + 8)):
        for index, width in (('1', cin), ('2', HIDDEN)):
            n = int(index) - 1
            add(f'classifier.conv{index}_{level}.weight',
                (HIDDEN, width, 3, 3), f'decode_head.{block}.{n}.conv.weight')
            for p in _BN:
                add(f'classifier.bn{index}_{level}.{p}',
                    () if p == 'num_batches_tracked' else (HIDDEN, ),
                    f'decode_head.{block}.{n}.bn.{p}')
    add('classifier.conv1_1.weight', (2, HIDDEN, 1, 1),
        'decode_head.conv_seg.weight')
    add('classifier.conv1_1.bias', (2, ), 'decode_head.conv_seg.bias')
    return shapes, expected


def distinct_tensors(shapes):
    """A different value in every element of every tensor."""
    tensors, offset = {}, 0
    for key, shape in shapes.items():
        if key.endswith('relative_position_index'):
            tensors[key] = reference_position_index(WINDOW)
            continue
        numel = int(torch.tensor(shape).prod()) if shape else 1
        values = torch.arange(offset, offset + numel, dtype=torch.float32)
        tensors[key] = (values.long() if key.endswith('num_batches_tracked')
                        else values).reshape(shape)
        offset += numel
    return tensors


def merge_order(value, channel_dim):
    """Official merge (blocks (0,0), (1,0), (0,1), (1,1) of C channels) ->
    nn.Unfold's order (per channel: (0,0), (0,1), (1,0), (1,1))."""
    value = value.movedim(channel_dim, -1)
    channels = value.shape[-1] // 4
    block_of_unfold = (0, 2, 1, 3)
    index = [block_of_unfold[k] * channels + c for c in range(channels)
             for k in range(4)]
    return value[..., index].movedim(-1, channel_dim)


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    root = tmp_path_factory.mktemp('lavt')
    vocab = write_tiny_bert_vocab(root / 'vocab.txt')
    path = root / 'lavt_tiny.py'
    path.write_text(f"""
_base_ = {osp.join(REPO, 'configs', '_base_', 'models', 'lavt_swinb.py')!r}
model = dict(
    backbone=dict(language_channels={LANG}, pretrain_img_size=64,
                  embed_dims={DIMS[0]}, depths={DEPTHS}, num_heads={HEADS},
                  window_size={WINDOW}, init_cfg=None),
    text_encoder=dict(pretrained=None, bert_cfg={BERT!r},
                      vocab_file={vocab!r}),
    decode_head=dict(in_channels={DIMS}, channels={HIDDEN}))
""")
    return str(path)


def reference_bert_state():
    """A transformers-3-era BERT state dict: pooler and position_ids kept."""
    torch.manual_seed(0)
    state = BertModel(BertConfig(**BERT)).state_dict()
    state['embeddings.position_ids'] = torch.arange(32)[None]
    return {k: v + 1000 * i if v.is_floating_point() else v
            for i, (k, v) in enumerate(state.items())}


def test_every_key_lands_on_its_own_target(tiny_config):
    register_all_modules()
    shapes, expected = reference_layout()
    model_state = converter.model_state_from_config(tiny_config)
    source, bert = distinct_tensors(shapes), reference_bert_state()
    converted, report = converter.convert_state_dicts(
        {'module.' + k: v for k, v in source.items()}, bert, model_state)
    assert report.complete, '\n'.join(report.lines())
    assert sorted(k for k, _ in report.dropped) == sorted(
        ['bert_model.embeddings.position_ids'] +
        [f'bert_model.pooler.dense.{p}' for p in ('weight', 'bias')])
    assert list(converted) == list(model_state)
    for key, (target, how) in expected.items():
        value = source[key]
        if how == 'squeeze':
            value = value[..., 0]
        elif how == 'merge':
            value = merge_order(value, 1 if value.dim() == 2 else 0)
        assert torch.equal(converted[target], value), f'{key} -> {target}'
    for key, value in bert.items():
        if not key.startswith('pooler.') and key != 'embeddings.position_ids':
            assert torch.equal(converted['text_encoder.bert.' + key], value)


def test_reports_unknown_missing_and_mismatched_keys(tiny_config):
    shapes, _ = reference_layout()
    model_state = converter.model_state_from_config(tiny_config)
    source = distinct_tensors(shapes)
    source['backbone.layers.0.fusion.extra.weight'] = torch.zeros(8, 8, 1)
    del source['classifier.conv1_1.bias']
    index = 'backbone.layers.1.blocks.0.attn.relative_position_index'
    source[index] = source[index].flip(0)
    _, report = converter.convert_state_dicts(source, reference_bert_state(),
                                              model_state)
    assert not report.complete
    assert report.not_consumed == ['backbone.layers.0.fusion.extra.weight']
    assert report.not_filled == [
        'backbone.stages.1.blocks.0.attn.w_msa.relative_position_index',
        'decode_head.conv_seg.bias'
    ]
    assert len(report.mismatched) == 1 and index in report.mismatched[0]


def test_convert_checkpoint_writes_a_loadable_file(tiny_config, tmp_path):
    shapes, _ = reference_layout()
    src, dst = str(tmp_path / 'lavt.pth'), str(tmp_path / 'out.pth')
    torch.save(
        dict(model=distinct_tensors(shapes), bert_model=reference_bert_state(),
             optimizer={}, epoch=39, lr_scheduler={},
             args=argparse.Namespace(model='lavt')), src)
    assert converter.main([src, dst, '--config', tiny_config]) == 0
    model = MODELS.build(Config.fromfile(tiny_config).model)
    checkpoint = load_checkpoint(model, dst, strict=True)
    assert checkpoint['meta']['reference_epoch'] == 39
    with pytest.raises(FileExistsError):
        converter.main([src, dst, '--config', tiny_config])
    torch.save(dict(model={}, bert_model={}), src)
    assert converter.main([src, str(tmp_path / 'no.pth'), '--config',
                           tiny_config]) == 1
    assert not osp.exists(tmp_path / 'no.pth')
