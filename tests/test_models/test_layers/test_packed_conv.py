import copy
import pickle

import pytest
import torch
from torch import nn

from mmrefseg.models.layers import PackedConv2d


def _rand_conv(*args, **kwargs):
    torch.manual_seed(0)
    conv = nn.Conv2d(*args, **kwargs).eval()
    return conv.to(memory_format=torch.channels_last)


def _nhwc(*shape):
    return torch.randn(*shape).contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize('conv', [
    dict(in_channels=16, out_channels=24, kernel_size=1),
    dict(in_channels=16, out_channels=8, kernel_size=3, padding=1),
    dict(in_channels=16, out_channels=8, kernel_size=3, stride=2, padding=1),
    dict(in_channels=16, out_channels=16, kernel_size=3, padding=2,
         dilation=2, groups=4),
    dict(in_channels=16, out_channels=8, kernel_size=1, bias=False),
])
def test_packed_conv_matches_conv_on_channels_last_inputs(conv):
    conv = _rand_conv(**conv)
    packed = PackedConv2d(conv)
    x = _nhwc(2, 16, 11, 9)
    with torch.inference_mode():
        out = packed(x)
        torch.testing.assert_close(out, conv(x), atol=1e-5, rtol=1e-5)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert list(packed.packed_weights) == [x.shape]


def test_other_inputs_take_the_plain_convolution():
    conv = _rand_conv(8, 8, 3, padding=1)
    packed = PackedConv2d(conv)
    x = torch.randn(1, 8, 6, 6)  # NCHW
    with torch.inference_mode():
        torch.testing.assert_close(packed(x), conv(x))
    assert not packed.packed_weights
    # Gradients wanted: the plain path, which autograd can follow.
    y = _nhwc(1, 8, 6, 6).requires_grad_()
    packed(y).sum().backward()
    assert y.grad is not None and conv.weight.grad is not None
    assert not packed.packed_weights


def test_packs_once_per_shape_and_keeps_the_last_few():
    packed = PackedConv2d(_rand_conv(4, 4, 1))
    with torch.inference_mode():
        for _ in range(2):
            packed(_nhwc(1, 4, 5, 5))
        assert len(packed.packed_weights) == 1
        for size in range(6, 6 + PackedConv2d.max_shapes + 1):
            packed(_nhwc(1, 4, size, size))
    assert len(packed.packed_weights) == PackedConv2d.max_shapes
    assert (1, 4, 5, 5) not in packed.packed_weights


def test_supports_plain_fp32_convolutions_only():
    conv = _rand_conv(4, 4, 3, padding=1)
    assert PackedConv2d.supports(conv)
    assert not PackedConv2d.supports(copy.deepcopy(conv).double())
    assert not PackedConv2d.supports(
        nn.Conv2d(4, 4, 3, padding=1, padding_mode='reflect'))
    assert not PackedConv2d.supports(nn.Conv2d(4, 4, 3, padding='same'))
    assert not PackedConv2d.supports(nn.Conv1d(4, 4, 1))
    with pytest.raises(ValueError, match='PackedConv2d needs'):
        PackedConv2d(nn.Conv2d(4, 4, 3, padding='same'))


@pytest.mark.parametrize('clone', [copy.deepcopy,
                                   lambda m: pickle.loads(pickle.dumps(m))])
def test_copies_pack_their_own_weights(clone):
    conv = _rand_conv(4, 6, 3, padding=1)
    packed = PackedConv2d(conv)
    x = _nhwc(1, 4, 7, 7)
    with torch.inference_mode():
        packed(x)
    copied = clone(packed)
    assert copied.weight is not packed.weight and not copied.packed_weights
    assert copied.state_dict().keys() == conv.state_dict().keys()
    with torch.no_grad():
        copied.weight.mul_(2)
    with torch.inference_mode():
        torch.testing.assert_close(copied(x), 2 * conv(x) - conv.bias.view(
            1, -1, 1, 1))
        torch.testing.assert_close(packed(x), conv(x))
