"""Per-sample (and per-query) dynamic convolution.

Every sample carries its own ``Nk`` kernels, predicted from language: CRIS
predicts one kernel per sentence (``Nk = 1``), EAVL's multi-mask generator one
per query (``Nk = Nq``). All kernels of all samples run as ONE grouped
convolution: the batch is folded into the channels and each sample is a group.
"""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

__all__ = ['dynamic_conv2d', 'DynamicConv2d']


def _check_kernels(kernels: Tensor, batch: int, channels: int,
                   kernel_size: int) -> None:
    """Raises if ``kernels`` is not (B, Nk, C * K * K + 1)."""
    if kernels.dim() != 3 or kernels.shape[0] != batch:
        raise ValueError(f'kernels must be (B={batch}, Nk, '
                         f'{channels}*{kernel_size}*{kernel_size}+1), got '
                         f'{tuple(kernels.shape)}')
    expected = channels * kernel_size * kernel_size + 1
    if kernels.shape[-1] != expected:
        raise ValueError(f'kernels must have C*K*K+1 = {expected} values '
                         f'each for C={channels}, K={kernel_size}, got '
                         f'{kernels.shape[-1]}')


def dynamic_conv2d(feats: Tensor, kernels: Tensor,
                   kernel_size: int = 3) -> Tensor:
    """Convolves each sample's features with that sample's own kernels.

    Args:
        feats (Tensor): (B, C, H, W).
        kernels (Tensor): (B, Nk, C * K * K + 1): per kernel, the weights in
            (C, K, K) order followed by one bias.
        kernel_size (int): K, odd; padding ``K // 2`` keeps the size.
            Defaults to 3.

    Returns:
        Tensor: (B, Nk, H, W).
    """
    batch, channels, height, width = feats.shape
    _check_kernels(kernels, batch, channels, kernel_size)
    num_kernels = kernels.shape[1]
    kernels = kernels.to(feats.dtype)
    weight = kernels[..., :-1].reshape(batch * num_kernels, channels,
                                       kernel_size, kernel_size)
    bias = kernels[..., -1].reshape(batch * num_kernels)
    out = F.conv2d(
        feats.reshape(1, batch * channels, height, width),
        weight,
        bias,
        padding=kernel_size // 2,
        groups=batch)
    return out.view(batch, num_kernels, height, width)


class DynamicConv2d(nn.Module):
    """Module form of :func:`dynamic_conv2d` (no parameters of its own).

    Args:
        in_channels (int): Channels C of the features (and of the kernels).
        kernel_size (int): K. Defaults to 3.
    """

    def __init__(self, in_channels: int, kernel_size: int = 3):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.in_channels = in_channels
        self.kernel_size = kernel_size

    @property
    def num_params(self) -> int:
        """int: Numbers per kernel, ``C * K * K + 1`` (weights and bias)."""
        return self.in_channels * self.kernel_size**2 + 1

    def forward(self, feats: Tensor, kernels: Tensor) -> Tensor:
        """See :func:`dynamic_conv2d`: (B, C, H, W), (B, Nk, C*K*K+1) ->
        (B, Nk, H, W)."""
        return dynamic_conv2d(feats, kernels, self.kernel_size)
