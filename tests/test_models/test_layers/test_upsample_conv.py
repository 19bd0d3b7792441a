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
