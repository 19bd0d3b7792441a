"""The mask lands on the right pixels of the original image.

A fake head (``TestOnlyRampHead``, tests/helpers.py) outputs a foreground
probability that is a known linear function of the position in the network
input. The original pixel (x0, y0) sits at ``(x0 * s_w + left,
y0 * s_h + top)`` of the input (pixel centres at integer coordinates, the
corner-to-corner affine of the CRIS letterbox): its probability and its mask
value are known exactly, for a letterbox (non-square image, centred content
with fractional offsets) and for a plain resize, with the logits at the input
resolution or at 1/4 of it. With bilinear upsampling the whole chain is exact
for a linear function, so any error of the geometry (half a pixel, an offset
ignored, x and y swapped, the wrong scale) shows far above the tolerance.
"""
import warnings

import numpy as np
import pytest

from mmrefseg.apis import inference_model, init_model
from tests.helpers import RampHead  # noqa: F401 (registers the fake head)

TOY_CONFIG = 'configs/toy/cris_tiny_refer-toy.py'
INPUT_W, INPUT_H = 96, 64  # non-square network input, (w, h)
SLOPE, BIAS, THRESHOLD = (0.004, 0.006), 0.05, 0.35

CONFIG = """
_base_ = {base!r}
transform = {transform!r}
test_pipeline = [dict(type='LoadReferImage'), transform,
                 dict(type='PackReferInputs')]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
model = dict(
    decode_head=dict(_delete_=True, type='TestOnlyRampHead',
                     input_size=({h}, {w}), stride={stride},
                     slope={slope!r}, bias={bias!r}),
    test_cfg=dict(threshold={threshold!r}, upsample_mode={mode!r}))
"""

TRANSFORMS = dict(
    letterbox=dict(type='LetterboxResize', scale=(INPUT_W, INPUT_H)),
    resize=dict(type='ReferResize', scale=(INPUT_W, INPUT_H)))


def expected_probability(transform, height, width):
    """(H0, W0) probability at every original pixel, from the geometry
    stated independently of mmrefseg's code."""
    if transform == 'letterbox':
        scale_w = scale_h = min(INPUT_W / width, INPUT_H / height)
        left = (INPUT_W - width * scale_w) / 2
        top = (INPUT_H - height * scale_h) / 2
    else:
        scale_w, scale_h = INPUT_W / width, INPUT_H / height
        left = top = 0.0
    xs = np.arange(width) * scale_w + left
    ys = np.arange(height) * scale_h + top
    # When the image is shrunk, its last row (column) lies up to one input
    # pixel beyond the last input pixel centre: there the input counts as
    # zero (the reference's cv2.warpAffine border), so the value fades
    # linearly between the last input pixel and the zero beyond it.
    fade_x = np.clip(1 - np.maximum(xs - (INPUT_W - 1), 0), 0, 1)
    fade_y = np.clip(1 - np.maximum(ys - (INPUT_H - 1), 0), 0, 1)
    xs, ys = np.minimum(xs, INPUT_W - 1), np.minimum(ys, INPUT_H - 1)
    prob = BIAS + SLOPE[0] * xs[None, :] + SLOPE[1] * ys[:, None]
    return prob * fade_x[None, :] * fade_y[:, None]


def _model(tmp_path, transform, stride, mode):
    path = tmp_path / f'ramp_{transform}_{stride}_{mode}.py'
    path.write_text(
        CONFIG.format(
            base=f'{__import__("os").getcwd()}/{TOY_CONFIG}',
            transform=TRANSFORMS[transform],
            h=INPUT_H,
            w=INPUT_W,
            stride=stride,
            slope=SLOPE,
            bias=BIAS,
            threshold=THRESHOLD,
            mode=mode))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random weights: the head ignores
        return init_model(str(path), device='cpu')


@pytest.fixture(scope='module')
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(75, 111, 3), dtype=np.uint8)


@pytest.mark.parametrize('transform', ['letterbox', 'resize'])
@pytest.mark.parametrize('stride', [1, 4])
@pytest.mark.parametrize('tall', [False, True])
def test_probability_and_mask_at_every_original_pixel(tmp_path, image,
                                                      transform, stride,
                                                      tall):
    if tall:
        image = np.ascontiguousarray(image.transpose(1, 0, 2))
    height, width = image.shape[:2]
    model = _model(tmp_path, transform, stride, 'bilinear')
    result = inference_model(model, image, 'the red circle')
    expected = expected_probability(transform, height, width)
    assert result.prob.shape == (height, width)
    np.testing.assert_allclose(result.prob, expected, rtol=0, atol=2e-5)
    # Half an input pixel off in x or in y would be far outside it.
    assert 0.5 * min(SLOPE) > 50 * 2e-5
    decided = np.abs(expected - THRESHOLD) > 1e-4
    assert 0.2 < (expected > THRESHOLD).mean() < 0.8  # a real boundary
    np.testing.assert_array_equal(result.mask[decided],
                                  (expected > THRESHOLD)[decided])


@pytest.mark.parametrize('transform', ['letterbox', 'resize'])
def test_mask_with_the_reference_bicubic_interpolation(tmp_path, image,
                                                       transform):
    """CRIS's own setting, bicubic: it does not reproduce a linear function
    exactly (errors up to ~0.12 input pixel here), and its taps read zeros
    beyond the input's border, so the outer two rows and columns and the
    pixels within a quarter of an input pixel of the boundary are left out;
    every other pixel must match."""
    height, width = image.shape[:2]
    model = _model(tmp_path, transform, 1, 'bicubic')
    result = inference_model(model, image, 'the red circle')
    expected = expected_probability(transform, height, width)
    quarter_pixel = 0.25 * min(SLOPE)
    inner = (slice(2, -2), slice(2, -2))
    np.testing.assert_allclose(result.prob[inner], expected[inner], rtol=0,
                               atol=quarter_pixel)
    decided = np.abs(expected[inner] - THRESHOLD) > quarter_pixel
    assert decided.mean() > 0.95
    np.testing.assert_array_equal(result.mask[inner][decided],
                                  (expected[inner] > THRESHOLD)[decided])
