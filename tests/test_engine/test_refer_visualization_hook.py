"""ReferVisualizationHook: one picture per sentence, named by its ids."""
import os
import os.path as osp
from types import SimpleNamespace

import mmcv
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.engine import ReferVisualizationHook
from mmrefseg.visualization import ReferLocalVisualizer


def make_sample(img_path, sent_id, image_id=7):
    sample = SegDataSample(
        metainfo=dict(
            img_path=img_path,
            image_id=image_id,
            sent_id=sent_id,
            text=f'sentence {sent_id}'))
    mask = torch.zeros(1, 30, 40, dtype=torch.long)
    mask[:, 5:15, 5:20] = 1
    sample.pred_sem_seg = PixelData(data=mask)
    sample.gt_sem_seg = PixelData(data=mask.to(torch.uint8))
    return sample


@pytest.fixture
def image_path(tmp_path):
    path = str(tmp_path / 'image.jpg')
    mmcv.imwrite(np.full((30, 40, 3), 90, np.uint8), path)
    return path


def test_test_pictures_are_named_by_image_and_sentence(tmp_path, image_path):
    ReferLocalVisualizer.get_instance('hook_test_visualizer')
    hook = ReferVisualizationHook(draw=True, test_out_dir='pictures')
    runner = SimpleNamespace(
        work_dir=str(tmp_path), timestamp='20260101_000000', iter=0)
    hook.before_test(runner)
    # Two sentences of the same image in one batch, a third in the next.
    hook.after_test_iter(runner, 0, {},
                         [make_sample(image_path, 1),
                          make_sample(image_path, 2)])
    hook.after_test_iter(runner, 1, {}, [make_sample(image_path, 3)])
    out_dir = osp.join(str(tmp_path), '20260101_000000', 'pictures')
    assert sorted(os.listdir(out_dir)) == ['7_1.jpg', '7_2.jpg', '7_3.jpg']
    assert mmcv.imread(osp.join(out_dir, '7_3.jpg')).shape == (30, 40, 3)


def test_val_pictures_go_to_the_backends_every_interval(tmp_path, image_path):
    ReferLocalVisualizer.get_instance(
        'hook_val_visualizer',
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path))
    hook = ReferVisualizationHook(draw=True, interval=2)
    runner = SimpleNamespace(work_dir=str(tmp_path), timestamp='t', iter=5)
    for batch_idx in range(4):
        hook.after_val_iter(runner, batch_idx, {},
                            [make_sample(image_path, batch_idx)])
    # Batches 2 and 4 (1-based) are drawn, at the training iteration.
    assert sorted(os.listdir(tmp_path / 'vis_data' / 'vis_image')) == [
        'val_7_1_5.png', 'val_7_3_5.png'
    ]


def test_nothing_is_drawn_without_draw(tmp_path, image_path):
    ReferLocalVisualizer.get_instance('hook_off_visualizer')
    hook = ReferVisualizationHook(draw=False, test_out_dir=str(tmp_path / 'p'))
    runner = SimpleNamespace(work_dir=str(tmp_path), timestamp='t', iter=0)
    hook.before_test(runner)
    hook.after_test_iter(runner, 0, {}, [make_sample(image_path, 1)])
    assert not osp.exists(tmp_path / 'p')


def test_samples_without_ids_are_reported(tmp_path, image_path):
    ReferLocalVisualizer.get_instance('hook_ids_visualizer')
    hook = ReferVisualizationHook(draw=True)
    sample = make_sample(image_path, 1)
    sample.set_metainfo(dict(sent_id=None))
    del sample.sent_id
    runner = SimpleNamespace(work_dir=str(tmp_path), timestamp='t', iter=0)
    with pytest.raises(KeyError, match='sent_id'):
        hook.after_test_iter(runner, 0, {}, [sample])
