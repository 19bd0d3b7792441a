import numpy as np
import pytest

from mmrefseg.apis import ReferPrediction, inference_model, init_model

TINY_CONFIG = 'configs/toy/cris_tiny_refer-toy.py'


@pytest.fixture(scope='module')
def model():
    with pytest.warns(UserWarning, match='random weights'):
        return init_model(TINY_CONFIG, device='cpu')


@pytest.fixture(scope='module')
def image():
    # An odd, non-square size: the letterbox must be undone exactly.
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(75, 111, 3), dtype=np.uint8)


def test_one_sentence_gives_a_mask_of_the_image_size(model, image):
    result = inference_model(model, image, 'the red circle on the left')
    assert isinstance(result, ReferPrediction)
    assert result.mask.shape == image.shape[:2]
    assert result.mask.dtype == bool
    assert result.prob.shape == image.shape[:2]
    assert 0.0 <= result.prob.min() <= result.prob.max() <= 1.0
    threshold = model.test_cfg['threshold']
    np.testing.assert_array_equal(result.mask, result.prob > threshold)
    expected = result.prob[result.mask].mean() if result.mask.any() else 0.
    assert result.score == pytest.approx(float(expected))


def test_several_sentences_run_as_one_batch(model, image):
    texts = ['the red circle', 'blue square at the bottom', 'largest one']
    results = inference_model(model, image, texts)
    assert [r.text for r in results] == texts
    for result in results:
        assert result.mask.shape == image.shape[:2]
    # Each sentence gets its own prediction, equal to running it alone.
    alone = inference_model(model, image, texts[1])
    np.testing.assert_allclose(results[1].prob, alone.prob, atol=1e-5)
    assert not np.allclose(results[0].prob, results[1].prob)


def test_image_path_input(model, image, tmp_path):
    import cv2
    path = str(tmp_path / 'image.png')
    cv2.imwrite(path, image)
    from_path = inference_model(model, path, 'the red circle')
    from_array = inference_model(model, image, 'the red circle')
    np.testing.assert_allclose(from_path.prob, from_array.prob, atol=1e-5)


@pytest.mark.parametrize('text', ['', '   '])
def test_empty_sentence_is_refused(model, image, text):
    with pytest.raises(ValueError, match='empty'):
        inference_model(model, image, ['the red circle', text])


def test_too_long_and_non_ascii_sentences_are_handled(model, image):
    long_text = ' '.join(['the small red circle next to'] * 20)
    results = inference_model(model, image,
                              [long_text, 'le cercle rouge à gauche ☺'])
    for result in results:
        assert result.mask.shape == image.shape[:2]
        assert np.isfinite(result.prob).all()


def test_unknown_backend_precision_and_missing_export_are_refused():
    with pytest.raises(ValueError, match="'tensorrt'"):
        init_model(TINY_CONFIG, backend='tensorrt')
    with pytest.raises(ValueError, match="'int8'"):
        init_model(TINY_CONFIG, precision='int8')
    with pytest.raises(ValueError, match='exported model file'):
        init_model(TINY_CONFIG, backend='onnxruntime')


def test_bf16_precision_is_autocast_in_pytorch(image):
    with pytest.warns(UserWarning, match='random weights'):
        model = init_model(TINY_CONFIG, precision='bf16')
    assert model.inference_cfg['autocast'] == 'bf16'
    assert inference_model(model, image, 'the red circle').mask.shape == \
        image.shape[:2]
