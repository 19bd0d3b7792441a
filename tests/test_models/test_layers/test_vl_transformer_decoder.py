
import pytest
import torch
import torch.nn as nn

from mmrefseg.models.layers import (VLMultiheadAttention,
                                    VLTransformerDecoder,
                                    VLTransformerDecoderLayer)

C, HEADS, FFN = 32, 4, 64


def _reference_layer_forward(layer, vis, txt, vis_pos, txt_pos, pad_mask):
    """The CRIS reference layer, sequence first, through torch's
    nn.MultiheadAttention loaded with ``layer``'s attention weights."""
    self_attn = nn.MultiheadAttention(C, HEADS).eval()
    cross_attn = nn.MultiheadAttention(C, HEADS, kdim=C, vdim=C).eval()
    self_attn.load_state_dict(layer.self_attn.state_dict())
    cross_attn.load_state_dict(layer.multihead_attn.state_dict())
    vis, txt = vis.transpose(0, 1), txt.transpose(0, 1)  # (N, B, C)
    vis_pos, txt_pos = vis_pos[:, None], txt_pos[:, None]

    x = layer.norm1(vis)
    q = x + vis_pos
    x = self_attn(q, q, value=x)[0]
    vis = vis + layer.self_attn_norm(x)
    x = layer.norm2(vis)
    x = cross_attn(
        query=x + vis_pos, key=txt + txt_pos, value=txt,
        key_padding_mask=pad_mask)[0]
    vis = vis + layer.cross_attn_norm(x)
    vis = vis + layer.ffn(layer.norm3(vis))
    return vis.transpose(0, 1)


def _inputs(batch=2, pixels=12, words=5):
    torch.manual_seed(0)
    vis = torch.randn(batch, pixels, C)
    txt = torch.randn(batch, words, C)
    pad_mask = torch.zeros(batch, words, dtype=torch.bool)
    pad_mask[0, 3:] = True
    pad_mask[1, 4:] = True
    return vis, txt, torch.randn(pixels, C), torch.randn(words, C), pad_mask


def _randomise(module):
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0, 0.2)
    return module


def test_parameter_layout_is_the_reference_layout():
    layer = VLTransformerDecoderLayer(C, HEADS, FFN)
    keys = set(layer.state_dict())
    for name in ('self_attn', 'multihead_attn'):
        assert {f'{name}.{k}' for k in nn.MultiheadAttention(C, HEADS)
                .state_dict()} <= keys
    expected_ffn = {
        'ffn.0.weight', 'ffn.0.bias', 'ffn.3.weight', 'ffn.3.bias',
        'ffn.4.weight', 'ffn.4.bias'
    }
    assert {k for k in keys if k.startswith('ffn.')} == expected_ffn
    for norm in ('self_attn_norm', 'cross_attn_norm', 'norm1', 'norm2',
                 'norm3'):
        assert f'{norm}.weight' in keys
    assert layer.self_attn.in_proj_weight.shape == (3 * C, C)


@pytest.mark.parametrize('fused', [False, True])
def test_layer_equals_multihead_attention_reference(fused):
    torch.manual_seed(0)
    layer = _randomise(
        VLTransformerDecoderLayer(C, HEADS, FFN,
                                  fused_attention=fused)).eval()
    vis, txt, vis_pos, txt_pos, pad_mask = _inputs()
    with torch.no_grad():
        ours = layer(vis, txt, vis_pos, txt_pos, pad_mask)
        ref = _reference_layer_forward(layer, vis, txt, vis_pos, txt_pos,
                                       pad_mask)
    assert ours.shape == vis.shape
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('fused', [False, True])
def test_padding_words_get_no_attention(fused):
    layer = _randomise(
        VLTransformerDecoderLayer(C, HEADS, FFN,
                                  fused_attention=fused)).eval()
    vis, txt, vis_pos, txt_pos, pad_mask = _inputs()
    changed = txt.clone()
    changed[pad_mask] = torch.randn(int(pad_mask.sum()), C) * 10
    real = txt.clone()
    real[1, 0] += 1.0  # a real word does matter
    with torch.no_grad():
        out = layer(vis, txt, vis_pos, txt_pos, pad_mask)
        assert torch.equal(out, layer(vis, changed, vis_pos, txt_pos,
                                      pad_mask))
        assert not torch.allclose(
            out[1], layer(vis, real, vis_pos, txt_pos, pad_mask)[1])
        # without the mask the padding words would matter
        assert not torch.allclose(
            layer(vis, txt, vis_pos, txt_pos),
            layer(vis, changed, vis_pos, txt_pos))


@pytest.mark.parametrize('fused', [False, True])
def test_dropout_only_in_training(fused):
    layer = VLTransformerDecoderLayer(
        C, HEADS, FFN, dropout=0.5, fused_attention=fused)
    vis, txt, vis_pos, txt_pos, pad_mask = _inputs()
    layer.eval()
    with torch.no_grad():
        first = layer(vis, txt, vis_pos, txt_pos, pad_mask)
        assert torch.equal(first, layer(vis, txt, vis_pos, txt_pos,
                                        pad_mask))
        layer.train()
        assert not torch.allclose(
            first, layer(vis, txt, vis_pos, txt_pos, pad_mask))


def test_attention_accepts_any_memory_and_batched_positions():
    attn = VLMultiheadAttention(C, HEADS).eval()
    query, memory = torch.randn(2, 7, C), torch.randn(2, 3, C)
    assert attn(query, memory, memory).shape == (2, 7, C)
    layer = VLTransformerDecoderLayer(C, HEADS, FFN).eval()
    per_sample_pos = torch.randn(2, 7, C)
    out = layer(query, memory, per_sample_pos, None, None)
    assert out.shape == (2, 7, C)
    with pytest.raises(ValueError, match='not divisible'):
        VLMultiheadAttention(30, 4)


def test_decoder_stack_applies_layers_then_final_norm():
    decoder = _randomise(VLTransformerDecoder(2, C, HEADS, FFN)).eval()
    vis, txt, vis_pos, txt_pos, pad_mask = _inputs()
    with torch.no_grad():
        out = decoder(vis, txt, vis_pos, txt_pos, pad_mask)
        expected = vis
        for layer in decoder.layers:
            expected = layer(expected, txt, vis_pos, txt_pos, pad_mask)
        expected = decoder.norm(expected)
    assert out.shape == (2, 12, C)
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match='expects 32 channels'):
        decoder(vis, torch.randn(2, 5, 16))
