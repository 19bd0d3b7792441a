import copy

import pytest
import torch
from mmengine.config import Config
from mmseg.structures import SegDataSample
from torch import nn

from mmrefseg.apis import (NO_INFERENCE_TRANSFORMS, inference_autocast,
                           merge_inference_cfg, optimize_for_inference)
from mmrefseg.models.layers import VLMultiheadAttention

TINY_CONFIG = 'configs/toy/cris_tiny_refer-toy.py'
TEXTS = ['the red circle', 'blue square at the bottom', 'largest one']


@pytest.fixture(scope='module')
def tiny_model():
    """The tiny CRIS with random weights and non-trivial BN statistics."""
    from mmrefseg.registry import MODELS
    from mmrefseg.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TINY_CONFIG).model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                shape = module.running_mean.shape
                module.running_mean.normal_(0, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.weight.copy_(1 + 0.2 * torch.randn(shape,
                                                          generator=generator))
                module.bias.copy_(0.2 * torch.randn(shape,
                                                    generator=generator))
    return model.eval()


def _samples(texts):
    return [SegDataSample(metainfo=dict(text=text)) for text in texts]


def _logits(model, images, texts):
    with torch.inference_mode():
        return model(images, _samples(texts), mode='tensor')


def test_default_options_keep_the_outputs(tiny_model):
    images = torch.randn(3, 3, 64, 96)
    expected = _logits(tiny_model, images, TEXTS)
    model = optimize_for_inference(copy.deepcopy(tiny_model))
    # Every BN that follows a conv is folded away; the neck's norm_layer
    # follows the sentence gating product, not a conv, and stays.
    remaining = [
        name for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and not isinstance(m, nn.BatchNorm1d)
    ]
    assert remaining == ['neck.norm_layer.0']
    assert all(m.fused for m in model.modules()
               if isinstance(m, VLMultiheadAttention))
    logits = _logits(model, images, TEXTS)
    scale = expected.abs().max().item()
    assert (logits - expected).abs().max().item() <= 1e-4 * max(1., scale)


def test_fused_attention_switch(tiny_model):
    model = optimize_for_inference(
        copy.deepcopy(tiny_model), fused_attention=True)
    attentions = [
        m for m in model.modules() if isinstance(m, VLMultiheadAttention)
    ]
    assert attentions and all(m.fused for m in attentions)
    images = torch.randn(2, 3, 64, 64)
    expected = _logits(tiny_model, images, TEXTS[:2])
    torch.testing.assert_close(
        _logits(model, images, TEXTS[:2]), expected, atol=1e-4, rtol=1e-4)


def test_one_image_is_encoded_once_for_several_sentences(tiny_model):
    image = torch.randn(1, 3, 64, 64)
    calls = []
    handle = tiny_model.backbone.register_forward_hook(
        lambda module, args, out: calls.append(args[0].shape[0]))
    try:
        shared = _logits(tiny_model, image, TEXTS)
        repeated = _logits(tiny_model, image.expand(3, -1, -1, -1), TEXTS)
    finally:
        handle.remove()
    assert calls == [1, 3]
    torch.testing.assert_close(shared, repeated, atol=1e-5, rtol=1e-5)


def test_merge_inference_cfg():
    cfg = merge_inference_cfg(
        dict(compile=True, compile_cfg=dict(mode='max-autotune')),
        dict(autocast='bf16'))
    assert cfg['compile'] and cfg['autocast'] == 'bf16'
    assert cfg['fuse_conv_bn'] and cfg['fused_attention']
    # compile_cfg merges key by key
    assert cfg['compile_cfg']['mode'] == 'max-autotune'
    assert cfg['compile_cfg']['freezing'] is True
    with pytest.raises(KeyError, match='fuse_bn'):
        merge_inference_cfg(dict(fuse_bn=True))
    with pytest.raises(ValueError, match='int8'):
        merge_inference_cfg(dict(autocast='int8'))


def test_bf16_autocast_runs_close_to_fp32(tiny_model):
    images = torch.randn(1, 3, 64, 64)
    expected = _logits(tiny_model, images, TEXTS[:1])
    with inference_autocast('cpu', 'bf16'):
        logits = _logits(tiny_model, images, TEXTS[:1])
    assert logits.dtype == torch.bfloat16
    probs, expected_probs = logits.float().sigmoid(), expected.sigmoid()
    assert (probs - expected_probs).abs().max() < 0.1
    with inference_autocast('cpu', None):
        assert _logits(tiny_model, images, TEXTS[:1]).dtype == torch.float32


def test_no_inference_transforms_leave_the_model_as_built(tiny_model):
    switches = {key for key, value in merge_inference_cfg().items()
                if isinstance(value, bool)}
    assert set(NO_INFERENCE_TRANSFORMS) == switches
    assert not any(NO_INFERENCE_TRANSFORMS.values())
    model = optimize_for_inference(
        copy.deepcopy(tiny_model), **NO_INFERENCE_TRANSFORMS)
    assert model.state_dict().keys() == tiny_model.state_dict().keys()
    assert [type(m) for m in model.modules()] == \
        [type(m) for m in tiny_model.modules()]
    images = torch.randn(1, 3, 64, 96)
    assert torch.equal(
        _logits(model, images, TEXTS[:1]),
        _logits(tiny_model, images, TEXTS[:1]))


def test_channels_last_model_keeps_the_outputs(tiny_model):
    images = torch.randn(2, 3, 64, 96)
    expected = _logits(tiny_model, images, TEXTS[:2])
    model = optimize_for_inference(
        copy.deepcopy(tiny_model), channels_last=True)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(
        m.weight.is_contiguous(memory_format=torch.channels_last)
        for m in convs if tuple(m.kernel_size) != (1, 1))
    logits = _logits(model, images.contiguous(
        memory_format=torch.channels_last), TEXTS[:2])
    scale = expected.abs().max().item()
    assert (logits - expected).abs().max().item() <= 1e-4 * max(1., scale)


requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a CUDA device')


@pytest.mark.parametrize('device', [
    'cpu', pytest.param('cuda', marks=requires_cuda)])
@pytest.mark.parametrize('config', [
    TINY_CONFIG, 'configs/toy/eavl_tiny_refer-toy.py'])
def test_compile_makes_one_graph_per_tensor_part(config, device):
    """Backbone, neck, head and text encoder are one graph each, also where
    the segmentor calls the head's ``forward`` directly (tensor mode,
    ``encode_decode``), with no graph break."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    from mmrefseg.registry import MODELS
    from mmrefseg.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model).to(device).eval()
    images = torch.randn(2, 3, 128, 128, device=device)
    expected = _logits(optimize_for_inference(copy.deepcopy(model)), images,
                       TEXTS[:2])
    graphs = []

    def recording_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    torch._dynamo.reset()
    counters.clear()
    optimize_for_inference(
        model, compile=True, compile_cfg=dict(backend=recording_backend))
    logits = _logits(model, images, TEXTS[:2])
    with torch.inference_mode():
        model.encode_decode(images, _samples(TEXTS[:2]))
    assert len(graphs) == 4
    assert not counters['graph_break'], list(counters['graph_break'])
    torch.testing.assert_close(logits, expected)


def test_compile_mode_with_freezing_becomes_inductor_options():
    from mmrefseg.apis.optimize import _compile_kwargs

    # torch.compile refuses a mode together with options.
    kwargs = _compile_kwargs(
        dict(backend='inductor', dynamic=False, freezing=True,
             mode='reduce-overhead'))
    assert 'mode' not in kwargs
    assert kwargs['options'] == {'triton.cudagraphs': True, 'freezing': True}
    kwargs = _compile_kwargs(
        dict(backend='inductor', freezing=True, mode='default'))
    assert kwargs == dict(backend='inductor', options={'freezing': True})
    assert _compile_kwargs(dict(backend='inductor', mode='reduce-overhead')) \
        == dict(backend='inductor', mode='reduce-overhead', options=None)


def test_deep_copy_of_a_compiled_model_uses_its_own_weights(tiny_model):
    images = torch.randn(1, 3, 64, 64)
    model = optimize_for_inference(
        copy.deepcopy(tiny_model), compile=True)  # inductor, freezing
    before = _logits(model, images, TEXTS[:1])
    copied = copy.deepcopy(model)
    with torch.no_grad():
        for part in (copied.backbone, copied.decode_head):
            for parameter in part.parameters():
                parameter.mul_(1.5)
    # What the copy's weights give without compiling.
    eager = copy.deepcopy(copied)
    for part in (eager.backbone, eager.neck, eager.decode_head):
        del part.forward
    del eager.text_encoder.forward_tokens
    expected = _logits(eager, images, TEXTS[:1])
    assert not torch.allclose(expected, before)
    torch.testing.assert_close(
        _logits(copied, images, TEXTS[:1]), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(_logits(model, images, TEXTS[:1]), before)
