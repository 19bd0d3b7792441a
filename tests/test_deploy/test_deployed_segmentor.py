"""DeployedReferSegmentor predicts the masks of the PyTorch model."""
import pytest
import torch

from mmrefseg.apis import inference_model
from mmrefseg.deploy import DeployedReferSegmentor, build_deployed_model
from .conftest import TOY_CONFIGS, preprocessed

TEXTS = [
    'the red circle', 'the big blue square at the bottom of the '
    'picture next to the small green triangle on the left'
]


@pytest.fixture(scope='module')
def deployed(exports):
    """family -> DeployedReferSegmentor on its dynamic-batch graph."""
    cache = {}

    def get(family, backend='onnxruntime', dynamic_batch=True):
        key = family, backend, dynamic_batch
        if key not in cache:
            cache[key] = build_deployed_model(
                TOY_CONFIGS[family],
                exports.onnx(family, dynamic_batch),
                backend,
                num_threads=1)
        return cache[key]

    return get


def assert_same_predictions(results, expected):
    assert len(results) == len(expected)
    for result, reference in zip(results, expected):
        assert result.metainfo['text'] == reference.metainfo['text']
        torch.testing.assert_close(
            result.seg_logits.data,
            reference.seg_logits.data,
            rtol=0,
            atol=1e-4)
        assert torch.equal(result.pred_sem_seg.data,
                           reference.pred_sem_seg.data)


@pytest.mark.parametrize('family, backend, dynamic_batch', [
    ('cris', 'onnxruntime', True),
    ('cris', 'onnxruntime', False),
    ('eavl-swin', 'onnxruntime', True),
    ('eavl-swin', 'openvino', True),
])
def test_predict_equals_pytorch(exports, deployed, odd_image, family, backend,
                                dynamic_batch):
    model, cfg = exports.model(family)
    deployed_model = deployed(family, backend, dynamic_batch)
    inputs, samples = preprocessed(model, cfg, odd_image, TEXTS)
    with torch.no_grad():
        expected = model.predict(inputs, [s.clone() for s in samples])
    results = deployed_model.predict(inputs, samples)
    assert_same_predictions(results, expected)
    assert results[0].pred_sem_seg.data.shape[-2:] == odd_image.shape[:2]
    # A batch of images, one sentence each.
    inputs = torch.cat([inputs, inputs.flip(-1)])
    with torch.no_grad():
        expected = model.predict(inputs, [s.clone() for s in samples])
    assert_same_predictions(deployed_model.predict(inputs, samples), expected)


def test_inference_model_runs_a_deployed_model(exports, deployed, odd_image):
    model, _ = exports.model('eavl')
    deployed_model = deployed('eavl')
    results = inference_model(deployed_model, odd_image, TEXTS)
    expected = inference_model(model, odd_image, TEXTS)
    for result, reference in zip(results, expected):
        assert result.text == reference.text
        assert (abs(result.prob - reference.prob)).max() <= 1e-4
        assert (result.mask == reference.mask).all()


def test_deployed_model_holds_no_weights(deployed):
    model = deployed('eavl-swin')
    assert isinstance(model, DeployedReferSegmentor)
    assert not model.training
    assert model.cfg.model.type == 'ReferSegmentor'
    assert model.test_cfg == model.cfg.model.test_cfg
    assert next(model.parameters()).device.type == 'cpu'
    assert sum(p.numel() for p in model.parameters()) == 0
    # The tokenizer stays (inference_model counts tokens with it).
    assert model.text_encoder.count_tokens(['the dog']) == [4]


def test_deployed_model_refuses_training_and_features(deployed, odd_image):
    model = deployed('cris')
    with pytest.raises(NotImplementedError, match='trained'):
        model.loss(torch.zeros(1, 3, 128, 128), [])
    with pytest.raises(NotImplementedError, match='features'):
        model.extract_feat(torch.zeros(1, 3, 128, 128))


def test_graph_of_another_model_is_refused(exports):
    with pytest.raises(ValueError, match='attention_mask'):
        build_deployed_model(TOY_CONFIGS['eavl-swin'], exports.onnx('cris'),
                             'onnxruntime')


def test_init_model_builds_the_deployed_model(exports):
    from mmrefseg.apis import init_model
    model = init_model(
        TOY_CONFIGS['cris'],
        exports.onnx('cris', True),
        backend='openvino',
        num_threads=1)
    assert isinstance(model, DeployedReferSegmentor)
    assert model.backend.num_threads == 1
    assert model.backend.config['INFERENCE_NUM_THREADS'] == 1
    assert model.cfg.model.type == 'ReferSegmentor'


def test_runner_given_data_preprocessor_wins(exports):
    """mmengine's Runner passes a config's top-level data_preprocessor."""
    from mmrefseg.registry import MODELS
    from mmrefseg.utils import load_config
    cfg = load_config(TOY_CONFIGS['cris'])
    preprocessor = dict(cfg.model.data_preprocessor, pad_val=7)
    model = MODELS.build(
        dict(
            type='DeployedReferSegmentor',
            model=cfg.model,
            backend='onnxruntime',
            backend_file=exports.onnx('cris', True),
            data_preprocessor=preprocessor))
    assert cfg.model.data_preprocessor.pad_val == 0
    assert model.data_preprocessor.pad_val == 7
