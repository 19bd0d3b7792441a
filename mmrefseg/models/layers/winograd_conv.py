"""3x3 convolutions by Winograd's minimal filtering F(m x m, 3 x 3).

A direct 3x3 convolution costs ``9 * C_in * C_out`` multiply-adds per output
pixel. Winograd's algorithm (Lavin & Gray, "Fast Algorithms for
Convolutional Neural Networks", CVPR 2016) computes an ``m x m`` output tile
from an ``(m + 2) x (m + 2)`` input tile with ``(m + 2)^2`` products per
channel pair instead of ``9 m^2``::

    Y = A^T [ (G g G^T) * (B^T d B) ] A

where ``g`` is the 3x3 kernel, ``d`` the input tile and ``*`` the
element-wise product, summed over input channels. Summed over channels, the
element-wise products become ``(m + 2)^2`` independent ``C_out x C_in``
matrix products over all tiles: for ``m = 4``, 36 products for 16 outputs,
a 4x cut of the multiply-adds (``m = 2``: 2.25x).

The transforms ``B^T . B`` and ``A^T . A`` act on the tile positions only;
each is two small matrix products over every tile of every channel (along
the tile rows, then along the columns), so the whole layer is five GEMMs
plus two layout copies. On larger channel-major maps the input transform is
instead a stride-m convolution of every channel with the ``(m + 2)^2``
filters ``B^T[i]^T B^T[j]``, which reads the overlapping tiles in place.
Channels-last (NHWC) inputs take the tiles-major products on their own
memory order and give a channels-last output. Under
``torch.compile``, maps of many tiles take the transforms as element-wise
sums of strided views with constant coefficients instead, which inductor
fuses with the padding, the layout changes and the element-wise work around
the layer into a few loops. The kernels are transformed once, in float64,
when the layer is built. Once :meth:`WinogradConv2d.pack_weights` ran (what
``optimize_for_inference`` does on CPUs with its packed convolutions,
``channels_last``), channels-last maps take the products as grouped
convolutions on oneDNN-packed kernels instead, one per chunk of input
channels (``_grouped_tiles``).

Rounding: measured against a float64 convolution (256 -> 128 channels,
relative to the largest output), F(2x2, 3x3) rounds by ~3e-7 and F(4x4,
3x3) by ~7e-6 (~8e-6 with the grouped products); oneDNN's direct fp32
convolution by 2e-7 with AVX-512 kernels and more than F(2x2, 3x3) with
AVX2 ones. Under bf16 / fp16 (autocast or half inputs) the transforms would
amplify the coarser rounding, so the layer falls back to the direct
convolution there; cuDNN already chooses Winograd kernels on GPUs, so
:func:`mmrefseg.apis.optimize_for_inference` only uses it on the CPU.
"""
from collections import OrderedDict
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .packed_conv import PackedConv2d, _packed_for_shape
from .packed_linear import _packable, _PacksProducts, _runs_packed
from .plain_conv import is_channels_last, is_plain_conv
from .row_aligned import row_padded
from .scratch import scratch

__all__ = ['WinogradConv2d']

# (B^T, G, A^T) of F(2x2, 3x3) and F(4x4, 3x3) (interpolation points
# 0, 1, -1 and 0, 1, -1, 2, -2, plus infinity).
_TRANSFORMS = {
    2: (
        ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
        ((1, 0, 0), (1 / 2, 1 / 2, 1 / 2), (1 / 2, -1 / 2, 1 / 2), (0, 0, 1)),
        ((1, 1, 1, 0), (0, 1, -1, -1)),
    ),
    4: (
        ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
         (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
        ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
         (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
        ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0),
         (0, 1, -1, 8, -8, 1)),
    ),
}


class WinogradConv2d(_PacksProducts):
    """``conv(x)`` for a 3x3, stride 1, padding 1 convolution, computed by
    Winograd's F(m x m, 3 x 3) in fp32 (see the module docstring).

    Built from a trained convolution for inference: the transformed kernel
    is computed now (later changes to ``conv`` are not seen); ``conv`` is
    kept for the half-precision fallback.

    Args:
        conv (nn.Conv2d): A 3x3, stride 1, padding 1, dilation 1, ungrouped,
            zero-padded convolution.
        tile (int): Output tile size m, 2 or 4. Defaults to 4.
    """

    #: Below this many output pixels per call (batch included) the direct
    #: convolution runs instead of the batched products: on few tiles they
    #: are too small to run fast. 13 x 13 maps, 512 channels, 2 AMD EPYC
    #: Zen 4 cores: 3.9 ms F(4x4), 3.3 ms direct (oneDNN, packed); 1024 ->
    #: 512 channels: 8.5 vs 7.7 ms; 26 x 26 maps: 10.6 vs 13.7 ms.
    direct_below_pixels = 512

    #: The same for the grouped products (:meth:`_grouped_tiles`), which
    #: run fast on fewer tiles: 13 x 13 maps, 512 channels: 3.1 ms, direct
    #: 3.3 ms; 1024 -> 512 channels: 6.3 vs 7.7 ms (CRIS-R50's forward,
    #: alternating: 2.6 ms faster in 28 of 40 rounds); 7 x 7 maps: 1.9 vs
    #: 1.0 ms.
    grouped_direct_below_pixels = 128

    #: Below this many tiles per call the products run tiles-major (see
    #: forward).
    tiles_major_below = 100

    #: Under ``torch.compile``, from this many tiles per call on, the
    #: transforms are traced as element-wise sums (see ``_traced_tiles``).
    traced_transforms_from = 32

    #: Once :meth:`pack_weights` ran, channels-last inputs of at least this
    #: many channels take the per-position products as grouped
    #: convolutions on packed weights (see :meth:`_grouped_tiles`), and
    #: each sums at most this many input channels in one pass: longer sums
    #: are split into partial sums as even as possible (CRIS's 514-channel
    #: coordinate convolution: 5 of 102-103), one grouped convolution each,
    #: accumulated, which keeps their rounding at MKL's.
    grouped_chunk = 128

    _packed_names = ('packed_grouped', )

    def __init__(self, conv: nn.Conv2d, tile: int = 4):
        super().__init__()
        if not self.supports(conv):
            raise ValueError('WinogradConv2d needs a 3x3, stride 1, padding '
                             '1, dilation 1, ungrouped, zero-padded Conv2d, '
                             f'got {conv}')
        if tile not in _TRANSFORMS:
            raise ValueError(f'tile must be one of {sorted(_TRANSFORMS)}, '
                             f'got {tile}')
        self.conv = conv
        self.tile = tile
        size = tile + 2
        weight = conv.weight.detach().double()
        input_t, kernel_t, output_t = (
            torch.tensor(m, dtype=torch.float64, device=weight.device)
            for m in _TRANSFORMS[tile])
        # (size^2, C_in, C_out): one matrix per tile position, the right
        # operand of the tiles-major products as is (measured faster than
        # its transpose) and the left one of the channel-major products
        # transposed (as fast as contiguous).
        kernel = torch.einsum('ak,oikl,bl->abio', kernel_t, weight, kernel_t)
        self.register_buffer(
            'kernel',
            row_padded(
                kernel.reshape(size * size, conv.in_channels,
                               conv.out_channels).float()),
            persistent=False)
        # B^T and A^T, applied along both tile axes in turn (see
        # _separable_transform).
        self.register_buffer('input_transform', input_t.float(),
                             persistent=False)
        self.register_buffer('output_transform', output_t.float(),
                             persistent=False)
        # (size^2, 1, size, size): filter (i, j) of the input transform as a
        # convolution, the outer product of rows i and j of B^T.
        self.register_buffer(
            'input_filters',
            torch.einsum('ik,jl->ijkl', input_t, input_t).reshape(
                size * size, 1, size, size).float(),
            persistent=False)
        self._pack_weights()

    def _packed_products(self, rows: int) -> Optional[OrderedDict]:
        """An empty cache of the grouped products' packed kernels, filled
        per input shape and chunk of channels by :meth:`_grouped_tiles`;
        None where oneDNN cannot run them (``rows`` is not needed: the
        packing depends on the input's shape)."""
        return OrderedDict() if _packable(self.kernel) else None

    def _grouped_tiles(self, padded: Tensor, rows: int,
                       cols: int) -> Tensor:
        """:meth:`_channels_last_tiles` with the per-position products as
        grouped 1x1 convolutions (one group per tile position, the tiles as
        its pixels) on kernels that oneDNN packed once; tiles-major
        throughout, the layout of that convolution.

        MKL's batched products (:meth:`_channels_last_tiles`) run at ~70 of
        the ~105 GMACs/s that 2 AMD EPYC Zen 4 cores reach on few tiles (26
        x 26 maps: 49 rows against a weight they re-pack per call) and their
        position-major layout needs transposes; the grouped convolution runs
        at 95-100 and keeps the tiles-major layout. Whole layers,
        alternating, in a slow phase of the host: 1024 -> 512 channels at
        26 x 26 19.0 -> 15.8 ms, 512 -> 256 at 52 x 52 19.5 -> 14.9 ms,
        128 -> 128 at 52 x 52 4.9 -> 3.2 ms, 128 -> 128 at 104 x 104 the
        same (10.7 vs 10.9); the CRIS-R50 forward, alternating, 11.6 ms
        faster (in 41 of 50 rounds) than with grouped products on 26 x 26
        maps only.

        oneDNN sums a group's channels in one pass: 512-long sums rounded
        ~2x farther from float64 than MKL's split ones, 256-long ones
        ~1.5x on 52 x 52 maps (the layers' outputs: 1.1-1.5e-5 of their
        magnitude instead of 7-9e-6), so ``grouped_chunk`` splits them into
        sums of at most 128 (7.6-8.4e-6, CRIS-R50's logits 8.4e-6 from
        float64): one grouped convolution per chunk of input channels
        (gathered and transformed on its own), each after the first adding
        its partial sums into the first one's output as it writes them
        (oneDNN's binary post-op), which saves a pass over all partial sums
        (512 -> 512 channels: 7.5 -> 6.8 ms).

        Args:
            padded (Tensor): (B, m rows + 2, m cols + 2, C_in), the
                zero-padded pixels.
            rows (int): Tile rows per image.
            cols (int): Tile columns per image.

        Returns:
            Tensor: (B, rows, m, cols, m, C_out), a view into scratch
            memory.
        """
        batch, channels = padded.shape[0], padded.shape[-1]
        tile, size = self.tile, self.tile + 2
        out_channels = self.kernel.shape[2]
        tiles_count = batch * rows * cols
        chunks = self._channel_chunks(channels)
        groups = size * size
        products = None
        for index, channel_slice in enumerate(chunks):
            chunk = channel_slice.stop - channel_slice.start
            transformed = self._transformed_tiles(
                padded[..., channel_slice], tiles_major=True)
            # (B, positions * chunk, rows, cols), channels-last: each
            # tile's positions as channel groups.
            x = transformed.view(batch, rows, cols, -1).permute(0, 3, 1, 2)

            def grouped_weight() -> Tensor:
                """(positions * C_out, chunk, 1, 1): one group per
                position."""
                weight = self.kernel[:, channel_slice].transpose(1, 2)
                return weight.reshape(groups * out_channels, chunk, 1,
                                      1).contiguous(
                                          memory_format=torch.channels_last)

            packed = _packed_for_shape(
                self.packed_grouped,
                x.shape,
                grouped_weight, [0, 0], [1, 1], [1, 1],
                groups,
                PackedConv2d.max_shapes * len(chunks),
                key=(index, x.shape))
            if products is None:
                products = torch.ops.mkldnn._convolution_pointwise(
                    x, packed, None, [0, 0], [1, 1], [1, 1], groups, 'none',
                    [], '')
            else:
                torch.ops.mkldnn._convolution_pointwise_.binary(
                    products, x, packed, None, [0, 0], [1, 1], [1, 1],
                    groups, 'add', 1.0, None, [], '')
        # (tiles, size, size, C_out)
        products = products.permute(0, 2, 3, 1).reshape(
            tiles_count, size, size, out_channels)
        out = _tiles_major_transform(
            self.output_transform,
            products,
            out=scratch('winograd_output',
                        (tiles_count, tile, tile, out_channels), like=padded),
            half=scratch('winograd_half',
                         (tiles_count, size, tile, out_channels),
                         like=padded))
        return out.view(batch, rows, cols, tile, tile,
                        out_channels).permute(0, 1, 3, 2, 4, 5)

    def _channel_chunks(self, channels: int) -> List[slice]:
        """The input channels of each grouped convolution: the fewest
        chunks of at most ``grouped_chunk`` channels, as even as possible;
        none (the grouped products do not run) for fewer channels than
        ``grouped_chunk``."""
        if channels < self.grouped_chunk:
            return []
        chunks = -(-channels // self.grouped_chunk)
        bounds = [index * channels // chunks for index in range(chunks + 1)]
        return [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]

    @staticmethod
    def supports(conv: nn.Module) -> bool:
        """Whether ``conv`` is a convolution this layer can replace."""
        return is_plain_conv(conv, 3)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W)."""
        batch, _, height, width = x.shape
        grouped = self._runs_grouped(x)
        direct_below = (self.grouped_direct_below_pixels
                        if grouped else self.direct_below_pixels)
        if x.dtype != torch.float32 or torch.is_autocast_enabled(
                x.device.type) or batch * height * width < direct_below or (
                    torch.is_grad_enabled() and
                    (x.requires_grad or self.conv.weight.requires_grad)):
            # Gradients wanted: the convolution, whose weight they reach
            # (the transformed kernel is a snapshot).
            return self.conv(x)
        tile = self.tile
        rows, cols = -(-height // tile), -(-width // tile)
        if is_channels_last(x) and not torch.compiler.is_compiling():
            # (B, rows, m, cols, m, C_out) in scratch memory: the output is
            # a new tensor, the bias added as the tiles are laid out.
            tiles = self._channels_last_tiles(x, rows, cols, grouped)
            out = x.new_empty(batch, tile * rows, tile * cols, tiles.shape[-1])
            if self.conv.bias is None:
                out.view(tiles.shape).copy_(tiles)
            else:
                torch.add(tiles, self.conv.bias, out=out.view(tiles.shape))
            out = out[:, :height, :width].permute(0, 3, 1, 2)
            return out.contiguous(memory_format=torch.channels_last)
        # Zero padding: 1 for the convolution, plus what completes the tiles.
        x = F.pad(x, (1, 1 + tile * cols - width, 1, 1 + tile * rows - height))
        if torch.compiler.is_compiling() and \
                batch * rows * cols >= self.traced_transforms_from:
            out = self._traced_tiles(x, rows, cols)
        else:
            out = self._matrix_tiles(x, rows, cols)
        out = out[:, :, :height, :width]
        if self.conv.bias is not None:
            out = out + self.conv.bias.view(-1, 1, 1)
        return out.contiguous()

    def _matrix_tiles(self, x: Tensor, rows: int, cols: int) -> Tensor:
        """Padded (B, C_in, m rows + 2, m cols + 2) -> the output tiles
        (B, C_out, m rows, m cols), the transforms as matrix products."""
        batch, channels = x.shape[:2]
        tile, size = self.tile, self.tile + 2
        out_channels = self.kernel.shape[2]
        # Few tiles (small maps): MKL runs the per-position products faster
        # as (tiles x C_in) @ (C_in x C_out) than as (C_out x C_in) @
        # (C_in x tiles), measured 10-17 % on 26 x 26 maps.
        if batch * rows * cols < self.tiles_major_below:
            tiles = x.unfold(2, size, tile).unfold(3, size, tile)
            tiles = tiles.permute(4, 5, 0, 2, 3, 1).reshape(size * size, -1)
            transformed = _separable_transform(self.input_transform, tiles)
            products = torch.bmm(
                transformed.view(size * size, -1, channels), self.kernel)
            layout, order = (batch, rows, cols, out_channels), (2, 5, 3, 0, 4,
                                                                1)
        else:
            # The input transform as a stride-`tile` convolution of every
            # channel with the (size^2, 1, size, size) transform: no copy of
            # the overlapping tiles (13.7 -> 12.2 ms on 128 x 104 x 104).
            transformed = F.conv2d(
                x.transpose(0, 1).reshape(channels * batch, 1, *x.shape[2:]),
                self.input_filters,
                stride=tile)
            # (size^2, C_in, B * tiles), a view when B == 1.
            transformed = transformed.view(channels, batch, size * size,
                                           -1).permute(2, 0, 1, 3).reshape(
                                               size * size, channels, -1)
            products = torch.bmm(self.kernel.transpose(1, 2), transformed)
            layout, order = (out_channels, batch, rows, cols), (3, 2, 4, 0, 5,
                                                                1)
        out = _separable_transform(self.output_transform,
                                   products.view(size * size, -1))
        out = out.view(tile, tile, *layout).permute(*order)
        return out.reshape(batch, out_channels, tile * rows, tile * cols)

    def _runs_grouped(self, x: Tensor) -> bool:
        """Whether the products of ``x`` (B, C_in, H, W) run as
        :meth:`_grouped_tiles`: a channels-last eager fp32 input of enough
        channels, once :meth:`pack_weights` ran."""
        return (is_channels_last(x) and not torch.compiler.is_compiling()
                and bool(self._channel_chunks(x.shape[1]))
                and _runs_packed(x, self.conv.weight, self.packed_grouped))

    def _channels_last_tiles(self, x: Tensor, rows: int, cols: int,
                             grouped: bool) -> Tensor:
        """Unpadded channels-last (B, C_in, H, W) -> the output tiles
        (B, rows, m, cols, m, C_out), a view into scratch memory (valid
        until this thread's next call of any WinogradConv2d):
        tiles-major products on the NHWC memory, whose tile gathers and
        output scatter copy whole channel vectors (in a channels-last
        model, see ``optimize_for_inference``'s ``channels_last``), as
        :meth:`_grouped_tiles` where ``grouped``. The temporaries live in
        :func:`scratch` buffers, not fresh memory."""
        batch, channels, height, width = x.shape
        tile, size = self.tile, self.tile + 2
        out_channels = self.kernel.shape[2]
        tiles_count = batch * rows * cols
        # Zero padding: 1 for the convolution, plus what completes the
        # tiles.
        padded = scratch('winograd_padded',
                         (batch, tile * rows + 2, tile * cols + 2, channels),
                         like=x)
        padded[:, 1:height + 1, 1:width + 1].copy_(x.permute(0, 2, 3, 1))
        padded[:, 0].zero_()
        padded[:, height + 1:].zero_()
        padded[:, :, 0].zero_()
        padded[:, :, width + 1:].zero_()
        if grouped:
            return self._grouped_tiles(padded, rows, cols)
        transformed = self._transformed_tiles(padded, tiles_major=False)
        products = torch.bmm(
            transformed.view(size * size, -1, channels),
            self.kernel,
            out=scratch('winograd_products',
                        (size * size, tiles_count, out_channels), like=x))
        out = _separable_transform(
            self.output_transform,
            products.view(size * size, -1),
            out=scratch('winograd_output',
                        (tile * tile, tiles_count * out_channels), like=x),
            half=scratch('winograd_half',
                         (tile * size, tiles_count * out_channels), like=x))
        return out.view(tile, tile, batch, rows, cols,
                        out_channels).permute(2, 3, 0, 4, 1, 5)

    def _transformed_tiles(self, padded: Tensor, tiles_major: bool) -> Tensor:
        """The tiles of zero-padded NHWC pixels (B, m rows + 2, m cols + 2,
        C_in), gathered and input-transformed in scratch memory: tiles-major
        (tiles, size, size, C_in) or position-major (size^2, tiles * C_in),
        the tiles in (B, rows, cols) order."""
        tile, size = self.tile, self.tile + 2
        # (B, rows, cols, C_in, size, size): the overlapping tiles, a view.
        windows = padded.unfold(1, size, tile).unfold(2, size, tile)
        if tiles_major:
            windows = windows.permute(0, 1, 2, 4, 5, 3)
            shape, transform = (-1, size, size, windows.shape[-1]), \
                _tiles_major_transform
        else:
            windows = windows.permute(4, 5, 0, 1, 2, 3)
            shape, transform = (size * size, -1), _separable_transform
        tiles = scratch('winograd_tiles', (windows.numel(), ), like=padded)
        tiles.view(windows.shape).copy_(windows)
        tiles = tiles.view(shape)
        # The transformed tiles overwrite the gathered ones.
        return transform(
            self.input_transform,
            tiles,
            out=tiles,
            half=scratch('winograd_half', tiles.shape, like=padded))

    def _traced_tiles(self, x: Tensor, rows: int, cols: int) -> Tensor:
        """:meth:`_matrix_tiles` for inductor: both transforms as sums of
        strided views with constant coefficients, which inductor fuses with
        the padding, the layout changes, the bias and whatever follows into
        a few loops instead of the convolution / matrix-product transforms
        and the copies between them. CRIS-R50 at 416 x 416 compiled, 2
        threads, alternating in one process: backbone 240.4 -> 235.8 ms,
        neck 95.0 -> 93.8 ms; their compilation takes ~50 s longer. On few
        tiles (13 x 13 maps) nothing is saved."""
        batch, channels = x.shape[:2]
        tile, size = self.tile, self.tile + 2
        input_t, _, output_t = _TRANSFORMS[tile]
        # (B, C_in, rows, cols, size, size): the overlapping tiles, a view.
        tiles = x.unfold(2, size, tile).unfold(3, size, tile)
        # B^T d B: along the tile rows, then along its columns.
        row_sums = [
            _linear_combination([tiles[..., i, :] for i in range(size)], row)
            for row in input_t
        ]
        transformed = torch.stack([
            _linear_combination([sums[..., j] for j in range(size)], row)
            for sums in row_sums for row in input_t
        ])
        transformed = transformed.permute(0, 1, 3, 4, 2).reshape(
            size * size, -1, channels)
        products = torch.bmm(transformed, self.kernel).view(
            size, size, batch, rows, cols, -1)
        # A^T M A, likewise.
        column_sums = [[
            _linear_combination([products[i, j] for i in range(size)], row)
            for j in range(size)
        ] for row in output_t]
        out = torch.stack([
            _linear_combination(sums, row) for sums in column_sums
            for row in output_t
        ]).view(tile, tile, batch, rows, cols, -1)
        return out.permute(2, 5, 3, 0, 4, 1).reshape(batch, -1, tile * rows,
                                                      tile * cols)

    def extra_repr(self) -> str:
        return f'tile={self.tile}'


def _separable_transform(matrix: Tensor,
                         x: Tensor,
                         out: Optional[Tensor] = None,
                         half: Optional[Tensor] = None) -> Tensor:
    """``kron(matrix, matrix) @ x`` for a transform ``matrix`` (m, k) of
    both axes of flattened k x k tiles ``x`` (k * k, N): (m * m, N).

    Two products of inner size k, along the tile rows and then along their
    columns, instead of one of inner size k^2: for F(4x4, 3x3)'s input
    transform a third of the multiply-adds, 10-30 % faster on 2 AMD EPYC Zen
    4 cores (MKL is slow on the (36 x 36) @ (36 x N) shape), and closer to
    float64 (shorter sums).

    Args:
        matrix (Tensor): (m, k).
        x (Tensor): (k * k, N).
        out (Tensor, optional): (m * m, N) result memory, which may be
            ``x``'s. Defaults to None (a new tensor).
        half (Tensor, optional): (m * k, N) memory for the rows' transform.
            Defaults to None (a new tensor).

    Returns:
        Tensor: (m * m, N); row a * m + b is tile position (a, b).
    """
    rows, size = matrix.shape
    columns = x.shape[-1]
    half = torch.mm(
        matrix, x.reshape(size, size * columns),
        out=None if half is None else half.view(rows, size * columns))
    if out is None:
        out = x.new_empty(rows * rows, columns)
    torch.bmm(
        matrix.expand(rows, rows, size),
        half.view(rows, size, columns),
        out=out.view(rows, rows, columns))
    return out


def _tiles_major_transform(matrix: Tensor, x: Tensor, out: Tensor,
                           half: Tensor) -> Tensor:
    """:func:`_separable_transform` of tiles-major ``x`` (N, k, k, C): the
    transform of each tile's (k, k) positions, per channel, as products
    batched over the tiles (along the tile columns, then the rows).

    Args:
        matrix (Tensor): (m, k).
        x (Tensor): (N, k, k, C), contiguous.
        out (Tensor): (N, m, m, C) result memory, which may be ``x``'s.
        half (Tensor): (N, k, m, C) memory for the columns' transform.

    Returns:
        Tensor: ``out``; position (a, b) of tile t at ``out[t, a, b]``.
    """
    rows, size = matrix.shape
    tiles, channels = x.shape[0], x.shape[-1]
    torch.matmul(
        matrix,
        x.reshape(tiles * size, size, channels),
        out=half.view(tiles * size, rows, channels))
    torch.matmul(
        matrix,
        half.view(tiles, size, rows * channels),
        out=out.view(tiles, rows, rows * channels))
    return out


def _linear_combination(terms: list, coefficients: tuple) -> Tensor:
    """``sum(c * t)`` over the nonzero constant coefficients (at least one),
    without multiplying by 1 or -1."""
    total = None
    for term, coefficient in zip(terms, coefficients):
        if coefficient == 0:
            continue
        if coefficient == -1:
            total = -term if total is None else total - term
            continue
        if coefficient != 1:
            term = term * coefficient
        total = term if total is None else total + term
    return total
