"""ReferLocalVisualizer: prediction fill, ground-truth outline, caption."""
import mmcv
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.visualization import ReferLocalVisualizer

H, W = 120, 160


@pytest.fixture
def visualizer():
    return ReferLocalVisualizer(name='test_refer_visualizer')


def masks():
    pred = np.zeros((H, W), bool)
    pred[60:100, 20:60] = True
    gt = np.zeros((H, W), bool)
    gt[60:110, 90:140] = True
    return pred, gt


def test_draw_refer_fills_outlines_and_captions(visualizer):
    image = np.full((H, W, 3), 100, np.uint8)
    pred, gt = masks()
    drawn = visualizer.draw_refer(image, 'the red box', pred, gt)
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    # Prediction: half-way to (220, 20, 60).
    np.testing.assert_array_equal(drawn[80, 40], [160, 60, 80])
    # Ground truth: a green outline, its inside untouched.
    assert tuple(drawn[85, 90]) == (0, 255, 0)
    np.testing.assert_array_equal(drawn[85, 115], [100, 100, 100])
    # Caption band (text + IoU line) darkens the top rows only.
    assert drawn[:5].mean() < 100
    np.testing.assert_array_equal(drawn[H - 5, 5], [100, 100, 100])
    assert image.max() == 100  # the input is not modified


def test_long_sentences_wrap_into_more_lines(visualizer):
    image = np.full((H, W, 3), 200, np.uint8)
    short = visualizer.draw_refer(image, 'a cat')
    long = visualizer.draw_refer(image, ' '.join(['the cat'] * 12))

    def band_rows(drawn):
        # The text starts a little right of x = 0: column 0 is band only.
        return int((drawn[:, 0, 0] < 150).sum())

    # One line for the short sentence, several for the long one.
    assert band_rows(long) >= 3 * band_rows(short) > 0
    assert band_rows(long) < H


def test_add_datasample_writes_out_file(visualizer, tmp_path):
    pred, gt = masks()
    sample = SegDataSample(metainfo=dict(text='the box'))
    sample.pred_sem_seg = PixelData(data=torch.from_numpy(pred)[None].long())
    # A ground truth at another size is resized to the image.
    sample.gt_sem_seg = PixelData(
        data=torch.from_numpy(gt[::2, ::2].copy())[None].to(torch.uint8))
    out_file = tmp_path / 'pic.png'
    drawn = visualizer.add_datasample(
        'pic', np.zeros((H, W, 3), np.uint8), sample, out_file=str(out_file))
    written = mmcv.imread(str(out_file), channel_order='rgb')
    np.testing.assert_array_equal(written, drawn)
    assert tuple(drawn[85, 90]) == (0, 255, 0)
