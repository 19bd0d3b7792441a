"""restore_original_size's less travelled paths, found by mutation testing
(docs/mutation_testing.md): maps below the input size, a scalar scale
factor, a two-pixel input and the error messages."""
import pytest
import torch
import torch.nn.functional as F

from mmrefseg.utils import restore_original_size

META = dict(
    ori_shape=(30, 40),
    img_shape=(64, 64),
    scale_factor=(1.6, 1.6),
    pad_offset=(8.0, 0.0))


@pytest.mark.parametrize('mode, align_corners', [('bicubic', True),
                                                 ('bilinear', False),
                                                 ('nearest', True)])
def test_small_maps_are_first_resized_to_the_input(mode, align_corners):
    """Stride-4 logits: resized to img_shape with the given mode first,
    exactly as if the caller had done it."""
    maps = torch.randn(2, 16, 16, generator=torch.Generator().manual_seed(0))
    resized = F.interpolate(
        maps[None], size=(64, 64), mode=mode,
        align_corners=None if mode == 'nearest' else align_corners)[0]
    ours = restore_original_size(
        maps, META, mode=mode, align_corners=align_corners)
    expected = restore_original_size(
        resized, META, mode=mode, align_corners=align_corners)
    torch.testing.assert_close(ours, expected)


def test_scalar_scale_factor_is_both_axes():
    maps = torch.randn(1, 64, 64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(
        restore_original_size(maps, dict(META, scale_factor=1.6)),
        restore_original_size(maps, META))


def test_two_pixel_input_is_sampled_at_its_pixels():
    maps = torch.tensor([[[1., 2.], [3., 4.]]])
    meta = dict(ori_shape=(2, 2), img_shape=(2, 2), scale_factor=(1., 1.),
                pad_offset=(0., 0.))
    torch.testing.assert_close(
        restore_original_size(maps, meta, mode='bilinear'), maps)


def test_missing_geometry_is_named():
    meta = dict(META)
    del meta['pad_offset']
    with pytest.raises(KeyError, match="lacks 'pad_offset': it needs the "
                       r'geometry recorded by LetterboxResize or '
                       r'ReferResize\.\"?$'):
        restore_original_size(torch.zeros(1, 64, 64), meta)
    with pytest.raises(ValueError, match='^restore_original_size takes one '
                       'sample, got a batch'):
        restore_original_size(torch.zeros(2, 1, 64, 64), META)
    with pytest.raises(ValueError, match=r'^restore_original_size expects '
                       r'\(C, H, W\) or'):
        restore_original_size(torch.zeros(64, 64), META)


def test_defaults_are_the_references_corner_aligned_bicubic():
    maps = torch.randn(1, 16, 16, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(
        restore_original_size(maps, META),
        restore_original_size(maps, META, mode='bicubic',
                              align_corners=True))


def test_border_padding_repeats_the_edge():
    """A shrunk image's last row lies beyond the last input row: 'zeros'
    fades it towards 0 (the reference), 'border' keeps the edge value."""
    meta = dict(ori_shape=(3, 3), img_shape=(2, 2), scale_factor=(0.75, 0.75),
                pad_offset=(0., 0.))
    maps = torch.ones(1, 2, 2)
    zeros = restore_original_size(maps, meta, mode='bilinear')
    border = restore_original_size(maps, meta, mode='bilinear',
                                   padding_mode='border')
    torch.testing.assert_close(border, torch.ones(1, 3, 3))
    # row 2 sits at y = 1.5, half-way to the zero beyond row 1
    torch.testing.assert_close(zeros[0, 2, 0], torch.tensor(0.5))
