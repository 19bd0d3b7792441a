"""conv3x3(bilinear 2x upsampling(x)), evaluated at the input resolution.

A 3x3 convolution W (zero padding 1) of the bilinearly 2x-upsampled map
``U(x)`` (``align_corners=False``) costs ``9 * C_in * C_out`` multiply-adds
per OUTPUT pixel. Channel mixing commutes with the (per-channel, spatial)
upsampling, so with ``W_t`` the ``C_out x C_in`` matrix of tap
``t = (ty, tx)``::

    conv_W(U(x)) = sum_t shift_t(U(W_t x))

and the nine products ``Z_t = W_t x`` are computed at the INPUT resolution,
as one ``(9 C_out) x C_in`` matrix product: a quarter of the multiply-adds.
What is left is spatial: each output pixel ``(2i + p, 2j + q)`` is a fixed
combination of the nine tap maps at ``(i + a, j + b)``, ``a, b in {-1, 0, 1}``
with the bilinear weights 3/4 and 1/4, done separably (columns, then rows).
The bilinear clamp at the borders and the convolution's zero padding both
become padding samples of the tap maps, set per output phase.
The result equals the direct computation up to float rounding (and is
closer to a float64 evaluation, since each sum is shorter).

CRIS's projector upsamples twice and convolves after each upsampling: this
removes 3/4 of its 19 GMACs at 416 x 416 input.
"""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .plain_conv import is_plain_conv
from .row_aligned import row_aligned_empty

__all__ = ['BilinearUpsampleConv3x3']

# _TAP_WEIGHTS[p][t] lists (offset, weight) of the low-resolution samples
# that the upsampled pixel 2i + p + t (t = -1, 0, 1) interpolates, offsets
# relative to i: U(z)[2m] = 3/4 z[m] + 1/4 z[m-1], U(z)[2m+1] = 3/4 z[m] +
# 1/4 z[m+1].
_TAP_WEIGHTS = (
    ((-1, .75), (0, .25)), ((0, .75), (-1, .25)), ((0, .75), (1, .25)),
), (
    ((0, .75), (-1, .25)), ((0, .75), (1, .25)), ((1, .75), (0, .25)),
)


class BilinearUpsampleConv3x3(nn.Module):
    """``conv(F.interpolate(x, scale_factor=2, mode='bilinear'))`` computed
    with a quarter of the multiply-adds (see the module docstring).

    Built from a trained convolution for inference: the tap matrix is a copy
    of its weights taken now (later changes to ``conv`` are not seen).

    Args:
        conv (nn.Conv2d): A 3x3, stride 1, padding 1, dilation 1, ungrouped
            convolution with zero padding.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if not self.supports(conv):
            raise ValueError('BilinearUpsampleConv3x3 needs a 3x3, stride 1, '
                             'padding 1, ungrouped, zero-padded Conv2d, got '
                             f'{conv}')
        weight = conv.weight.detach()
        self.in_channels = conv.in_channels
        self.out_channels = conv.out_channels
        # Rows ordered (out channel, ty, tx): one matrix product gives every
        # tap map of every output channel.
        self.register_buffer(
            'tap_weight',
            weight.permute(0, 2, 3, 1).reshape(-1, conv.in_channels).clone(),
            persistent=False)
        bias = None if conv.bias is None else conv.bias.detach().clone()
        self.register_buffer('bias', bias, persistent=False)

    @staticmethod
    def supports(conv: nn.Module) -> bool:
        """Whether ``conv`` is a convolution this layer can replace."""
        return is_plain_conv(conv, 3)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, h, w) -> (B, C_out, 2h, 2w)."""
        batch, _, height, width = x.shape
        channels = self.out_channels
        # The tap maps are linear per pixel: padding the (fewer) input
        # channels pads them; _set_padding then adapts the padding per phase.
        x = F.pad(x, (1, 1, 1, 1), mode='replicate')
        pixels = (height + 2) * (width + 2)
        taps = torch.bmm(
            self.tap_weight.to(x.dtype).expand(batch, -1, -1),
            x.reshape(batch, -1, pixels),
            out=row_aligned_empty(batch, 9 * channels, pixels, like=x))
        taps = taps.view(batch, channels, 3, 3, height + 2, width + 2)
        # Columns first: (B, C, ty, q, h + 2, w) per column phase q.
        cols = taps.new_empty(batch, channels, 3, 2, height + 2, width)
        for q in (0, 1):
            _set_padding(taps, q, tap_dim=3, dim=-1)
            _combine(cols[:, :, :, q], taps, q, tap_dim=3, dim=-1)
        # Then rows, straight into out[b, c, 2i + p, 2j + q].
        out = taps.new_empty(batch, channels, 2 * height, 2 * width)
        phases = out.view(batch, channels, height, 2, width, 2)
        for p in (0, 1):
            _set_padding(cols, p, tap_dim=2, dim=-2)
            for q in (0, 1):
                _combine(phases[:, :, :, p, :, q], cols[:, :, :, q], p,
                         tap_dim=2, dim=-2)
        if self.bias is not None:
            out += self.bias.to(x.dtype)[:, None, None]
        return out

    def extra_repr(self) -> str:
        return f'{self.in_channels}, {self.out_channels}'


def _set_padding(maps: Tensor, phase: int, tap_dim: int, dim: int) -> None:
    """Sets the padding samples of ``maps`` along ``dim`` for ``phase``.

    Both output phases read the upsampled map one sample beyond its edge
    through their outer tap (phase 0: tap -1 before the first sample,
    phase 1: tap +1 after the last), where the convolution pads with zeros:
    that padding sample is set to -1/3 of its neighbour, which the bilinear
    weights 3/4 and 1/4 cancel. Every other read beyond the edge is the
    bilinear clamp: a copy of the neighbour.
    """
    size = maps.shape[dim]
    before = maps.select(tap_dim, 0)
    after = maps.select(tap_dim, 2)
    zero_before, zero_after = (-1 / 3, 1.) if phase == 0 else (1., -1 / 3)
    torch.mul(before.narrow(dim, 1, 1), zero_before,
              out=before.narrow(dim, 0, 1))
    torch.mul(after.narrow(dim, size - 2, 1), zero_after,
              out=after.narrow(dim, size - 1, 1))


def _combine(out: Tensor, maps: Tensor, phase: int, tap_dim: int,
             dim: int) -> None:
    """Writes into ``out`` the sum of the three taps of ``tap_dim`` for
    output ``phase`` along ``dim`` (negative), where ``maps`` carries one
    sample of padding on each side."""
    size = maps.shape[dim] - 2
    first = True
    for tap, weights in enumerate(_TAP_WEIGHTS[phase]):
        tap_maps = maps.select(tap_dim, tap)
        for offset, weight in weights:
            window = tap_maps.narrow(dim, 1 + offset, size)
            if first:
                torch.mul(window, weight, out=out)
                first = False
            else:
                out.add_(window, alpha=weight)
