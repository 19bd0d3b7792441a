import copy
import pickle

import pytest
import torch
from torch import nn

from mmrefseg.models.layers import PackedLinear, PackedSelfAttention


def _rand_linear(in_features=48, out_features=80):
    torch.manual_seed(0)
    return nn.Linear(in_features, out_features).eval()


@pytest.mark.parametrize('shape', [(17, 48), (17, 2, 48), (3, 48)])
def test_packed_linear_matches_linear(shape):
    linear = _rand_linear()
    packed = PackedLinear(linear, rows=17)
    assert packed.packed_weight is not None
    x = torch.randn(*shape)
    with torch.inference_mode():
        torch.testing.assert_close(packed(x), linear(x))


def test_packed_layers_support_fp32_cpu_weights_only():
    linear = _rand_linear()
    assert PackedLinear.supports(linear)
    assert not PackedLinear.supports(copy.deepcopy(linear).double())
    assert not PackedLinear.supports(nn.Conv1d(4, 4, 1))
    assert PackedSelfAttention.supports(_attention())
    assert not PackedSelfAttention.supports(_attention().double())


def test_packed_linear_shares_parameters_and_state_dict_keys():
    linear = _rand_linear()
    packed = PackedLinear(linear)
    assert packed.weight is linear.weight and packed.bias is linear.bias
    assert packed.state_dict().keys() == linear.state_dict().keys()


def test_packed_linear_without_bias():
    linear = nn.Linear(48, 32, bias=False)
    x = torch.randn(5, 48)
    with torch.inference_mode():
        torch.testing.assert_close(PackedLinear(linear)(x), linear(x))


@pytest.mark.parametrize('clone', [copy.deepcopy,
                                   lambda m: pickle.loads(pickle.dumps(m))])
def test_copies_pack_their_own_weights(clone):
    linear = _rand_linear()
    packed = PackedLinear(linear)
    copied = clone(packed)
    assert copied.weight is not packed.weight
    with torch.no_grad():
        copied.weight.mul_(2)
    copied = clone(copied)  # packs the doubled weight
    x = torch.randn(4, 48)
    with torch.inference_mode():
        torch.testing.assert_close(
            copied(x), 2 * (packed(x) - linear.bias) + linear.bias)


def test_packed_linear_falls_back_off_the_fp32_path():
    linear = _rand_linear()
    packed = PackedLinear(linear)
    x = torch.randn(4, 48)
    # The packed weight is a snapshot: a changed weight shows only on the
    # plain-weight paths, which tells which path ran.
    with torch.no_grad():
        linear.weight.add_(1)
    with torch.inference_mode():
        assert not torch.allclose(packed(x), linear(x))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert torch.equal(packed(x), linear(x))
        packed.double()  # converts the shared parameters
        assert torch.equal(packed(x.double()), linear(x.double()))
    packed.float()
    # Gradients wanted: the plain weight, so that they reach it.
    packed(x).sum().backward()
    assert linear.weight.grad is not None


def _attention(embed_dim=64, num_heads=4, **kwargs):
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(embed_dim, num_heads, **kwargs).eval()
    with torch.no_grad():
        attention.in_proj_bias.normal_()
        attention.out_proj.bias.normal_()
    return attention


@pytest.mark.parametrize('mask', ['causal_float', 'causal_bool', None])
@pytest.mark.parametrize('batch', [1, 3])
def test_packed_self_attention_matches_multihead_attention(mask, batch):
    attention = _attention()
    length = 12
    x = torch.randn(length, batch, 64)
    attn_mask = None
    if mask == 'causal_float':
        attn_mask = torch.full((length, length),
                               float('-inf')).triu_(1)
    elif mask == 'causal_bool':
        attn_mask = torch.ones(length, length, dtype=torch.bool).triu_(1)
    packed = PackedSelfAttention(attention, rows=length)
    with torch.inference_mode():
        expected, _ = attention(x, x, x, need_weights=False,
                                attn_mask=attn_mask)
        out, weights = packed(x, x, x, need_weights=False,
                              attn_mask=attn_mask)
    assert weights is None
    torch.testing.assert_close(out, expected)
    assert packed.state_dict().keys() == attention.state_dict().keys()


def test_packed_self_attention_rejects_what_it_does_not_compute():
    for attention in (_attention(batch_first=True),
                      _attention(kdim=32, vdim=32),
                      _attention(add_bias_kv=True)):
        assert not PackedSelfAttention.supports(attention)
        with pytest.raises(ValueError, match='sequence-first'):
            PackedSelfAttention(attention)
    packed = PackedSelfAttention(_attention())
    x, y = torch.randn(5, 1, 64), torch.randn(5, 1, 64)
    with pytest.raises(ValueError, match='self-attention'):
        packed(x, y, y)
    with pytest.raises(ValueError, match='self-attention'):
        packed(x, x, x, need_weights=True)
