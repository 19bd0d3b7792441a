import numpy as np
import pytest
import torch
from mmseg.structures import SegDataSample

from mmrefseg.datasets.transforms import PackReferInputs

META = dict(
    img_path='a.jpg',
    image_id=3,
    ref_id=4,
    sent_id=5,
    text='red circle',
    ori_shape=(40, 60),
    img_shape=(32, 32),
    resized_shape=(21.333, 32.0),
    pad_offset=(5.333, 0.0),
    scale_factor=(0.533, 0.533))


def test_pack_train_sample():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    gt = rng.random((32, 32)).astype(np.float32)
    packed = PackReferInputs()(dict(META, img=img, gt_seg_map=gt, extra=1))
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.shape == (3, 32, 32) and inputs.dtype == torch.uint8
    # Channel order kept (BGR): the data preprocessor swaps it.
    np.testing.assert_array_equal(inputs.permute(1, 2, 0).numpy(), img)
    assert isinstance(sample, SegDataSample)
    assert sample.gt_sem_seg.data.shape == (1, 32, 32)
    assert sample.gt_sem_seg.data.dtype == torch.float32
    np.testing.assert_array_equal(sample.gt_sem_seg.data[0].numpy(), gt)
    assert sample.metainfo == META


def test_pack_test_sample_keeps_uint8_gt():
    gt = np.zeros((40, 60), np.uint8)
    gt[10:20, 10:30] = 1
    packed = PackReferInputs()(
        dict(META, img=np.zeros((32, 32, 3), np.uint8), gt_seg_map=gt))
    data = packed['data_samples'].gt_sem_seg.data
    assert data.dtype == torch.uint8 and data.shape == (1, 40, 60)
    assert data.sum() == 200


def test_pack_without_gt_or_sentence():
    packed = PackReferInputs()(dict(META, img=np.zeros((8, 8, 3), np.uint8)))
    assert 'gt_sem_seg' not in packed['data_samples']
    results = dict(META, img=np.zeros((8, 8, 3), np.uint8))
    results.pop('text')
    with pytest.raises(KeyError, match='ref 4'):
        PackReferInputs()(results)
