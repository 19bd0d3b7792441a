import copy

import pytest
import torch
from mmengine.config import Config
from mmseg.structures import SegDataSample
from torch import nn

from mmrefseg.apis import (ALGEBRAIC_FOLDS, NO_INFERENCE_TRANSFORMS,
                           fold_upsample_convs, inference_autocast,
                           merge_inference_cfg, optimize_for_inference,
                           use_fast_avg_pools, use_packed_convs,
                           use_winograd_convs)
from mmrefseg.models.layers import (AvgPool2x2, BilinearUpsampleConv3x3,
                                    PackedConv2d, PackedLinear,
                                    PackedSelfAttention,
                                    UpsampledConcatConv1x1,
                                    VLMultiheadAttention, WinogradConv2d)

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


def test_inference_transforms_keep_the_outputs(tiny_model):
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
    # The projector's two upsample+conv pairs are folded, its final conv1x1
    # moved into the sentence kernel; every attention may fold projections.
    assert sum(isinstance(m, BilinearUpsampleConv3x3)
               for m in model.modules()) == 2
    projector = model.decode_head.proj
    assert isinstance(projector.vis[-1], nn.Identity)
    assert projector.dynamic_conv.input_weight is not None
    assert all(m.fold_projections for m in model.modules()
               if isinstance(m, VLMultiheadAttention))
    logits = _logits(model, images, TEXTS)
    scale = expected.abs().max().item()
    assert (logits - expected).abs().max().item() <= 1e-5 * max(1., scale)


def test_algebraic_folds_can_be_switched_off(tiny_model):
    model = optimize_for_inference(
        copy.deepcopy(tiny_model),
        fold_upsampled_concat=False,
        fold_mask_projection=False,
        fold_attention=False)
    assert not isinstance(model.neck.f2_cat, UpsampledConcatConv1x1)
    assert isinstance(model.decode_head.proj.vis[-1],
                      (nn.Conv2d, PackedConv2d))
    assert model.decode_head.proj.dynamic_conv.input_weight is None
    assert not any(m.fold_projections for m in model.modules()
                   if isinstance(m, VLMultiheadAttention))


def test_fold_only_pairs_upsample_then_3x3_conv():
    model = nn.Sequential(
        nn.Upsample(scale_factor=2, mode='bilinear'),
        nn.Conv2d(4, 4, 3, padding=1),  # folded
        nn.Upsample(scale_factor=2, mode='nearest'),
        nn.Conv2d(4, 4, 3, padding=1),  # nearest: kept
        nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True),
        nn.Conv2d(4, 4, 3, padding=1),  # align_corners: kept
        nn.Upsample(scale_factor=2, mode='bilinear'),
        nn.Conv2d(4, 4, 1))  # 1x1: kept
    x = torch.randn(1, 4, 3, 3)
    with torch.no_grad():
        expected = model(x)
        assert fold_upsample_convs(model) == 1
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)
    assert isinstance(model[1], BilinearUpsampleConv3x3)
    assert isinstance(model[0], nn.Identity)


def test_fast_avg_pools_replace_plain_pools_only():
    model = nn.Sequential(
        nn.AvgPool2d(2),  # AvgPool2x2
        nn.Sequential(nn.AvgPool2d(1)),  # identity
        nn.AvgPool2d(3),  # other window
        nn.AvgPool2d(2, ceil_mode=True))  # other rounding
    assert use_fast_avg_pools(model) == 2
    assert [type(m) for m in (model[0], model[1][0], model[2], model[3])] \
        == [AvgPool2x2, nn.Identity, nn.AvgPool2d, nn.AvgPool2d]
    assert use_fast_avg_pools(model) == 0


def test_fast_avg_pools_keep_the_bits(tiny_model):
    images = torch.randn(2, 3, 64, 96)
    model = optimize_for_inference(
        copy.deepcopy(tiny_model),
        **dict(NO_INFERENCE_TRANSFORMS, fast_avg_pool=True))
    # The CLIP ResNet's stem, its three down-sampling blocks (main path and
    # shortcut) and layer1's 1x1 shortcut pooling.
    assert sum(isinstance(m, AvgPool2x2) for m in model.modules()) == 7
    assert not any(isinstance(m, nn.AvgPool2d) for m in model.modules())
    assert torch.equal(
        _logits(model, images, TEXTS[:2]),
        _logits(tiny_model, images, TEXTS[:2]))


def test_winograd_replaces_wide_3x3_convolutions():
    model = nn.Sequential(
        nn.Conv2d(8, 8, 3, padding=1),  # replaced
        nn.Sequential(nn.Conv2d(8, 4, 3, padding=1)),  # 4 < min_channels
        nn.Conv2d(4, 8, 1),  # 1x1
        nn.Conv2d(8, 8, 3, padding=1, stride=2))  # strided
    assert use_winograd_convs(model, tile=2, min_channels=8) == 1
    assert isinstance(model[0], WinogradConv2d) and model[0].tile == 2
    assert [type(m) for m in model[1:]] == [nn.Sequential, nn.Conv2d,
                                            nn.Conv2d]
    assert type(model[1][0]) is nn.Conv2d
    # Idempotent: the convolution kept inside a WinogradConv2d is not
    # wrapped again.
    assert use_winograd_convs(model, min_channels=1) == 1  # model[1][0]
    assert type(model[0].conv) is nn.Conv2d


def test_the_convolution_inside_winograd_is_packed_for_small_maps():
    """Maps under ``direct_below_pixels`` run the kept convolution, on
    packed weights like every other; half precision still falls back."""
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3, padding=1).to(memory_format=torch.channels_last)
    model = nn.Sequential(WinogradConv2d(conv))
    assert use_packed_convs(model) == 1
    assert isinstance(model[0].conv, PackedConv2d)
    x = torch.randn(1, 8, 13, 13).contiguous(
        memory_format=torch.channels_last)
    with torch.inference_mode():
        expected = conv(x)
        out = model(x)
        assert model[0].conv.packed_weights  # the packed path ran
        with torch.autocast('cpu', dtype=torch.bfloat16):
            half = model(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert half.dtype == torch.bfloat16


@pytest.mark.parametrize('avx512', [False, True])
def test_packed_convs_give_winograd_its_grouped_products(avx512,
                                                         monkeypatch):
    """With packed convolutions every WinogradConv2d packs its products
    too, on any CPU (``packed_linear`` packs them only with AVX-512), so
    that channels-last maps take the grouped products."""
    from mmrefseg.apis import optimize
    monkeypatch.setattr(optimize, 'cpu_has_avx512', lambda: avx512)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1)).eval()
    expected_model = copy.deepcopy(model)
    optimize_for_inference(
        model, winograd_cfg=dict(min_channels=8), channels_last=True)
    layer = model[0]
    assert isinstance(layer, WinogradConv2d)
    layer.grouped_chunk = 8
    assert layer.packed_grouped is not None
    x = torch.randn(1, 8, 16, 16)
    with torch.inference_mode():
        out = model(x.contiguous(memory_format=torch.channels_last))
        expected = expected_model(x)
    assert layer.packed_grouped  # the grouped products ran
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_winograd_keeps_the_outputs(tiny_model, monkeypatch):
    # Winograd on the tiny model's small maps too.
    monkeypatch.setattr(WinogradConv2d, 'direct_below_pixels', 0)
    images = torch.randn(2, 3, 64, 80)
    expected = _logits(tiny_model, images, TEXTS[:2])
    model = optimize_for_inference(
        copy.deepcopy(tiny_model), winograd_cfg=dict(min_channels=1))
    replaced = [m for m in model.modules() if isinstance(m, WinogradConv2d)]
    assert replaced and all(m.tile == 4 for m in replaced)
    logits = _logits(model, images, TEXTS[:2])
    scale = expected.abs().max().item()
    assert (logits - expected).abs().max().item() <= 1e-5 * max(1., scale)


@pytest.mark.parametrize('many_rows', [False, True])
@pytest.mark.parametrize('config', [
    TINY_CONFIG, 'configs/toy/eavl_tiny_refer-toy.py'])
def test_packed_linears_keep_the_outputs(config, many_rows, monkeypatch):
    """The text encoder is packed on every CPU, the rest of the model only
    where packing pays on many rows (AVX-512; both cases forced here)."""
    from mmrefseg.apis import optimize
    from mmrefseg.registry import MODELS
    from mmrefseg.utils import register_all_modules
    register_all_modules()
    monkeypatch.setattr(optimize, 'cpu_has_avx512',
                        lambda: many_rows)
    torch.manual_seed(0)
    built = MODELS.build(Config.fromfile(config).model).eval()
    images = torch.randn(2, 3, 128, 128)
    expected = _logits(built, images, TEXTS[:2])
    model = optimize_for_inference(
        copy.deepcopy(built), **dict(
            NO_INFERENCE_TRANSFORMS, packed_linear=True,
            fold_upsample_conv=True, fold_upsampled_concat=True))
    linears = [name for name, m in built.text_encoder.named_modules()
               if isinstance(m, nn.Linear)]
    attentions = [name for name, m in built.text_encoder.named_modules()
                  if isinstance(m, nn.MultiheadAttention)]
    # Every linear layer is packed, those inside the attentions with them.
    packed = dict(model.text_encoder.named_modules())
    assert all(isinstance(packed[name], PackedSelfAttention)
               for name in attentions)
    assert all(
        isinstance(packed[name], PackedLinear) for name in linears
        if not any(name.startswith(a + '.') for a in attentions))
    assert not any(isinstance(m, (nn.Linear, nn.MultiheadAttention))
                   for m in model.text_encoder.modules())
    # The rest of the model (the head's FFNs, projections) only where
    # packing pays on many rows; the state dict keys stay the same.
    head_linears = [
        m for m in model.decode_head.modules()
        if isinstance(m, (nn.Linear, PackedLinear))
    ]
    assert head_linears
    assert all(isinstance(m, PackedLinear) == many_rows
               for m in head_linears)
    # So do the attentions' input projections, the upsample-convs'
    # products and the neck's folded concatenations (their own
    # pack_weights).
    attentions = [
        m for m in model.decode_head.modules()
        if isinstance(m, VLMultiheadAttention)
    ]
    upsample_convs = [
        m for m in model.decode_head.modules()
        if isinstance(m, BilinearUpsampleConv3x3)
    ]
    assert attentions and upsample_convs
    assert all((m.packed_in_proj is not None) == many_rows
               for m in attentions)
    assert all((m.packed_kernels is not None) == many_rows
               for m in upsample_convs)
    if config == TINY_CONFIG:  # CRIS: a FusionNeck
        concat_convs = [
            m for m in model.neck.modules()
            if isinstance(m, UpsampledConcatConv1x1)
        ]
        assert concat_convs
        assert all((m.packed_weights is not None) == many_rows
                   for m in concat_convs)
    # Packing changes no state dict key (folding drops the upsample-convs').
    folded = optimize_for_inference(
        copy.deepcopy(built),
        **dict(NO_INFERENCE_TRANSFORMS, fold_upsample_conv=True,
               fold_upsampled_concat=True))
    assert model.state_dict().keys() == folded.state_dict().keys()
    torch.testing.assert_close(
        _logits(model, images, TEXTS[:2]), expected, atol=1e-4, rtol=1e-5)


def test_compiled_models_pack_only_their_text_encoder(monkeypatch):
    """A compiled backbone / neck / head could not hold packed weights
    (opaque tensors), so only the eager text encoder is packed."""
    from mmrefseg.apis import optimize
    from mmrefseg.registry import MODELS
    from mmrefseg.utils import register_all_modules
    register_all_modules()
    monkeypatch.setattr(optimize, 'cpu_has_avx512', lambda: True)
    monkeypatch.setattr(optimize, '_compile_tensor_parts',
                        lambda model, compile_cfg: None)
    model = optimize_for_inference(
        MODELS.build(Config.fromfile(TINY_CONFIG).model),
        **dict(NO_INFERENCE_TRANSFORMS, packed_linear=True, compile=True))
    assert any(isinstance(m, PackedLinear)
               for m in model.text_encoder.modules())
    assert not any(isinstance(m, PackedLinear)
                   for part in (model.backbone, model.neck, model.decode_head)
                   for m in part.modules())


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
        dict(autocast='bf16', winograd_cfg=dict(tile=2)))
    assert cfg['compile'] and cfg['autocast'] == 'bf16'
    assert cfg['fuse_conv_bn'] and cfg['fold_upsample_conv']
    # compile_cfg merges key by key
    assert cfg['compile_cfg']['mode'] == 'max-autotune'
    assert cfg['compile_cfg']['freezing'] is True
    assert cfg['winograd_cfg'] == dict(tile=2, min_channels=128)
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


def test_algebraic_folds_are_every_fold_switch():
    # The on/off switches, channels_last's automatic None included.
    switches = {key for key, value in merge_inference_cfg().items()
                if isinstance(value, bool) or key == 'channels_last'}
    assert set(ALGEBRAIC_FOLDS) == {
        key for key in switches if key.startswith('fold_')}


def test_no_inference_transforms_leave_the_model_as_built(tiny_model):
    # The on/off switches, channels_last's automatic None included.
    switches = {key for key, value in merge_inference_cfg().items()
                if isinstance(value, bool) or key == 'channels_last'}
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


requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a CUDA device')


@pytest.fixture
def exact_cuda_fp32():
    """cuDNN / cuBLAS in true fp32 (no TF32) for exact comparisons."""
    saved = (torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    (torch.backends.cudnn.allow_tf32,
     torch.backends.cuda.matmul.allow_tf32) = saved


@requires_cuda
def test_default_transforms_on_cuda_keep_the_outputs(tiny_model,
                                                     exact_cuda_fp32):
    untransformed = copy.deepcopy(tiny_model).cuda()
    images = torch.randn(3, 3, 64, 96, device='cuda')
    expected = _logits(untransformed, images, TEXTS)
    model = optimize_for_inference(
        copy.deepcopy(tiny_model).cuda(), winograd_cfg=dict(min_channels=1))
    # The folds are built from CUDA weights; Winograd is for CPUs only.
    assert any(isinstance(m, BilinearUpsampleConv3x3) for m in model.modules())
    assert not any(isinstance(m, WinogradConv2d) for m in model.modules())
    logits = _logits(model, images, TEXTS)
    scale = expected.abs().max().item()
    assert (logits - expected).abs().max().item() <= 1e-5 * max(1., scale)


@requires_cuda
def test_winograd_conv_built_from_a_cuda_conv(exact_cuda_fp32):
    conv = nn.Conv2d(16, 24, 3, padding=1).cuda()
    x = torch.randn(2, 16, 20, 28, device='cuda')
    with torch.no_grad():
        torch.testing.assert_close(
            WinogradConv2d(conv)(x), conv(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('device', [
    'cpu', pytest.param('cuda', marks=requires_cuda)])
def test_attention_blocks_queries_on_the_cpu_only(device, monkeypatch):
    calls = []
    attend = VLMultiheadAttention._attend

    def counting_attend(*args, **kwargs):
        calls.append(1)
        return attend(*args, **kwargs)

    monkeypatch.setattr(VLMultiheadAttention, '_attend',
                        staticmethod(counting_attend))
    attention = VLMultiheadAttention(32, 4).to(device).eval()
    # 8 x 4 heads x 600 x 600 fp32 scores take 46 MB: 12 blocks of
    # score_block_bytes on a CPU, one launch each on a GPU.
    x = torch.randn(8, 600, 32, device=device)
    with torch.inference_mode():
        attention(x, x, x)
    assert len(calls) == (12 if device == 'cpu' else 1)


@pytest.mark.parametrize('device', [
    'cpu', pytest.param('cuda', marks=requires_cuda)])
@pytest.mark.parametrize('config', [
    TINY_CONFIG, 'configs/toy/eavl_tiny_refer-toy.py'])
def test_compile_makes_one_graph_per_tensor_part(config, device):
    """Backbone, neck, head and text encoder are one graph each, also where
    the segmentor calls the head's ``forward`` directly (tensor mode,
    ``encode_decode``). On the CPU, and only there, each upsample-conv
    runs eagerly between two graphs of the head, and the text encoder,
    whose weights are packed for oneDNN there, is not compiled."""
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
    eager_layers = sum(
        isinstance(m, BilinearUpsampleConv3x3)
        for m in model.modules()) if device == 'cpu' else 0
    text_graphs = 0 if device == 'cpu' else 1
    assert any(isinstance(m, PackedLinear)
               for m in model.text_encoder.modules()) == (device == 'cpu')
    assert len(graphs) == 3 + text_graphs + eager_layers
    breaks = list(counters['graph_break'])
    assert all('_eager_forward' in reason for reason in breaks), breaks
    assert bool(breaks) == bool(eager_layers)
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
    # The packed text encoder is not compiled (nor changed here).
    assert 'forward_tokens' not in vars(eager.text_encoder)
    expected = _logits(eager, images, TEXTS[:1])
    assert not torch.allclose(expected, before)
    torch.testing.assert_close(
        _logits(copied, images, TEXTS[:1]), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(_logits(model, images, TEXTS[:1]), before)


@pytest.mark.parametrize('requested,compiled,expected', [
    (None, False, True),  # automatic: on for an eager CPU model ...
    (None, True, False),  # ... off when compiled
    (True, False, True),
    (False, False, False),
])
def test_channels_last_choice(tiny_model, monkeypatch, requested, compiled,
                              expected):
    from mmrefseg.apis import optimize
    monkeypatch.setattr(optimize, '_compile_tensor_parts',
                        lambda model, compile_cfg: None)
    model = optimize_for_inference(
        copy.deepcopy(tiny_model), channels_last=requested, compile=compiled)
    convs = [
        m for m in model.modules()
        if isinstance(m, (nn.Conv2d, PackedConv2d))
    ]
    assert convs and all(
        m.weight.is_contiguous(memory_format=torch.channels_last) == expected
        for m in convs if tuple(m.kernel_size) != (1, 1))
    # NHWC convolutions run on packed weights, except in compiled graphs.
    assert any(isinstance(m, PackedConv2d)
               for m in convs) == (expected and not compiled)
    # The folded layers' kernels keep their layout: they feed matrix
    # products, not convolutions.
    assert all(
        buffer.is_contiguous() for m in model.modules()
        if isinstance(m, (BilinearUpsampleConv3x3, WinogradConv2d))
        for buffer in m.buffers() if buffer is not None)


def test_channels_last_model_keeps_the_outputs(tiny_model, monkeypatch):
    images = torch.randn(2, 3, 64, 96)
    expected = _logits(tiny_model, images, TEXTS[:2])
    # Winograd on the tiny model's narrow convolutions and small maps too,
    # so that its NHWC path runs inside the model.
    monkeypatch.setattr(WinogradConv2d, 'direct_below_pixels', 0)
    model = optimize_for_inference(
        copy.deepcopy(tiny_model), channels_last=True,
        winograd_cfg=dict(min_channels=1))
    layouts = []
    for module in model.modules():
        if isinstance(module, WinogradConv2d):
            module.register_forward_pre_hook(
                lambda m, inputs: layouts.append(
                    not inputs[0].is_contiguous() and inputs[0].is_contiguous(
                        memory_format=torch.channels_last)))
    logits = _logits(model, images, TEXTS[:2])
    assert layouts and any(layouts)
    scale = expected.abs().max().item()
    assert (logits - expected).abs().max().item() <= 1e-5 * max(1., scale)
