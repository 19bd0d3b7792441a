import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import nn

from mmrefseg.models.layers import UpsampledConcatConv1x1


def _conv_module(in_channels, out_channels, bias=True, **kwargs):
    torch.manual_seed(0)
    module = ConvModule(in_channels, out_channels, 1, bias=bias,
                        **kwargs).eval()
    with torch.no_grad():
        if module.with_norm:
            module.norm.running_mean.normal_(0, 0.3)
            module.norm.running_var.uniform_(0.5, 2.0)
    return module


@pytest.mark.parametrize('low_size,size', [((3, 5), (6, 10)),
                                           ((4, 4), (7, 9))])
@pytest.mark.parametrize('norm_cfg,bias', [(None, True),
                                           (dict(type='BN'), False)])
def test_equals_the_concatenation_then_conv(low_size, size, norm_cfg, bias):
    module = _conv_module(6 + 5 + 4, 7, bias=bias, norm_cfg=norm_cfg)
    layer = UpsampledConcatConv1x1(module, low_channels=4)
    parts = [torch.randn(2, 6, *size), torch.randn(2, 5, *size)]
    low = torch.randn(2, 4, *low_size)
    upsampled = F.interpolate(low, size=size, mode='bilinear',
                              align_corners=False)
    with torch.no_grad():
        expected = module(torch.cat([*parts, upsampled], dim=1))
        out = layer(parts, low)
        one_part = layer([torch.cat(parts, dim=1)], low)
    assert out.shape == (2, 7, *size)
    assert (out == 0).any() and (out > 0).any()  # the ReLU is applied
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(one_part, out)


def test_weights_are_a_snapshot_and_other_modules_are_refused():
    module = _conv_module(6, 3)
    layer = UpsampledConcatConv1x1(module, low_channels=2)
    parts, low = [torch.randn(1, 4, 4, 4)], torch.randn(1, 2, 2, 2)
    with torch.no_grad():
        before = layer(parts, low)
        module.conv.weight.zero_()
        torch.testing.assert_close(layer(parts, low), before)
    assert not layer.state_dict()
    with pytest.raises(ValueError, match='low_channels'):
        UpsampledConcatConv1x1(module, low_channels=6)
    for bad in (ConvModule(6, 3, 3, padding=1), nn.Conv2d(6, 3, 1),
                ConvModule(6, 3, 1, order=('norm', 'conv', 'act'))):
        assert not UpsampledConcatConv1x1.supports(bad)
        with pytest.raises(ValueError, match='1x1'):
            UpsampledConcatConv1x1(bad, low_channels=2)
