import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmrefseg.models.layers import BilinearUpsampleConv3x3


def _direct(conv, x):
    upsampled = F.interpolate(
        x, scale_factor=2, mode='bilinear', align_corners=False)
    return conv(upsampled)


@pytest.mark.parametrize('batch,in_channels,out_channels,height,width,bias', [
    (2, 5, 7, 4, 6, True),
    (1, 3, 4, 2, 2, False),
    (3, 8, 6, 5, 3, True),
    (1, 4, 3, 1, 1, True),  # one pixel: every tap reads padding
    (2, 4, 3, 1, 3, True),
])
def test_equals_upsample_then_conv(batch, in_channels, out_channels, height,
                                   width, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)
    layer = BilinearUpsampleConv3x3(conv)
    x = torch.randn(batch, in_channels, height, width)
    with torch.no_grad():
        expected = _direct(conv, x)
        out = layer(x)
    assert out.shape == (batch, out_channels, 2 * height, 2 * width)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_rounding_no_worse_than_the_direct_convolution():
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 32, 3, padding=1)
    layer = BilinearUpsampleConv3x3(conv)
    x = torch.randn(1, 64, 12, 12)
    with torch.no_grad():
        exact = _direct(conv.double(), x.double())
        direct_error = (_direct(conv.float(), x).double() - exact).abs().max()
        error = (layer(x).double() - exact).abs().max()
    assert error <= 2 * direct_error + 1e-7


def test_weights_are_a_snapshot_and_extra_convs_are_refused():
    conv = nn.Conv2d(4, 4, 3, padding=1)
    layer = BilinearUpsampleConv3x3(conv)
    x = torch.randn(1, 4, 3, 3)
    with torch.no_grad():
        before = layer(x)
        conv.weight.zero_()
        torch.testing.assert_close(layer(x), before)
    assert not layer.state_dict()  # derived buffers are not checkpointed
    for bad in (nn.Conv2d(4, 4, 3, padding=1, stride=2),
                nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, padding=1, groups=2),
                nn.Conv2d(4, 4, 3, padding=1, padding_mode='reflect')):
        assert not BilinearUpsampleConv3x3.supports(bad)
        with pytest.raises(ValueError, match='3x3'):
            BilinearUpsampleConv3x3(bad)


def test_output_keeps_the_input_memory_format():
    torch.manual_seed(0)
    layer = BilinearUpsampleConv3x3(nn.Conv2d(6, 5, 3, padding=1))
    x = torch.randn(2, 6, 5, 4)
    with torch.no_grad():
        out = layer(x)
        out_nhwc = layer(x.contiguous(memory_format=torch.channels_last))
    assert out.is_contiguous()
    assert out_nhwc.is_contiguous(memory_format=torch.channels_last)
    # One pixel-major computation either way.
    assert torch.equal(out_nhwc, out)


@pytest.mark.parametrize('clone', [copy.deepcopy,
                                   lambda m: pickle.loads(pickle.dumps(m))])
def test_packed_products_keep_the_outputs(clone):
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 8, 3, padding=1)
    layer = BilinearUpsampleConv3x3(conv)
    x = torch.randn(2, 16, 6, 7).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = _direct(conv, x)
        assert layer.pack_weights()
        assert len(layer.packed_kernels) == 16 + 4
        out = layer(x)
        copied = clone(layer)
        copied_out = copied(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert copied.packed_kernels is not None
    assert copied.packed_kernels[0] is not layer.packed_kernels[0]
    assert torch.equal(copied_out, out)


def test_packed_layer_falls_back_off_the_fp32_path():
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 4, 3, padding=1)
    layer = BilinearUpsampleConv3x3(conv)
    layer.pack_weights()
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        # float64: the plain kernels, which become float64 with the layer.
        out = layer.double()(x.double())
        expected = _direct(conv.double(), x.double())
    torch.testing.assert_close(out, expected)
