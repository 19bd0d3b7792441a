"""Which convolutions (and inputs) the inference layers may re-express."""
import torch
from torch import Tensor, nn

__all__ = ['is_plain_conv', 'is_channels_last']


def is_plain_conv(conv: nn.Module, kernel_size: int) -> bool:
    """Whether ``conv`` is exactly an ``nn.Conv2d`` with a square
    ``kernel_size`` kernel, stride 1, "same" zero padding
    (``kernel_size // 2``), dilation 1 and one group: the convolution that
    the inference layers (Winograd, upsample + conv, the folds) rewrite."""
    return (type(conv) is nn.Conv2d
            and tuple(conv.kernel_size) == (kernel_size, kernel_size)
            and tuple(conv.stride) == (1, 1)
            and tuple(conv.padding) == (kernel_size // 2, ) * 2
            and tuple(conv.dilation) == (1, 1) and conv.groups == 1
            and conv.padding_mode == 'zeros')


def is_channels_last(x: Tensor) -> bool:
    """Whether ``x`` is stored NHWC and not also NCHW-contiguous (as maps of
    one pixel or one channel are): the inputs that the layers' NHWC paths
    take."""
    return not x.is_contiguous() and x.is_contiguous(
        memory_format=torch.channels_last)
