import pytest
import torch
import torch.nn.functional as F

from mmrefseg.models.backbones import SwinAttnPool
from mmrefseg.models.backbones.swin_attn_pool import convert_official_swin
from mmrefseg.registry import MODELS
from tests.helpers import reference_position_index

TINY_SWIN = dict(
    embed_dims=16,
    depths=(1, 1, 2, 1),
    num_heads=(1, 2, 2, 4),
    window_size=4,
    drop_path_rate=0.)


def _tiny(**kwargs):
    torch.manual_seed(0)
    model = SwinAttnPool(**TINY_SWIN, **kwargs)
    model.init_weights()
    return model.eval()


def test_shapes_and_global_feature_differs_per_image():
    model = _tiny()
    images = torch.randn(3, 3, 64, 96)
    with torch.no_grad():
        c3, c4, c5, global_feat = model(images)
    assert c3.shape == (3, 32, 8, 12)
    assert c4.shape == (3, 64, 4, 6)
    assert c5.shape == (3, 128, 2, 3)
    assert global_feat.shape == (3, 128)
    assert not torch.allclose(global_feat[0], global_feat[1], atol=1e-4)
    assert not torch.allclose(global_feat[1], global_feat[2], atol=1e-4)


@pytest.mark.parametrize('residual', [True, False])
def test_attention_pool_is_mean_token_self_attention(residual):
    """Recompute eq. 1 with torch's MultiheadAttention on the plain Swin
    stage-4 map: mean token first, token 0 is F_g, the rest the new map
    (plus the input tokens with the residual connection)."""
    model = _tiny(pool_residual=residual)
    plain = _tiny(with_global=False)
    plain.load_state_dict(model.state_dict(), strict=False)
    images = torch.randn(2, 3, 64, 64)
    pool = model.attn_pool
    mha = torch.nn.MultiheadAttention(128, 4, batch_first=True).eval()
    mha.in_proj_weight.data.copy_(pool.qkv.weight)
    mha.in_proj_bias.data.copy_(pool.qkv.bias)
    mha.out_proj.load_state_dict(pool.proj.state_dict())
    with torch.no_grad():
        *_, c5, global_feat = model(images)
        stage4 = plain(images)[-1]
        tokens = stage4.flatten(2).transpose(1, 2)
        tokens = torch.cat([tokens.mean(1, keepdim=True), tokens], 1)
        expected = mha(tokens, tokens, tokens, need_weights=False)[0]
        if residual:
            expected = expected + tokens
    torch.testing.assert_close(global_feat, expected[:, 0])
    torch.testing.assert_close(c5.flatten(2).transpose(1, 2), expected[:, 1:])


def test_residual_keeps_the_spatial_layout_at_init():
    """Near-uniform attention at init maps every position to about the same
    vector; the residual connection keeps the stage-4 map's layout."""
    images = torch.randn(2, 3, 128, 128)
    spreads = {}
    for residual in (True, False):
        model = _tiny(pool_residual=residual)
        with torch.no_grad():
            c5 = model(images)[2]
        spreads[residual] = c5.std(dim=(2, 3)).mean().item()
    stage4 = _tiny(with_global=False)
    with torch.no_grad():
        plain = stage4(images)[-1]
    plain_spread = plain.std(dim=(2, 3)).mean().item()
    assert spreads[False] < 0.1 * plain_spread
    assert spreads[True] > 0.5 * plain_spread


def test_without_global_is_mmseg_swin():
    model = _tiny(with_global=False)
    assert not hasattr(model, 'attn_pool')
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 64, 128]


def test_full_size_swin_b_defaults():
    model = MODELS.build(dict(type='SwinAttnPool'))
    assert model.with_global
    assert model.num_features == [128, 256, 512, 1024]
    assert model.attn_pool.num_heads == 32
    swin = sum(p.numel() for n, p in model.named_parameters()
               if not n.startswith('attn_pool'))
    assert 86e6 < swin < 88e6  # Swin-B without a classification head


def test_official_relative_index_equals_mmseg_buffer():
    # the converter drops the official buffer: mmseg's must be the same
    model = _tiny()
    buffer = model.stages[0].blocks[0].attn.w_msa.relative_position_index
    assert torch.equal(buffer, reference_position_index(4))


def test_patch_merging_conversion_matches_official_merge():
    model = _tiny()
    merge = model.stages[0].downsample
    channels = 16
    official_norm = torch.nn.LayerNorm(4 * channels)
    official_reduction = torch.nn.Linear(4 * channels, 2 * channels, False)
    torch.nn.init.normal_(official_norm.weight)
    torch.nn.init.normal_(official_norm.bias)
    state = {
        'layers.0.downsample.norm.weight': official_norm.weight.data,
        'layers.0.downsample.norm.bias': official_norm.bias.data,
        'layers.0.downsample.reduction.weight': official_reduction.weight.data,
    }
    merge.load_state_dict({
        k[len('stages.0.downsample.'):]: v
        for k, v in convert_official_swin(state).items()
    })
    x = torch.randn(2, 8, 6, channels)
    # the official merge: neighbours (0,0), (1,0), (0,1), (1,1) concatenated
    merged = torch.cat([
        x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]
    ], -1).flatten(1, 2)
    expected = official_reduction(official_norm(merged))
    with torch.no_grad():
        out, out_size = merge(x.flatten(1, 2), (8, 6))
        expected = expected.detach()
    assert out_size == (4, 3)
    torch.testing.assert_close(out, expected)


def _to_official(state_dict):
    """mmseg keys -> official keys (test oracle; merge order left as is)."""
    official = {}
    for key, value in state_dict.items():
        if key.startswith(('attn_pool', 'norm1', 'norm2')) or \
                key.endswith('relative_position_index'):
            continue
        key = key.replace('stages.', 'layers.').replace('attn.w_msa.', 'attn.')
        key = key.replace('ffn.layers.0.0.',
                          'mlp.fc1.').replace('ffn.layers.1.', 'mlp.fc2.')
        key = key.replace('patch_embed.projection.', 'patch_embed.proj.')
        key = key.replace('norm3.', 'norm.')
        official[key] = value
    official['head.weight'] = torch.zeros(10, 128)
    official['layers.0.blocks.0.attn.relative_position_index'] = torch.zeros(
        49, 49, dtype=torch.long)
    return official


@pytest.mark.parametrize('official', [True, False])
def test_loads_a_local_checkpoint(tmp_path, official):
    source = _tiny()
    state = {k: v.clone() for k, v in source.state_dict().items()}
    if official:
        state = {'model': _to_official(state)}
    else:
        state = {'state_dict': {'backbone.' + k: v for k, v in state.items()}}
    path = tmp_path / 'swin.pth'
    torch.save(state, path)
    torch.manual_seed(1)
    model = SwinAttnPool(
        **TINY_SWIN, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    loaded = model.state_dict()
    for key, value in source.state_dict().items():
        if key.startswith(('attn_pool', 'norm1', 'norm2')):
            continue
        if official and '.downsample.' in key:
            continue  # reordered on purpose (see the merge test)
        assert torch.equal(loaded[key], value), key


def test_resizes_relative_position_tables(tmp_path):
    source = SwinAttnPool(**dict(TINY_SWIN, window_size=3))
    path = tmp_path / 'swin_w3.pth'
    torch.save(source.state_dict(), path)
    model = SwinAttnPool(
        **TINY_SWIN, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    table = model.stages[0].blocks[0].attn.w_msa.relative_position_bias_table
    src = source.stages[0].blocks[0].attn.w_msa.relative_position_bias_table
    assert table.shape == (49, 1)
    expected = F.interpolate(
        src.detach().T.reshape(1, 1, 5, 5), size=(7, 7), mode='bicubic')
    torch.testing.assert_close(table.detach(), expected.reshape(1, 49).T)


def test_checkpoint_of_another_model_is_an_error(tmp_path):
    path = tmp_path / 'not_swin.pth'
    torch.save({'model': {'layers.0.weight': torch.zeros(1)}}, path)
    model = SwinAttnPool(
        **TINY_SWIN, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(KeyError, match='not_swin.pth lacks'):
        model.init_weights()


def test_bad_init_cfg_is_an_error():
    with pytest.raises(ValueError, match='init_cfg'):
        SwinAttnPool(**TINY_SWIN, init_cfg=dict(type='Kaiming'))
