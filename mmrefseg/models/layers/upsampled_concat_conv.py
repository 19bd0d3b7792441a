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

On channels-last CPU inputs the two 1x1 convolutions are matrix products of
the pixel-major maps, which run on oneDNN-packed weights once
:meth:`UpsampledConcatConv1x1.pack_weights` packed them (what
``optimize_for_inference`` does on AVX-512 CPUs) instead of weights that
``F.conv2d`` hands oneDNN to reorder at every call.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from .packed_linear import (_pack, _packable, _packed_linear, _PacksProducts,
                            _runs_packed)
from .plain_conv import is_channels_last, is_plain_conv

__all__ = ['UpsampledConcatConv1x1']


class UpsampledConcatConv1x1(_PacksProducts):
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

    _packed_names = ('packed_weights', )

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
        self._pack_weights()  # packed_weights = None until pack_weights

    @staticmethod
    def supports(conv_module: nn.Module) -> bool:
        """Whether ``conv_module`` is a module this layer can replace."""
        if not isinstance(conv_module, ConvModule) or tuple(
                conv_module.order) != ('conv', 'norm', 'act'):
            return False
        return is_plain_conv(conv_module.conv, 1)

    def _packed_products(self, rows: int) -> Optional[List[Tensor]]:
        """The full- and low-resolution weights, (C_out, C) each, packed."""
        if not _packable(self.weight):
            return None
        return [
            _pack(weight.flatten(1), rows)
            for weight in (self.weight, self.low_weight)
        ]

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
        if is_channels_last(x) and is_channels_last(low) and _runs_packed(
                x, self.weight, self.packed_weights):
            low = _conv1x1_packed(low, self.packed_weights[1])
            out = _conv1x1_packed(x, self.packed_weights[0], self.bias)
        else:
            low = F.conv2d(low, self.low_weight.to(low.dtype))
            out = F.conv2d(
                x, self.weight.to(x.dtype),
                None if self.bias is None else self.bias.to(x.dtype))
        out += F.interpolate(
            low, size=x.shape[-2:], mode='bilinear', align_corners=False)
        if self.norm is not None:
            out = self.norm(out)
        if self.activate is not None:
            out = self.activate(out)
        return out


def _conv1x1_packed(x: Tensor,
                    packed: Tensor,
                    bias: Optional[Tensor] = None) -> Tensor:
    """A 1x1 convolution of a channels-last (B, C_in, H, W) map as the
    product of its (B * H * W, C_in) pixels with a packed weight:
    (B, C_out, H, W), channels-last."""
    out = _packed_linear(x.permute(0, 2, 3, 1), packed, bias)
    return out.permute(0, 3, 1, 2)
