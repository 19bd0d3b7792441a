"""Convolutions on oneDNN-packed weights, for channels-last CPU inputs.

``F.conv2d`` on the CPU hands oneDNN the plain weight at every call, which
oneDNN then reorders into its blocked layout: in a channels-last CRIS-R50
forward on 2 AVX-512 cores those weight reorders take ~11 ms (the 1x1
convolutions of 13x13 and 26x26 maps most: 2048 -> 512 channels at 13x13,
2.2 ms through ``F.conv2d``, 1.6 ms on the packed weight). Packing needs the
input's size, so it happens at the first call with each input shape
(``torch.ops.mkldnn._reorder_convolution_weight``, what inductor does when
it freezes a graph); the packed copies of the last few shapes are kept.
Outputs are bit-identical to ``F.conv2d``'s on channels-last inputs.

As in :mod:`.packed_linear`, the packed weights are opaque oneDNN tensors:
plain attributes, not buffers, dropped on deep copy or pickling (a copy packs
its own), and the packing snapshots the weight. Other inputs (NCHW, another
device or dtype, autocast, gradients wanted) take ``F.conv2d``.
"""
from collections import OrderedDict
from typing import Callable, Hashable, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .packed_linear import _packable, _PacksWeights, _runs_packed
from .plain_conv import is_channels_last

__all__ = ['PackedConv2d']


def _packed_for_shape(cache: OrderedDict,
                      shape: torch.Size,
                      weight: Callable[[], Tensor],
                      padding: List[int],
                      stride: List[int],
                      dilation: List[int],
                      groups: int,
                      max_shapes: int,
                      key: Optional[Hashable] = None) -> Tensor:
    """A convolution weight packed by oneDNN for inputs of ``shape``, kept
    in ``cache`` (key -> packed weight, the last ``max_shapes`` keys used).

    Args:
        cache (OrderedDict): The layer's packed weights, updated.
        shape (torch.Size): The input's shape.
        weight (Callable[[], Tensor]): Gives the plain (C_out, C_in / groups,
            kH, kW) weight; called only when ``key`` is not cached.
        padding (list[int]): The convolution's padding.
        stride (list[int]): Its stride.
        dilation (list[int]): Its dilation.
        groups (int): Its groups.
        max_shapes (int): Keys kept; the least recently packed goes.
        key (Hashable, optional): The cache key, for layers that pack
            several weights per input shape. Defaults to None (``shape``).

    Returns:
        Tensor: The packed weight, an opaque oneDNN tensor.
    """
    key = shape if key is None else key
    packed = cache.get(key)
    if packed is None:
        packed = torch.ops.mkldnn._reorder_convolution_weight(
            weight(), padding, stride, dilation, groups, list(shape))
        cache[key] = packed
        if len(cache) > max_shapes:
            cache.popitem(last=False)
    return packed


class PackedConv2d(_PacksWeights):
    """``nn.Conv2d`` run by oneDNN on a weight packed once per input shape
    (see the module docstring); shares ``conv``'s parameters.

    Args:
        conv (nn.Conv2d): A zero-padded convolution with numeric padding.
    """

    _packed_names = ('packed_weights', )

    #: Input shapes whose packed weights are kept.
    max_shapes = 4

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if not self.supports(conv):
            raise ValueError('PackedConv2d needs a zero-padded nn.Conv2d '
                             f'with numeric padding and fp32 CPU weights, '
                             f'got {conv}')
        self.in_channels = conv.in_channels
        self.out_channels = conv.out_channels
        self.kernel_size = conv.kernel_size
        self.stride = list(conv.stride)
        self.padding = list(conv.padding)
        self.dilation = list(conv.dilation)
        self.groups = conv.groups
        self.weight = conv.weight
        self.bias = conv.bias
        self._pack_weights()

    @staticmethod
    def supports(conv: nn.Module) -> bool:
        """Whether ``conv`` is an ``nn.Conv2d`` this layer can run."""
        return (type(conv) is nn.Conv2d and conv.padding_mode == 'zeros'
                and not isinstance(conv.padding, str)
                and _packable(conv.weight))

    def _pack_weights(self) -> None:
        # Filled per input shape by forward.
        self.packed_weights = OrderedDict()

    def _packed_for(self, shape: torch.Size) -> Tensor:
        return _packed_for_shape(self.packed_weights, shape,
                                 self.weight.detach, self.padding,
                                 self.stride, self.dilation, self.groups,
                                 self.max_shapes)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C_out, H', W'), channels-last in and out
        on the packed path."""
        if (x.dim() != 4 or not is_channels_last(x)
                or not _runs_packed(x, self.weight, self.packed_weights)):
            return F.conv2d(x, self.weight, self.bias, self.stride,
                            self.padding, self.dilation, self.groups)
        return torch.ops.mkldnn._convolution_pointwise(
            x, self._packed_for(x.shape), self.bias, self.padding,
            self.stride, self.dilation, self.groups, 'none', [], '')

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, '
                f'kernel_size={tuple(self.kernel_size)}, '
                f'stride={tuple(self.stride)}, '
                f'padding={tuple(self.padding)}')
