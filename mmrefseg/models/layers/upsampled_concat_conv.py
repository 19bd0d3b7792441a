"""conv1x1(cat([x, upsample(low)])), with ``low``'s share at low resolution.

A 1x1 convolution of a channel concatenation is a sum of 1x1 convolutions of
the parts, and a 1x1 convolution (channel mixing) commutes with bilinear
resizing (per channel, weights summing to one)::

    W [x; up(low)] + b = W_x x + up(W_low low) + b

so the upsampled part is mixed at its own, lower, resolution and never
upsampled at its full width. In CRIS's neck (``f2_cat``: 512 + 1024 -> 512,
``aggr``: 1024 + 512 -> 512, at H/16 with the upsampled part from H/32) this
removes the upsampling of 1536 channels, two concatenations and 0.4 of the
1.06 GMACs at 416 x 416 input.
"""
from typing import Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from .plain_conv import is_plain_conv

__all__ = ['UpsampledConcatConv1x1']


class UpsampledConcatConv1x1(nn.Module):
    """``conv_module(torch.cat([*parts, resize(low, parts)], dim=1))``
    computed with ``low``'s share of the 1x1 convolution before the bilinear
    resizing (see the module docstring).

    Built from a trained module for inference: the weight slices are copied
    now (later changes to ``conv_module`` are not seen); its norm and
    activation layers are kept and run after the sum.

    Args:
        conv_module (ConvModule): A ``conv -> norm -> act`` module whose conv
            is a 1x1, stride 1, unpadded, ungrouped ``nn.Conv2d``.
        low_channels (int): Channels of the upsampled (last) part.
    """

    def __init__(self, conv_module: ConvModule, low_channels: int):
        super().__init__()
        if not self.supports(conv_module):
            raise ValueError('UpsampledConcatConv1x1 needs a ConvModule '
                             "ordered ('conv', 'norm', 'act') around a 1x1, "
                             'stride 1, unpadded, ungrouped Conv2d, got '
                             f'{conv_module}')
        conv = conv_module.conv
        if not 0 < low_channels < conv.in_channels:
            raise ValueError(f'low_channels must be in (0, '
                             f'{conv.in_channels}), got {low_channels}')
        weight = conv.weight.detach()
        split = conv.in_channels - low_channels
        self.register_buffer(
            'weight', weight[:, :split].contiguous(), persistent=False)
        self.register_buffer(
            'low_weight', weight[:, split:].contiguous(), persistent=False)
        bias = None if conv.bias is None else conv.bias.detach().clone()
        self.register_buffer('bias', bias, persistent=False)
        self.norm = conv_module.norm if conv_module.with_norm else None
        self.activate = (conv_module.activate
                         if conv_module.with_activation else None)

    @staticmethod
    def supports(conv_module: nn.Module) -> bool:
        """Whether ``conv_module`` is a module this layer can replace."""
        if not isinstance(conv_module, ConvModule) or tuple(
                conv_module.order) != ('conv', 'norm', 'act'):
            return False
        return is_plain_conv(conv_module.conv, 1)

    def forward(self, parts: Sequence[Tensor], low: Tensor) -> Tensor:
        """Convolves ``[*parts, resize(low)]`` along channels.

        Args:
            parts (Sequence[Tensor]): Full-resolution (B, C_i, H, W) maps,
                concatenated in this order.
            low (Tensor): (B, low_channels, h, w), bilinearly resized to
                (H, W) (``align_corners=False``) as the last part.

        Returns:
            Tensor: (B, C_out, H, W).
        """
        x = parts[0] if len(parts) == 1 else torch.cat(list(parts), dim=1)
        low = F.conv2d(low, self.low_weight.to(low.dtype))
        out = F.conv2d(x, self.weight.to(x.dtype),
                       None if self.bias is None else self.bias.to(x.dtype))
        out += F.interpolate(
            low, size=x.shape[-2:], mode='bilinear', align_corners=False)
        if self.norm is not None:
            out = self.norm(out)
        if self.activate is not None:
            out = self.activate(out)
        return out
