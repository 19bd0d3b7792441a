"""conv3x3(bilinear 2x upsampling(x)), evaluated at the input resolution.

A 3x3 convolution W (zero padding 1) of the bilinearly 2x-upsampled map
``U(x)`` (``align_corners=False``) costs ``9 * C_in * C_out`` multiply-adds
per OUTPUT pixel. Both steps are linear and shift-invariant per channel, and
bilinear upsampling is zero insertion followed by the separable filter
``u = [1, 3, 3, 1] / 4``, so (away from the borders)::

    conv_W(U(x)) = u * (W * (x with zeros inserted))

Channel mixing then happens before the filter, on the zero-inserted map,
where each output phase (row parity a, column parity b) of ``W * .`` only
meets some taps (a polyphase split of the kernel), all at the INPUT
resolution:

* ``P_ee = W[1,1] x``                        (1 tap)
* ``P_eo = W[1,0] x + W[1,2] x(j + 1)``      (1 x 2 kernel)
* ``P_oe = W[0,1] x + W[2,1] x(i + 1)``      (2 x 1 kernel)
* ``P_oo``: ``W[0,0], W[0,2], W[2,0], W[2,2]`` (2 x 2 kernel)

Nine ``C_out x C_in`` products per input pixel, a quarter of the direct
cost. Winograd's F(2, 2) computes two outputs of a 2-tap kernel (A, B),
``A a + B b`` and ``A b + B c``, from three products, ``m0 = A (a - b)``,
``m1 = (A + B) b``, ``m2 = B (c - b)``, as ``m0 + m1`` and ``m1 + m2``:
1.5 products per output for the 2-tap kernels, 2.25 for the 2 x 2 one,
6.25 in all, as three batched matrix products (ee; eo and oe; oo). The
filter ``u`` and the Winograd output sums are element-wise passes, done
separably (columns, then rows).

Borders: ``x`` is replicate-padded, which is exactly the bilinear clamp.
The convolution's zero padding differs from the clamped extension on the
one-pixel ring around ``U(x)``; its contribution is removed from the four
border lines of the output by four 1-D versions of the same computation
(3 taps each, on the first / last row and column of ``x``).

The result equals the direct computation up to float rounding (~10x closer
to a float64 evaluation than the direct fp32 convolution: the sums are
shorter). CRIS's projector upsamples twice and convolves after each
upsampling: 19.2 GMACs at 416 x 416 input become 3.9 (5.3 with nine
products per pixel).

Layout: the maps are kept pixel-major (B, H, W, C), so that each product is
(pixels x C_in) @ (C_in x C_out) and the element-wise passes run along
contiguous channel vectors; the output is channels-last for a channels-last
input. On CRIS's projector (2 AMD EPYC Zen 4 cores) MKL runs those products
at 163-203 GFLOP/s against 133-175 channel-major, and oneDNN on kernels
packed once (:meth:`BilinearUpsampleConv3x3.pack_weights`, what
``optimize_for_inference`` does on AVX-512 CPUs) at 210-226.
"""
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .packed_linear import (_pack, _packable, _packed_linear, _PacksProducts,
                            _runs_packed)
from .plain_conv import is_channels_last, is_plain_conv
from .row_aligned import row_padded
from .scratch import scratch

__all__ = ['BilinearUpsampleConv3x3']

# F(2, 2) kernel transform: a 2-tap kernel (A, B) -> (A, A + B, B).
_PAIR = ((1., 0.), (1., 1.), (0., 1.))


class BilinearUpsampleConv3x3(_PacksProducts):
    """``conv(F.interpolate(x, scale_factor=2, mode='bilinear'))`` computed
    with 6.25 / 36 of the multiply-adds (see the module docstring).

    Built from a trained convolution for inference: the kernels are
    derived from its weights now (later changes to ``conv`` are not seen).

    Args:
        conv (nn.Conv2d): A 3x3, stride 1, padding 1, dilation 1, ungrouped
            convolution with zero padding.
    """

    _packed_names = ('packed_kernels', )

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if not self.supports(conv):
            raise ValueError('BilinearUpsampleConv3x3 needs a 3x3, stride 1, '
                             'padding 1, ungrouped, zero-padded Conv2d, got '
                             f'{conv}')
        self.in_channels = conv.in_channels
        self.out_channels = conv.out_channels
        weight = conv.weight.detach().double()  # (C_out, C_in, ty, tx)
        taps = weight.permute(2, 3, 0, 1)  # (ty, tx, C_out, C_in)
        pair = torch.tensor(
            _PAIR, dtype=torch.float64, device=weight.device)
        ends = taps[0::2]  # (2: ty 0, 2, 3: tx, C_out, C_in)
        kernels = torch.cat([
            taps[1, 1][None],  # ee
            # eo (pairs along columns) then oe (pairs along rows).
            torch.einsum('kt,toi->koi', pair, taps[1, 0::2]),
            torch.einsum('kt,toi->koi', pair, taps[0::2, 1]),
            # oo: F(2, 2) along rows (a) and columns (b).
            torch.einsum('ar,bc,rcoi->aboi', pair, pair,
                         ends[:, 0::2]).flatten(0, 1)
        ])
        # (16, C_in, C_out): the right operands of the pixel-major products.
        self.register_buffer(
            'kernels',
            row_padded(kernels.transpose(1, 2).float()),
            persistent=False)
        # (4, 3 * C_out, C_in): the border lines' 3 taps, first / last
        # kernel row, then first / last kernel column.
        self.register_buffer(
            'border_kernels',
            torch.stack([taps[0], taps[2], taps[:, 0],
                         taps[:, 2]]).flatten(1, 2).float().contiguous(),
            persistent=False)
        bias = None if conv.bias is None else conv.bias.detach().clone()
        self.register_buffer('bias', bias, persistent=False)
        self._pack_weights()  # packed_kernels = None until pack_weights

    @staticmethod
    def supports(conv: nn.Module) -> bool:
        """Whether ``conv`` is a convolution this layer can replace."""
        return is_plain_conv(conv, 3)

    def _packed_products(self, rows: int) -> Optional[List[Tensor]]:
        """The 16 products' kernels, then the 4 border kernels, packed."""
        if not _packable(self.kernels):
            return None
        products = [_pack(kernel.t().contiguous(), rows)
                    for kernel in self.kernels]
        borders = [_pack(kernel, rows) for kernel in self.border_kernels]
        return products + borders

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, h, w) -> (B, C_out, 2h, 2w), channels-last if ``x``
        is."""
        if x.device.type == 'cpu' and torch.compiler.is_compiling():
            # Inductor's CPU loops for the strided phase writes are slower
            # than these hand-ordered passes (CRIS's projector: 133 vs
            # 72 ms); on a GPU the passes fuse into the graph.
            return _eager_forward(self, x)
        return self._forward(x)

    def _forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        # The polyphase maps live on the replicate-padded grid, rounded up
        # to whole F(2, 2) pairs (the extra sample is never read back).
        rows, cols = height + 2 + height % 2, width + 2 + width % 2
        padded = _replicate_padded(x, rows, cols)
        products = self._products(self._transformed_inputs(padded))
        maps = _polyphase_maps(products, batch, rows, cols)
        out = x.new_empty(batch, 2 * height, 2 * width, self.out_channels)
        _upsample_filter(maps, out, height, width)
        if self.bias is not None:
            out += self.bias.to(x.dtype)
        out = out.permute(0, 3, 1, 2)
        self._remove_border_padding(x, out)
        # The input's memory format, as a convolution keeps it.
        return out if is_channels_last(x) else out.contiguous()

    @staticmethod
    def _transformed_inputs(padded: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """F(2, 2) input transforms of the padded (B, rows, cols, C_in)
        grid: the (1, N, C_in) centre inputs (the grid itself), the
        (6, N / 2, C_in) pair inputs (3 along columns, 3 along rows) and the
        (9, N / 4, C_in) corner inputs, N = B * rows * cols."""
        batch, rows, cols, channels = padded.shape
        pairs = scratch('upsample_conv_pairs',
                        (6, padded.numel() // (2 * channels), channels),
                        like=padded)
        along_cols = pairs[:3].view(3, batch, rows, cols // 2, channels)
        _pair_transform(padded, along_cols, dim=-2)
        _pair_transform(
            padded, pairs[3:].view(3, batch, rows // 2, cols, channels),
            dim=-3)
        corners = scratch('upsample_conv_corners',
                          (9, pairs.shape[1] // 2, channels), like=padded)
        _pair_transform(
            along_cols,
            corners.view(3, 3, batch, rows // 2, cols // 2, channels),
            dim=-3)
        return padded.view(1, -1, channels), pairs, corners

    def _products(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """The 16 products of the (P, n, C_in) input groups with the
        kernels, in order: each (n, C_out). Through the packed kernels
        where they apply, else one batched product per group."""
        products, start = [], 0
        for group in inputs:
            kernels = self.kernels[start:start + len(group)]
            if _runs_packed(group, self.kernels, self.packed_kernels):
                products += [
                    _packed_linear(x, packed)
                    for x, packed in zip(group, self.packed_kernels[start:])
                ]
            else:
                products += torch.bmm(group,
                                      kernels.to(group.dtype)).unbind(0)
            start += len(group)
        return products

    def _remove_border_padding(self, x: Tensor, out: Tensor) -> None:
        """Subtracts, on the output's border lines, what the clamped ring
        around ``U(x)`` contributed where the convolution reads zeros.

        Pixel-major (B, n, C) lines throughout, so that every element-wise
        step runs along contiguous channel vectors of ``out``'s NHWC
        memory."""
        pixels = x.permute(0, 2, 3, 1)  # (B, h, w, C_in)
        out = out.permute(0, 2, 3, 1)  # (B, 2h, 2w, C_out), NHWC memory
        lines = ((pixels[:, 0], out[:, 0]), (pixels[:, -1], out[:, -1]),
                 (pixels[:, :, 0], out[:, :, 0]), (pixels[:, :, -1],
                                                   out[:, :, -1]))
        for index, (x_line, out_line) in enumerate(lines):
            batch, size, _ = x_line.shape
            # (B * (n + 2), C_in): the line, replicate-padded.
            padded = torch.cat([x_line[:, :1], x_line, x_line[:, -1:]],
                               dim=1).view(-1, self.in_channels)
            # (B, n + 2, 3 taps, C_out)
            taps = self._border_taps(padded, index).view(
                batch, size + 2, 3, self.out_channels)
            pairs = taps[:, :size + 1, 0] + taps[:, 1:, 2]
            ring = x.new_empty(batch, size, 2, self.out_channels)
            _upsample_filter_1d(taps[:, :, 1], pairs, ring[:, :, 0],
                                ring[:, :, 1], size, 1)
            ring = ring.view(batch, 2 * size, self.out_channels)
            if index >= 2:
                # Columns: the ring's corners belong to the rows above,
                # and past the first / last row the column reads zeros
                # too.
                ring[:, 0] -= taps[:, 1, 0]
                ring[:, -1] -= taps[:, size, 2]
            out_line -= ring

    def _border_taps(self, lines: Tensor, index: int) -> Tensor:
        """(N, C_in) line pixels -> their (N, 3 * C_out) products with the
        3 taps of border kernel ``index``."""
        if _runs_packed(lines, self.border_kernels, self.packed_kernels):
            return _packed_linear(lines,
                                  self.packed_kernels[len(self.kernels) +
                                                      index])
        return F.linear(lines, self.border_kernels[index].to(lines.dtype))

    def extra_repr(self) -> str:
        return f'{self.in_channels}, {self.out_channels}'


def _replicate_padded(x: Tensor, rows: int, cols: int) -> Tensor:
    """(B, C, h, w) -> (B, rows, cols, C) pixel-major, in scratch memory:
    ``x`` replicate-padded by one pixel on each side (the bilinear clamp),
    then zero-padded to even ``rows`` and ``cols``."""
    batch, channels, height, width = x.shape
    padded = scratch('upsample_conv_padded', (batch, rows, cols, channels),
                     like=x)
    inner = padded[:, 1:height + 1, 1:width + 1]
    inner.copy_(x.permute(0, 2, 3, 1))
    padded[:, 0, 1:width + 1] = inner[:, 0]
    padded[:, height + 1, 1:width + 1] = inner[:, -1]
    padded[:, :height + 2, 0] = padded[:, :height + 2, 1]
    padded[:, :height + 2, width + 1] = padded[:, :height + 2, width]
    padded[:, height + 2:] = 0
    padded[:, :, width + 2:] = 0
    return padded


@torch.compiler.disable
def _eager_forward(layer: BilinearUpsampleConv3x3, x: Tensor) -> Tensor:
    return layer._forward(x)


def _into(out: Tensor, op: Callable, *args) -> None:
    """``op(*args, out=out)``: the result written into a view, without a
    temporary. Under ``torch.compile`` a copy instead, which inductor fuses
    (dynamo cannot trace ``out=`` into a non-contiguous view)."""
    if torch.compiler.is_compiling():
        out.copy_(op(*args))
    else:
        op(*args, out=out)


def _pair_transform(x: Tensor, out: Tensor, dim: int) -> None:
    """F(2, 2) input transform along ``dim`` (of even size 2n):
    the window (a, b, c) of pair j (samples 2j, 2j + 1, 2j + 2) gives
    ``out[0] = a - b``, ``out[1] = b``, ``out[2] = c - b``. The last pair
    has no ``c``; its third product only feeds the extra sample that is
    never read back, so it is set to zero."""
    size = x.shape[dim] // 2
    pairs = x.unflatten(dim, (size, 2))
    even, odd = pairs.select(dim, 0), pairs.select(dim, 1)
    out[1].copy_(odd)
    _into(out[0], torch.sub, even, odd)
    _into(out[2].narrow(dim, 0, size - 1), torch.sub,
          even.narrow(dim, 1, size - 1), odd.narrow(dim, 0, size - 1))
    out[2].narrow(dim, size - 1, 1).zero_()


def _pair_output(products: Tensor, out: Tensor, dim: int) -> None:
    """F(2, 2) output transform along ``dim``: products
    (m0, m1, m2) of each pair give its two samples, ``m0 + m1`` and
    ``m1 + m2``, written to the even and odd samples of ``out``."""
    for parity, samples in enumerate(out.unflatten(dim, (-1, 2)).unbind(dim)):
        _into(samples, torch.add, products[parity], products[parity + 1])


def _polyphase_maps(products: Sequence[Tensor], batch: int, rows: int,
                    cols: int) -> tuple:
    """The four (B, rows, cols, C_out) maps P_ee, P_eo, P_oe, P_oo from the
    16 products (centre, 6 pairs, 9 corners; F(2, 2) output transforms
    along columns, rows, or both)."""
    centre, pairs, corners = products[0], products[1:7], products[7:]
    channels = centre.shape[-1]
    map_ee = centre.view(batch, rows, cols, channels)
    map_eo, map_oe, map_oo = scratch('upsample_conv_maps',
                                     (3, *map_ee.shape), like=map_ee)
    _pair_output([p.view(batch, rows, cols // 2, channels)
                  for p in pairs[:3]], map_eo, -2)
    _pair_output([p.view(batch, rows // 2, cols, channels)
                  for p in pairs[3:]], map_oe, -3)
    # Both ways: the row outputs of each column product, then columns.
    row_outputs = scratch('upsample_conv_row_outputs',
                          (3, batch, rows, cols // 2, channels), like=centre)
    for col_tap in range(3):
        _pair_output([
            corners[3 * row_tap + col_tap].view(batch, rows // 2, cols // 2,
                                                channels)
            for row_tap in range(3)
        ], row_outputs[col_tap], -3)
    _pair_output(row_outputs, map_oo, -2)
    return map_ee, map_eo, map_oe, map_oo


def _upsample_filter(maps: tuple, out: Tensor, height: int,
                     width: int) -> None:
    """Writes ``u * P`` into ``out`` (B, 2h, 2w, C_out): columns of each
    row phase, then rows of each column phase, straight into the output's
    phases (strided views of whole channel vectors)."""
    map_ee, map_eo, map_oe, map_oo = maps
    cols = scratch('upsample_conv_filtered_columns',
                   (2, 2, *map_ee.shape[:2], width, map_ee.shape[-1]),
                   like=map_ee)
    _upsample_filter_1d(map_ee, map_eo, cols[0, 0], cols[0, 1], width, -2)
    _upsample_filter_1d(map_oe, map_oo, cols[1, 0], cols[1, 1], width, -2)
    # (B, h, row parity, w, column parity, C_out)
    phases = out.unflatten(-2, (width, 2)).unflatten(-4, (height, 2))
    for col_parity in (0, 1):
        _upsample_filter_1d(cols[0, col_parity], cols[1, col_parity],
                            phases[:, :, 0, :, col_parity],
                            phases[:, :, 1, :, col_parity], height, -3)


def _upsample_filter_1d(centre: Tensor, pairs: Tensor, even: Tensor,
                        odd: Tensor, size: int, dim: int) -> None:
    """``u = [1, 3, 3, 1] / 4`` along ``dim``, per output parity: output
    2m from the phase maps at grid samples m, m + 1 (grid sample 0 is the
    padding before input sample 0), output 2m + 1 from m .. m + 2."""

    def window(maps: Tensor, start: int) -> Tensor:
        return maps.narrow(dim, start, size)

    _into(even, torch.mul, window(centre, 1), .75)
    even.add_(window(centre, 0), alpha=.25)
    even.add_(window(pairs, 1), alpha=.25)
    even.add_(window(pairs, 0), alpha=.75)
    _into(odd, torch.mul, window(centre, 2), .25)
    odd.add_(window(centre, 1), alpha=.75)
    odd.add_(window(pairs, 1), alpha=.75)
    odd.add_(window(pairs, 0), alpha=.25)
