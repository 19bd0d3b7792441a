import cv2
import numpy as np
import pytest
import torch

from mmrefseg.datasets.transforms import (CLIP_MEAN_BGR, LetterboxResize,
                                          ReferResize)
from mmrefseg.utils import restore_original_size

PAD_BGR = (104, 117, 123)  # the CLIP mean colour, as uint8


def _cris_reference_letterbox(img_rgb, size):
    """The CRIS reference's input transform, as its dataset code states it:
    scale by min(H/h, W/w), centre with (W - w*s)/2, (H - h*s)/2, map the
    corners (0,0), (w,0), (0,h) with cv2.getAffineTransform, warp with
    cubic interpolation and the CLIP mean (RGB, 0-255) as border."""
    ori_h, ori_w = img_rgb.shape[:2]
    inp_h, inp_w = size
    scale = min(inp_h / ori_h, inp_w / ori_w)
    new_h, new_w = ori_h * scale, ori_w * scale
    bias_x, bias_y = (inp_w - new_w) / 2., (inp_h - new_h) / 2.
    src = np.array([[0, 0], [ori_w, 0], [0, ori_h]], np.float32)
    dst = np.array(
        [[bias_x, bias_y], [new_w + bias_x, bias_y], [bias_x, new_h + bias_y]],
        np.float32)
    mat = cv2.getAffineTransform(src, dst)
    img = cv2.warpAffine(
        img_rgb,
        mat, (inp_w, inp_h),
        flags=cv2.INTER_CUBIC,
        borderValue=[0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255])
    return img, mat, cv2.getAffineTransform(dst, src)


def _disc(height, width, cy, cx, radius):
    ys, xs = np.mgrid[:height, :width]
    return ((ys - cy)**2 + (xs - cx)**2 <= radius**2).astype(np.uint8)


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize('ori_hw', [(100, 200), (427, 640), (333, 250),
                                    (416, 416), (37, 91), (500, 123)])
def test_matches_cris_reference(ori_hw):
    rng = np.random.default_rng(sum(ori_hw))
    img_bgr = rng.integers(0, 256, (*ori_hw, 3), dtype=np.uint8)
    results = LetterboxResize(scale=(416, 416))(dict(img=img_bgr.copy()))
    expected_rgb, _, _ = _cris_reference_letterbox(img_bgr[..., ::-1].copy(),
                                                   (416, 416))
    # Bit-identical input to a converted CRIS checkpoint (BGR here).
    np.testing.assert_array_equal(results['img'], expected_rgb[..., ::-1])
    assert results['img_shape'] == (416, 416)


def test_geometry_bookkeeping():
    # 427x640, the usual COCO landscape: s = 0.65, content 277.55 x 416,
    # centred 69.225 px from the top.
    img = np.zeros((427, 640, 3), np.uint8)
    results = LetterboxResize(scale=(416, 416))(dict(img=img))
    assert results['scale_factor'] == pytest.approx((0.65, 0.65))
    assert results['resized_shape'] == pytest.approx((277.55, 416.0))
    assert results['pad_offset'] == pytest.approx((69.225, 0.0))
    assert results['keep_ratio'] is True
    # A non-square output: (w, h) order as mmcv.
    results = LetterboxResize(scale=(300, 200))(dict(img=img))
    assert results['img'].shape == (200, 300, 3)
    assert results['img_shape'] == (200, 300)
    scale = min(200 / 427, 300 / 640)
    assert results['pad_offset'] == pytest.approx(
        ((200 - 427 * scale) / 2, (300 - 640 * scale) / 2))


def test_pad_colour_and_content():
    img = np.full((100, 200, 3), (10, 200, 30), np.uint8)
    out = LetterboxResize(scale=(416, 416))(dict(img=img))['img']
    # Content rows 104..311 (s = 2.08); padding above and below.
    assert out.dtype == np.uint8
    assert (out[:100] == PAD_BGR).all() and (out[-100:] == PAD_BGR).all()
    # Away from the content's edge, where cubic taps reach the padding.
    assert (out[110:300, 3:-3] == (10, 200, 30)).all()
    assert np.allclose(CLIP_MEAN_BGR, PAD_BGR, atol=0.5)


def test_mask_warped_bilinearly_to_soft_float():
    mask = _disc(120, 200, 60, 80, 30)
    results = LetterboxResize(scale=(416, 416))(
        dict(
            img=np.zeros((120, 200, 3), np.uint8),
            gt_seg_map=mask,
            seg_fields=['gt_seg_map']))
    gt = results['gt_seg_map']
    assert gt.shape == (416, 416) and gt.dtype == np.float32
    assert gt.min() == 0 and gt.max() == 1
    assert ((gt > 0) & (gt < 1)).any()  # soft edges, as the reference
    # Values are k/255: the reference warps a 0/255 uint8 mask.
    np.testing.assert_allclose(gt * 255, np.round(gt * 255), atol=1e-4)
    scale = 416 / 200
    assert gt.sum() == pytest.approx(mask.sum() * scale**2, rel=0.02)


@pytest.mark.parametrize('transform', [
    LetterboxResize(scale=(416, 416)),
    LetterboxResize(scale=(128, 96)),
    ReferResize(scale=(480, 480)),
    ReferResize(scale=(160, 128)),
])
@pytest.mark.parametrize('ori_hw', [(240, 320), (427, 640), (300, 180)])
def test_round_trip(transform, ori_hw):
    h, w = ori_hw
    mask = _disc(h, w, 0.4 * h, 0.6 * w, 0.25 * min(h, w))
    results = transform(
        dict(img=np.zeros((h, w, 3), np.uint8), gt_seg_map=mask))
    meta = dict(
        ori_shape=(h, w),
        img_shape=results['img_shape'],
        scale_factor=results['scale_factor'],
        pad_offset=results['pad_offset'])
    warped = torch.from_numpy(results['gt_seg_map'])[None]
    restored = restore_original_size(warped, meta)
    assert restored.shape == (1, h, w)
    assert _iou(restored[0].numpy() > 0.5, mask.astype(bool)) > 0.97
    # From a stride-4 map too, as a head's logits.
    small = torch.nn.functional.interpolate(
        warped[None], scale_factor=0.25, mode='bilinear')[0]
    restored = restore_original_size(small, meta)
    assert _iou(restored[0].numpy() > 0.5, mask.astype(bool)) > 0.9


def test_restore_matches_cris_inverse():
    """Same result as the reference: cv2.warpAffine with the inverse."""
    h, w = 427, 640
    img = np.zeros((h, w, 3), np.uint8)
    results = LetterboxResize(scale=(416, 416))(dict(img=img))
    _, _, mat_inv = _cris_reference_letterbox(img, (416, 416))
    ys, xs = np.mgrid[:416, :416] / 416.
    prob = (0.5 + 0.5 * np.sin(7 * xs) * np.cos(5 * ys)).astype(np.float32)
    expected = cv2.warpAffine(
        prob, mat_inv, (w, h), flags=cv2.INTER_CUBIC, borderValue=0.)
    restored = restore_original_size(
        torch.from_numpy(prob)[None],
        dict(
            ori_shape=(h, w),
            img_shape=(416, 416),
            scale_factor=results['scale_factor'],
            pad_offset=results['pad_offset']))[0].numpy()
    np.testing.assert_allclose(restored, expected, atol=1e-4)
    np.testing.assert_array_equal(restored > 0.35, expected > 0.35)


def test_refer_resize_bookkeeping():
    img = np.zeros((240, 320, 3), np.uint8)
    results = ReferResize(scale=(480, 480))(dict(img=img))
    assert results['img'].shape == (480, 480, 3)
    assert results['img_shape'] == (480, 480)
    assert results['pad_offset'] == (0, 0)
    assert results['resized_shape'] == results['img_shape']
    assert results['scale_factor'] == pytest.approx((1.5, 2.0))
    assert results['keep_ratio'] is False


def test_bad_arguments():
    with pytest.raises(ValueError, match="'cubic'"):
        LetterboxResize(interpolation='cubic')
    with pytest.raises(ValueError, match='scale'):
        LetterboxResize(scale=(0, 416))
