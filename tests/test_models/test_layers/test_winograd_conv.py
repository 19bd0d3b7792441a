import copy
import pickle

import pytest
import torch
from torch import nn

from mmrefseg.models.layers import WinogradConv2d


def _winograd(conv, tile=4):
    """A layer that computes every map size by Winograd, however small."""
    layer = WinogradConv2d(conv, tile)
    layer.direct_below_pixels = 0
    return layer


@pytest.mark.parametrize('path', ['channel_major', 'tiles_major', 'nhwc'])
@pytest.mark.parametrize('tile', [2, 4])
@pytest.mark.parametrize('batch,in_channels,out_channels,height,width,bias', [
    (1, 6, 5, 8, 8, True),  # whole tiles
    (2, 5, 7, 7, 10, True),  # partial tiles on both axes
    (3, 4, 3, 1, 1, False),  # one pixel: all but the centre tap read padding
    (1, 3, 4, 13, 5, True),
])
def test_equals_the_direct_convolution(path, tile, batch, in_channels,
                                       out_channels, height, width, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)
    layer = _winograd(conv, tile)
    # both memory orders of the per-position products on NCHW inputs
    layer.tiles_major_below = 0 if path == 'channel_major' else 10**9
    x = torch.randn(batch, in_channels, height, width)
    with torch.no_grad():
        expected = conv(x)
        if path == 'nhwc':
            x = x.contiguous(memory_format=torch.channels_last)
        out = layer(x)
    assert out.shape == expected.shape
    # NHWC in, NHWC out; NCHW in, NCHW out
    assert out.is_contiguous(memory_format=torch.channels_last
                             if path == 'nhwc' else torch.contiguous_format)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('tile', [2, 4])
@pytest.mark.parametrize('batch,height,width,bias', [
    (1, 8, 8, True),  # whole tiles
    (2, 7, 10, False),  # partial tiles on both axes
])
def test_traced_transforms_equal_the_direct_convolution(
        tile, batch, height, width, bias):
    """Under torch.compile the element-wise transforms replace the matrix
    ones (dynamo's capture run by the eager backend: the same graph inductor
    would get)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 6, 3, padding=1, bias=bias)
    layer = _winograd(conv, tile)
    layer.traced_transforms_from = 1
    # Fails if the traced path is not taken: the matrix transforms are
    # buffers this graph never reads.
    layer.input_transform.fill_(float('nan'))
    layer.input_filters.fill_(float('nan'))
    layer.output_transform.fill_(float('nan'))
    x = torch.randn(batch, 5, height, width)
    with torch.no_grad():
        out = torch.compile(layer, backend='eager', fullgraph=True)(x)
        expected = conv(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_rounding_of_both_tiles():
    """Against a float64 reference: F(2x2, 3x3) stays within 1e-6 of the
    output's magnitude, F(4x4, 3x3), whose transforms carry larger
    constants, within 1e-5. (oneDNN's direct fp32 convolution is no fixed
    yardstick: its rounding depends on the CPU's kernels, here 2e-7 of the
    magnitude with AVX-512, above F(2x2, 3x3)'s with AVX2.)"""
    torch.manual_seed(0)
    conv = nn.Conv2d(256, 128, 3, padding=1)
    x = torch.randn(1, 256, 20, 20).relu()
    with torch.no_grad():
        exact = conv.double()(x.double())
        errors = {
            tile: (_winograd(conv, tile)(x).double() - exact).abs().max()
            for tile in (2, 4)
        }
    scale = exact.abs().max()
    assert errors[2] <= 1e-6 * scale
    assert errors[4] <= 1e-5 * scale


def test_half_precision_falls_back_to_the_direct_convolution():
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3, padding=1)
    layer = _winograd(conv)
    x = torch.randn(1, 8, 9, 9)
    calls = []
    conv.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        layer(x)
        assert calls == []
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = layer(x)
    assert calls == [1] and out.dtype == torch.bfloat16


@pytest.mark.parametrize('batch,size,direct', [(1, 13, True), (1, 26, False),
                                               (4, 13, False)])
def test_small_maps_take_the_direct_convolution(batch, size, direct):
    """Below ``direct_below_pixels`` output pixels per call (13 x 13 maps at
    batch 1) the convolution runs directly."""
    conv = nn.Conv2d(8, 8, 3, padding=1)
    layer = WinogradConv2d(conv)
    calls = []
    conv.register_forward_hook(lambda *args: calls.append(1))
    x = torch.randn(batch, 8, size, size)
    with torch.no_grad():
        out = layer(x)
    assert calls == ([1] if direct else [])
    torch.testing.assert_close(out, conv(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('size,direct', [(7, True), (13, False)])
def test_grouped_products_run_on_smaller_maps(size, direct):
    """Once packed, channels-last maps of ``grouped_direct_below_pixels``
    output pixels or more (13 x 13, where the batched products would leave
    them to the direct convolution) take the grouped products."""
    conv = nn.Conv2d(8, 8, 3, padding=1)
    layer = WinogradConv2d(conv)
    layer.grouped_chunk = 8
    x = torch.randn(1, 8, size, size).contiguous(
        memory_format=torch.channels_last)
    calls = []
    with torch.no_grad():
        expected = conv(x)
        conv.register_forward_hook(lambda *args: calls.append(1))
        assert layer.pack_weights()
        out = layer(x)
    assert calls == ([1] if direct else [])
    assert bool(layer.packed_grouped) != direct
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('conv', [
    nn.Conv2d(4, 4, 3, padding=1, stride=2),
    nn.Conv2d(4, 4, 3, padding=2, dilation=2),
    nn.Conv2d(4, 4, 3, padding=1, groups=2),
    nn.Conv2d(4, 4, 1),
    nn.Conv2d(4, 4, 3, padding=1, padding_mode='reflect'),
])
def test_rejects_other_convolutions(conv):
    assert not WinogradConv2d.supports(conv)
    with pytest.raises(ValueError, match='3x3, stride 1'):
        WinogradConv2d(conv)


def test_rejects_unknown_tiles():
    with pytest.raises(ValueError, match='tile must be one of'):
        WinogradConv2d(nn.Conv2d(4, 4, 3, padding=1), tile=6)


@pytest.mark.parametrize('bias,size', [(False, 16), (True, 14)])
def test_channels_last_outputs_do_not_share_scratch_memory(bias, size):
    """The NHWC path computes in per-thread scratch buffers: its outputs,
    with or without bias or cropping, must be new tensors that the next
    call leaves alone."""
    torch.manual_seed(0)
    first = _winograd(nn.Conv2d(8, 8, 3, padding=1, bias=bias))
    second = _winograd(nn.Conv2d(8, 8, 3, padding=1, bias=bias))
    x = torch.randn(1, 8, size, size).contiguous(
        memory_format=torch.channels_last)
    with torch.inference_mode():
        out = first(x)
        kept = out.clone()
        second(torch.randn_like(x))
        first(x.neg())
    assert torch.equal(out, kept)
    torch.testing.assert_close(out, first.conv(x), atol=1e-5, rtol=1e-5)


def test_inputs_that_want_gradients_take_the_direct_convolution():
    conv = nn.Conv2d(8, 8, 3, padding=1)
    layer = _winograd(conv)
    x = torch.randn(1, 8, 16, 16).contiguous(
        memory_format=torch.channels_last).requires_grad_()
    layer(x).sum().backward()
    assert x.grad is not None and conv.weight.grad is not None


@pytest.mark.parametrize('rows,size,in_place', [(6, 6, False), (6, 6, True),
                                                 (4, 6, False),
                                                 (2, 4, False)])
def test_separable_transform_is_the_kronecker_product(rows, size, in_place):
    """Both tile axes transformed in turn equal one product with
    kron(M, M), also when the result overwrites the input."""
    from mmrefseg.models.layers.winograd_conv import _separable_transform
    torch.manual_seed(0)
    matrix = torch.randn(rows, size, dtype=torch.float64)
    x = torch.randn(size * size, 10, dtype=torch.float64)
    expected = torch.kron(matrix, matrix) @ x
    if in_place:
        out = _separable_transform(matrix, x, out=x)
        assert out.data_ptr() == x.data_ptr()
    else:
        out = _separable_transform(matrix, x)
    torch.testing.assert_close(out, expected)


# 8 channels: one sum; two of 4; two of 4 again (at most 5 each); 2, 3, 3
@pytest.mark.parametrize('chunk', [8, 4, 5, 3])
@pytest.mark.parametrize('clone', [copy.deepcopy,
                                   lambda m: pickle.loads(pickle.dumps(m))])
@pytest.mark.parametrize('size', [(7, 10), (41, 46)])  # 12 and 264 tiles
def test_grouped_products_on_packed_kernels(chunk, clone, size):
    """Once packed, channels-last maps take the per-position products as
    grouped convolutions, one per chunk of input channels, on kernels
    packed per input shape and chunk: the direct convolution's output, the
    batched kernels no longer read; copies pack their own."""
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 6, 3, padding=1)
    layer = _winograd(conv)
    layer.grouped_chunk = chunk
    x = torch.randn(2, 8, *size).contiguous(
        memory_format=torch.channels_last)
    with torch.no_grad():
        expected = conv(x)
        assert layer.pack_weights()
        out = layer(x)  # packs for this shape
        copied = clone(layer)
        layer.kernel.fill_(float('nan'))
        again = layer(x)
        copied_out = copied(x)
    # One input shape: one packed kernel per chunk.
    assert len(layer.packed_grouped) == -(-8 // chunk)
    assert copied.packed_grouped is not layer.packed_grouped
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(again, out)
    assert torch.equal(copied_out, out)


@pytest.mark.parametrize('change', ['nchw', 'few_channels'])
def test_batched_products_outside_the_grouped_ones(change):
    """NCHW maps and fewer channels than a chunk keep the batched
    products, even once packed."""
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 6, 3, padding=1)
    layer = _winograd(conv)
    layer.grouped_chunk = 16 if change == 'few_channels' else 8
    x = torch.randn(1, 8, 7, 10)
    if change != 'nchw':
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert layer.pack_weights()
        out = layer(x)
    assert not layer.packed_grouped
    torch.testing.assert_close(out, conv(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('channels,sizes', [(255, []), (256, [256]),
                                            (512, [256, 256]),
                                            (514, [171, 171, 172]),
                                            (1024, [256] * 4)])
def test_channel_chunks_cover_the_inputs_evenly(channels, sizes):
    """The grouped products' partial sums: the fewest chunks of at most
    ``grouped_chunk`` channels, consecutive, sizes differing by one at
    most; none below one chunk's width."""
    layer = WinogradConv2d(nn.Conv2d(4, 4, 3, padding=1))
    layer.grouped_chunk = 256
    chunks = layer._channel_chunks(channels)
    assert [c.stop - c.start for c in chunks] == sizes
    if chunks:
        assert chunks[0].start == 0 and chunks[-1].stop == channels
        assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:]))
