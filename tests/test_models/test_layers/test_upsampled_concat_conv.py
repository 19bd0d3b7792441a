import copy
import pickle

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


@pytest.mark.parametrize('clone', [copy.deepcopy,
                                   lambda m: pickle.loads(pickle.dumps(m))])
def test_packed_weights_keep_the_outputs(clone):
    """Channels-last maps run the two 1x1 convolutions on the packed
    weights (the plain ones are not read), copies pack their own, and other
    inputs fall back to the plain weights."""
    module = _conv_module(6 + 4, 5, norm_cfg=dict(type='BN'), bias=False)
    layer = UpsampledConcatConv1x1(module, low_channels=4)
    nhwc = dict(memory_format=torch.channels_last)
    parts = [torch.randn(2, 6, 6, 10).contiguous(**nhwc)]
    low = torch.randn(2, 4, 3, 5).contiguous(**nhwc)
    with torch.no_grad():
        expected = layer(parts, low)
        assert layer.pack_weights()
        copied = clone(layer)
        plain = (layer.weight.clone(), layer.low_weight.clone())
        layer.weight.fill_(float('nan'))
        layer.low_weight.fill_(float('nan'))
        out = layer(parts, low)
        copied_out = copied(parts, low)
        layer.weight.copy_(plain[0])
        layer.low_weight.copy_(plain[1])
        nchw = layer([parts[0].contiguous()], low.contiguous())
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert out.is_contiguous(**nhwc)
    assert copied.packed_weights is not None
    assert copied.packed_weights[0] is not layer.packed_weights[0]
    torch.testing.assert_close(copied_out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(nchw, expected, atol=1e-5, rtol=1e-5)
