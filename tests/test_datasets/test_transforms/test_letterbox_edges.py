"""Letterbox paths the main tests leave alone: float masks, extra
``seg_fields``, single-channel images, the plain resize's border and
interpolation, and the scale argument's forms."""
import numpy as np
import pytest

from mmrefseg.datasets.transforms import LetterboxResize, ReferResize


def results_with(img, **maps):
    return dict(img=img, seg_fields=list(maps), **maps)


def test_a_float_mask_is_warped_like_the_uint8_one():
    rng = np.random.default_rng(0)
    mask = np.zeros((30, 50), np.uint8)
    mask[5:20, 10:40] = 1
    img = rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)
    transform = LetterboxResize(scale=(64, 48))
    from_uint8 = transform(results_with(img.copy(), gt_seg_map=mask))
    from_float = transform(
        results_with(img.copy(), gt_seg_map=mask.astype(np.float32)))
    soft = from_float['gt_seg_map']
    assert soft.dtype == np.float32 and soft.shape == (48, 64)
    # Same geometry and bilinear taps; uint8 rounds to 1/255 steps.
    np.testing.assert_allclose(soft, from_uint8['gt_seg_map'], atol=1 / 255)
    assert 0 < soft.min() + 1e-6 and soft.max() <= 1.0
    assert ((soft > 0) & (soft < 1)).any()  # interpolated, not nearest
    top = int(from_float['pad_offset'][0])
    assert (soft[:top] == 0).all()  # the letterbox pads masks with 0


def test_a_float_mask_is_clipped_to_zero_one():
    img = np.zeros((20, 20, 3), np.uint8)
    mask = np.full((20, 20), 3.0, np.float32)
    mask[:, :10] = -2.0
    out = LetterboxResize(scale=(40, 40))(results_with(img, gt_seg_map=mask))
    soft = out['gt_seg_map']
    assert soft.min() == 0.0 and soft.max() == 1.0
    # (The outermost output pixels fade towards the zero padding.)
    assert (soft[:, :15] == 0).all() and (soft[:-2, 25:-2] == 1).all()


def test_every_seg_field_is_warped():
    img = np.zeros((20, 40, 3), np.uint8)
    extra = np.ones((20, 40), np.uint8)
    out = LetterboxResize(scale=(40, 40))(results_with(img, extra_map=extra))
    assert out['extra_map'].shape == (40, 40)
    # The 20-row image sits in the middle of 40 rows.
    assert out['extra_map'][:9].max() == 0 and out['extra_map'][20, 5] == 1


def test_a_single_channel_image_keeps_its_channel_axis():
    img = np.full((30, 20, 1), 7, np.uint8)
    out = LetterboxResize(scale=(16, 16), pad_val=0)(dict(img=img))
    assert out['img'].shape == (16, 16, 1)


def test_the_plain_resize_repeats_the_edge():
    img = np.full((30, 50, 3), 200, np.uint8)
    mask = np.ones((30, 50), np.uint8)
    out = ReferResize(scale=(64, 64))(results_with(img, gt_seg_map=mask))
    # No padding and no dark border: every output pixel samples the image.
    assert (out['img'] == 200).all()
    assert (out['gt_seg_map'] == 1).all()


def test_the_plain_resize_uses_its_interpolation():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (13, 17, 3), dtype=np.uint8)
    nearest = ReferResize(scale=(40, 40), interpolation='nearest')(
        dict(img=img.copy()))['img']
    bilinear = ReferResize(scale=(40, 40))(dict(img=img.copy()))['img']
    assert not np.array_equal(nearest, bilinear)
    # Nearest sampling only copies input colours.
    assert set(map(tuple, nearest.reshape(-1, 3))) <= set(
        map(tuple, img.reshape(-1, 3)))


def test_scale_forms():
    assert LetterboxResize(scale=32).scale == (32, 32)
    assert LetterboxResize(scale=(1, 8)).scale == (1, 8)
    for bad in ((0, 8), (8, ), (-1, 4)):
        with pytest.raises(ValueError, match='positive'):
            LetterboxResize(scale=bad)


def test_a_soft_float_mask_keeps_its_values():
    # A soft mask (e.g. from an earlier warp) is not binarised again.
    img = np.zeros((20, 20, 3), np.uint8)
    mask = np.full((20, 20), 0.25, np.float32)
    out = LetterboxResize(scale=(40, 40))(results_with(img, gt_seg_map=mask))
    np.testing.assert_allclose(out['gt_seg_map'][5:30, 5:30], 0.25)
