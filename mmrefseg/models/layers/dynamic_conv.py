"""Per-sample (and per-query) dynamic convolution.

Every sample carries its own ``Nk`` kernels, predicted from language: CRIS
predicts one kernel per sentence (``Nk = 1``), EAVL's multi-mask generator one
per query (``Nk = Nq``). All kernels of all samples run as ONE grouped
convolution: the batch is folded into the channels and each sample is a group.

For inference, :meth:`DynamicConv2d.fold_input_projection` absorbs the 1x1
convolution that makes the features (CRIS's ``proj.vis.4``, EAVL's mask
upsampler): ``K * (P x + b) = (K P) * x + K * b``, so the full-resolution
``C x C`` product becomes a ``Nk x C x C x K x K`` product on the kernels;
that path computes the convolution per kernel tap with one batched matrix
product.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .plain_conv import is_plain_conv

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
        # Set by fold_input_projection (inference); not in the state dict.
        self.register_buffer('input_weight', None, persistent=False)
        self.register_buffer('input_bias', None, persistent=False)

    def fold_input_projection(self, conv: nn.Conv2d) -> None:
        """Absorbs ``conv``, a 1x1 convolution applied to the features just
        before this layer, for inference: afterwards ``forward(x, kernels)``
        equals the former ``forward(conv(x), kernels)`` up to float
        rounding, with ``x`` of ``conv.in_channels`` channels.

        The weights are copied now; later changes to ``conv`` are not seen.

        Args:
            conv (nn.Conv2d): 1x1, stride 1, ungrouped, ``in_channels``
                outputs.
        """
        if self.input_weight is not None:
            raise RuntimeError('DynamicConv2d already folds an input '
                               'projection')
        if not (is_plain_conv(conv, 1)
                and conv.out_channels == self.in_channels):
            raise ValueError('fold_input_projection needs a 1x1, stride 1, '
                             f'ungrouped Conv2d with {self.in_channels} '
                             f'outputs, got {conv}')
        weight = conv.weight.detach()[:, :, 0, 0].clone()
        bias = conv.bias.detach().clone() if conv.bias is not None else \
            weight.new_zeros(weight.shape[0])
        self.input_weight, self.input_bias = weight, bias

    @property
    def num_params(self) -> int:
        """int: Numbers per kernel, ``C * K * K + 1`` (weights and bias)."""
        return self.in_channels * self.kernel_size**2 + 1

    def forward(self, feats: Tensor, kernels: Tensor) -> Tensor:
        """See :func:`dynamic_conv2d`: (B, C, H, W), (B, Nk, C*K*K+1) ->
        (B, Nk, H, W); with a folded input projection ``feats`` has that
        projection's input channels."""
        if self.input_weight is None:
            return dynamic_conv2d(feats, kernels, self.kernel_size)
        return self._forward_folded(feats, kernels)

    def _forward_folded(self, feats: Tensor, kernels: Tensor) -> Tensor:
        """``dynamic_conv2d(P x + b, kernels)``, computed per kernel tap.

        For tap ``t`` of kernel ``w``, ``w_t . (P x + b) = (w_t P) . x +
        w_t . b``: one batched (Nk K^2 x C_in) @ (C_in x HW) product gives
        every tap map, and zero-padded shifted sums of the tap maps give the
        convolution. The constant ``w_t . b`` then drops out exactly where
        the tap falls on the zero padding. Also faster than the grouped
        convolution, whose single output channel per group oneDNN runs at a
        few GMAC/s (CRIS, 256 x 104 x 104: 9.5 -> 2.0 ms on 2 CPU cores).
        """
        size, pad = self.kernel_size, self.kernel_size // 2
        _check_kernels(kernels, feats.shape[0], self.in_channels, size)
        batch, num_kernels, _ = kernels.shape
        height, width = feats.shape[-2:]
        kernels = kernels.to(feats.dtype)
        # (B, Nk, K, K, C): tap-major, as the rows of the tap product.
        weight = kernels[..., :-1].reshape(batch, num_kernels,
                                           self.in_channels, size,
                                           size).permute(0, 1, 3, 4, 2)
        tap_weight = torch.matmul(weight, self.input_weight.to(feats.dtype))
        tap_bias = torch.matmul(weight, self.input_bias.to(feats.dtype))
        taps = torch.baddbmm(
            tap_bias.reshape(batch, -1, 1),
            tap_weight.reshape(batch, num_kernels * size * size, -1),
            feats.flatten(2))
        taps = F.pad(
            taps.view(batch, num_kernels, size, size, height, width),
            (pad, pad, pad, pad))
        out = kernels[..., -1, None, None].expand(batch, num_kernels, height,
                                                  width).clone()
        for y in range(size):
            for x in range(size):
                out += taps[:, :, y, x, y:y + height, x:x + width]
        return out
