"""The exportable layer forms compute what the layers compute."""
import pytest
import torch
from mmseg.models.backbones.swin import ShiftWindowMSA
from torch import nn

from mmrefseg.deploy.exportable_layers import (exportable_layers,
                                               unfolded_dynamic_conv2d)
from mmrefseg.models.layers import DynamicConv2d, dynamic_conv2d


@pytest.mark.parametrize('kernel_size, num_kernels', [(3, 1), (1, 4)])
def test_unfolded_dynamic_conv_equals_the_grouped_one(kernel_size,
                                                      num_kernels):
    generator = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 5, 7, 6, generator=generator)
    kernels = torch.randn(
        3, num_kernels, 5 * kernel_size**2 + 1, generator=generator)
    expected = dynamic_conv2d(feats, kernels, kernel_size)
    torch.testing.assert_close(
        unfolded_dynamic_conv2d(feats, kernels, kernel_size), expected)


def test_window_reverse_and_restoring_the_layers():
    attn = ShiftWindowMSA(embed_dims=8, num_heads=2, window_size=2)
    conv = DynamicConv2d(4)
    model = nn.ModuleList([attn, conv])
    windows = torch.randn(2 * 6, 2, 2, 8)  # 2 maps of 4 x 6, 2 x 2 windows
    expected = attn.window_reverse(windows, 4, 6)
    with exportable_layers(model):
        assert 'window_reverse' in vars(attn) and 'forward' in vars(conv)
        torch.testing.assert_close(
            attn.window_reverse(windows, 4, 6), expected, rtol=0, atol=0)
    assert 'window_reverse' not in vars(attn) and 'forward' not in vars(conv)
