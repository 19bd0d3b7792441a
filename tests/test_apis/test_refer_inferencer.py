import os.path as osp

import cv2
import numpy as np
import pytest

from mmrefseg.apis import ReferInferencer, ReferPrediction

TINY_CONFIG = 'configs/toy/cris_tiny_refer-toy.py'


@pytest.fixture(scope='module')
def inferencer():
    with pytest.warns(UserWarning, match='random weights'):
        return ReferInferencer(TINY_CONFIG, device='cpu')


@pytest.fixture(scope='module')
def image():
    rng = np.random.default_rng(1)
    return rng.integers(0, 255, size=(70, 90, 3), dtype=np.uint8)


def test_writes_a_picture_and_a_mask_per_sentence(inferencer, image,
                                                  tmp_path):
    texts = ['the red circle', 'green one on the right']
    out = inferencer(
        image, texts=texts, out_dir=str(tmp_path), return_vis=True)
    assert [p['text'] for p in out['predictions']] == texts
    for index, pred in enumerate(out['predictions']):
        assert pred['mask'].shape == image.shape[:2]
        assert pred['mask'].dtype == np.uint8
        assert 0. <= pred['score'] <= 1.
        picture = cv2.imread(
            osp.join(str(tmp_path), 'vis', f'00000000_{index}.png'))
        assert picture is not None and picture.shape == image.shape
        saved = cv2.imread(
            osp.join(str(tmp_path), 'pred', f'00000000_{index}.png'),
            cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(saved, pred['mask'] * 255)
    assert len(out['visualization']) == 2
    assert out['visualization'][0].shape == image.shape


def test_item_inputs_and_datasamples(inferencer, image, tmp_path):
    path = str(tmp_path / 'shapes.png')
    cv2.imwrite(path, image)
    out = inferencer([dict(img=path, text='the red circle'),
                      (image, ['blue square', 'largest one'])],
                     return_datasamples=True)
    preds = out['predictions']
    assert len(preds) == 3 and out['visualization'] == []
    assert all(isinstance(p, ReferPrediction) for p in preds)
    assert preds[0].data_sample.metainfo['img_path'] == path
    assert [p.text for p in preds] == [
        'the red circle', 'blue square', 'largest one'
    ]


def test_bad_inputs_are_named(inferencer, image):
    with pytest.raises(KeyError, match='text'):
        inferencer([dict(img=image)])
    with pytest.raises(TypeError, match='Input 0'):
        inferencer([image])
    with pytest.raises(ValueError, match='empty'):
        inferencer(image, texts=[''])
