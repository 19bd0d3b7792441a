"""Inference-only speed-ups of a referring segmentor, all output-preserving.

:func:`optimize_for_inference` applies, in place, to an eval-mode model:

* ``fuse_conv_bn``: every BatchNorm that directly follows a convolution is
  folded into that convolution's weight and bias (mmcv's ``fuse_conv_bn``),
  which removes one memory-bound pass per conv. Exact up to float rounding.
* ``fast_avg_pool``: every ``nn.AvgPool2d`` with a 2x2 window and stride
  becomes :class:`mmrefseg.models.layers.AvgPool2x2` (three strided adds,
  ~4x faster than ATen's CPU pooling) and every 1x1 one (the CLIP ResNets'
  first shortcut) an ``nn.Identity``. Bit-identical.
* ``fold_upsample_conv``: a bilinear 2x ``nn.Upsample`` followed, in an
  ``nn.Sequential``, by a 3x3 convolution (bare or in a ``ConvModule``) is
  computed at the low resolution with 6.25 / 36 of the multiply-adds
  (polyphase kernels and Winograd F(2, 2);
  :class:`mmrefseg.models.layers.BilinearUpsampleConv3x3`; CRIS's
  projector). Exact up to float rounding.
* ``winograd_conv``: 3x3 convolutions with at least ``min_channels`` input
  and output channels computed by Winograd's F(4x4, 3x3) as three GEMMs
  (:class:`mmrefseg.models.layers.WinogradConv2d`): a quarter of the
  multiply-adds of the direct convolution. CPU only (cuDNN picks its own
  algorithms); ``winograd_cfg`` sets ``tile`` (2 or 4) and
  ``min_channels``. Exact up to float rounding (~1e-5 relative, the order
  of oneDNN's own).
* ``fold_upsampled_concat``: a 1x1 convolution of a concatenation whose last
  part is bilinearly upsampled (CRIS's neck: ``f2_cat``, ``aggr``) mixes that
  part before the upsampling, at a quarter of the pixels
  (:class:`mmrefseg.models.layers.UpsampledConcatConv1x1`; modules with a
  ``fold_upsampled_concat`` method). Exact up to float rounding.
* ``fold_mask_projection``: the conv1x1 that ends the mask-feature
  upsampler (CRIS's ``proj.vis.4``, EAVL's ``mask_upsampler``) is folded into
  the sentence / query kernels of the dynamic convolution that follows
  (:meth:`mmrefseg.models.layers.DynamicConv2d.fold_input_projection`):
  a ``C x C`` product at the mask resolution becomes one on the kernels.
  Exact up to float rounding.
* ``fold_attention``: attention to a short memory (CRIS's 17 words) with the
  query projection folded into the keys and the output projection into the
  values (:class:`mmrefseg.models.layers.VLMultiheadAttention`
  ``fold_projections``), used where ``heads * Nk < C``. Exact up to float
  rounding.
* ``packed_linear``: linear layers, and the projections of
  ``nn.MultiheadAttention`` self-attention, run oneDNN's inner product on
  weights packed once (:class:`mmrefseg.models.layers.PackedLinear`,
  :func:`use_packed_linears`). In the text encoder on every CPU: on a
  sentence's few tokens MKL's sgemm is bound by re-packing the weight at
  every call (CRIS-R50's CLIP text tower on 2 AVX2 cores, run right after
  the backbone as in the model: 28.2 ms eager and 25.8 ms compiled become
  19.6 ms; EAVL's BERT-base: 63 -> 42 ms). In the rest of the model (many
  rows: CLIP's attention pooling, the decoder's FFN) only where the CPU has
  AVX-512 (:func:`cpu_has_avx512`) and the model is not
  compiled: there oneDNN's products run at ~220 GFLOP/s where MKL's reach
  140-200 (2 AMD EPYC Zen 4 cores; CRIS-R50: ~4 % of the forward), while
  on AVX2 MKL is the faster (676 x 512 @ 512 x 2048: 8.1 vs 8.9 ms). With
  them, layers with a ``pack_weights`` method pack their own products:
  :class:`mmrefseg.models.layers.VLMultiheadAttention`'s input projections
  (self-attention's query and key as one product),
  :class:`mmrefseg.models.layers.BilinearUpsampleConv3x3`'s 16 products
  (CRIS's projector: 70.6 -> 49.6 ms with its pixel-major layout),
  :class:`mmrefseg.models.layers.UpsampledConcatConv1x1`'s two 1x1
  convolutions and, on channels-last maps,
  :class:`mmrefseg.models.layers.WinogradConv2d`'s per-position products
  as grouped convolutions (CRIS-R50: ~5-6 % of the forward; one per 128
  input channels, accumulated, which round as MKL's, see
  ``WinogradConv2d._grouped_tiles``). The packed copies double the
  memory of those weights. fp32 CPU weights only.
  A packed module is not compiled: a graph holds the packed (opaque)
  weights only as inductor's frozen constants, which dynamo installs only
  under the global ``torch._inductor.config.freezing``, not
  ``torch.compile``'s options. Exact up to float rounding.
* ``fused_attention``: the CRIS decoder's attention through
  ``F.scaled_dot_product_attention`` instead of the reference's op order
  (:class:`mmrefseg.models.layers.VLMultiheadAttention` ``fused``). Its
  online softmax rounds differently (CRIS-R50 logits alone move by ~2e-4
  at |logits| ~35-75), which is lost in the other transforms' rounding:
  with them the logits' distance to float64 stays 1.0e-5 and the largest
  probability difference moves from 7.0e-5 to 7.2e-5 (CRIS-R50 on 2 AMD
  EPYC Zen 4 cores, 5 ms faster per forward).
* ``channels_last``: convolution weights in NHWC memory order, so that the
  feature maps follow (:class:`mmrefseg.models.layers.WinogradConv2d` has
  an NHWC path), and unless compiled the convolutions on weights packed
  for oneDNN once per input shape (:func:`use_packed_convs`; reordering a
  plain weight at every call costs CRIS-R50 ~11 ms per forward). None (the
  default) turns it on for CPU models unless compiled: oneDNN's NCHW
  convolutions reorder to and from its blocked layout at every call
  (CRIS-R50 on 2 AVX-512 cores: ~24 ms per forward; NHWC with packed
  convolutions: 0.681 -> 0.627 of the reference CRIS's latency; the same
  cores capped to AVX2: 0.683 -> 0.638). With them, on every CPU,
  :class:`mmrefseg.models.layers.WinogradConv2d` runs its per-position
  products as grouped convolutions on packed kernels (see
  ``packed_linear``; capped to AVX2: 0.627 -> 0.588). Exact up to float
  rounding.
* ``compile``: ``torch.compile`` of the tensor parts (backbone, neck, head
  and the text encoder's ``forward_tokens``), one graph each, so that the
  Python tokenizer and data samples stay outside the graphs (on a CPU the
  head's upsample-convs run eagerly between graphs: their hand-ordered
  passes beat inductor's loops there). By default with inductor's
  ``freezing``: parameters become constants, which lets inductor fold them
  and pre-pack convolution and linear weights for oneDNN / MKL.
  ``compile_cfg['mode'] = 'reduce-overhead'`` adds CUDA graphs.

The autocast dtype (bf16 / fp16) is not a model transform: it is kept in
``model.inference_cfg`` and applied around the forward by
:func:`mmrefseg.apis.inference_model` (see :func:`inference_autocast`).

A model treated this way is for inference only: folded BN layers are gone
from its state dict and a frozen compiled graph ignores later in-place weight
updates (a deep copy runs with its own weights: its compiled methods are
bound to it).
"""
import contextlib
import copy
import types
import warnings
from typing import Callable, Optional, Union

import torch
from mmcv.cnn import ConvModule
from mmcv.cnn import fuse_conv_bn as _mmcv_fuse_conv_bn
from torch import nn

from mmrefseg.models.layers.avg_pool import AvgPool2x2, is_plain_avg_pool
from mmrefseg.models.layers.packed_conv import PackedConv2d
from mmrefseg.models.layers.packed_linear import (PackedLinear,
                                                  PackedSelfAttention)
from mmrefseg.models.layers.upsample_conv import BilinearUpsampleConv3x3
from mmrefseg.models.layers.vl_transformer_decoder import VLMultiheadAttention
from mmrefseg.models.layers.winograd_conv import WinogradConv2d

__all__ = [
    'DEFAULT_INFERENCE_CFG', 'NO_INFERENCE_TRANSFORMS', 'ALGEBRAIC_FOLDS',
    'AUTOCAST_DTYPES', 'merge_inference_cfg', 'optimize_for_inference',
    'use_fast_avg_pools', 'fold_upsample_convs', 'use_winograd_convs',
    'use_packed_linears', 'use_packed_convs', 'cpu_has_avx512',
    'inference_autocast'
]

#: Defaults of ``inference_cfg`` (a top-level config key, overridable by
#: ``init_model(..., inference_cfg=...)`` and the tools' flags).
DEFAULT_INFERENCE_CFG = dict(
    fuse_conv_bn=True,
    fast_avg_pool=True,
    fold_upsample_conv=True,
    fold_upsampled_concat=True,
    fold_mask_projection=True,
    fold_attention=True,
    winograd_conv=True,
    winograd_cfg=dict(tile=4, min_channels=128),
    packed_linear=True,
    fused_attention=True,
    channels_last=None,
    compile=False,
    compile_cfg=dict(backend='inductor', dynamic=False, freezing=True),
    autocast=None)

#: Every on/off transform of ``DEFAULT_INFERENCE_CFG`` off: the model as
#: built (for tools that time or count it untransformed).
NO_INFERENCE_TRANSFORMS = {
    key: False
    for key in DEFAULT_INFERENCE_CFG
    if key not in ('winograd_cfg', 'compile_cfg', 'autocast')
}

#: The ``inference_cfg`` keys of the algebraic folds (one ``--no-fold`` flag
#: in the tools switches them together).
ALGEBRAIC_FOLDS = ('fold_upsample_conv', 'fold_upsampled_concat',
                   'fold_mask_projection', 'fold_attention')

#: Accepted names of the autocast dtype.
AUTOCAST_DTYPES = {
    None: None,
    'fp32': None,
    'float32': None,
    'bf16': torch.bfloat16,
    'bfloat16': torch.bfloat16,
    'fp16': torch.float16,
    'float16': torch.float16,
}


def merge_inference_cfg(*cfgs: Optional[dict]) -> dict:
    """``DEFAULT_INFERENCE_CFG`` updated by each of ``cfgs`` in turn.

    Args:
        *cfgs (dict, optional): Partial inference configs; later ones win,
            None entries are skipped. ``compile_cfg`` and ``winograd_cfg``
            merge key by key.

    Returns:
        dict: A complete inference config.
    """
    merged = copy.deepcopy(DEFAULT_INFERENCE_CFG)
    for cfg in cfgs:
        if not cfg:
            continue
        unknown = set(cfg) - set(DEFAULT_INFERENCE_CFG)
        if unknown:
            raise KeyError(f'Unknown inference_cfg key(s) {sorted(unknown)}; '
                           f'known: {sorted(DEFAULT_INFERENCE_CFG)}')
        for key, value in cfg.items():
            if key in ('compile_cfg', 'winograd_cfg') and value is not None:
                merged[key] = {**merged[key], **dict(value)}
            else:
                merged[key] = value
    if merged['autocast'] not in AUTOCAST_DTYPES:
        raise ValueError(f"inference_cfg['autocast'] must be one of "
                         f"{sorted(k for k in AUTOCAST_DTYPES if k)} or None, "
                         f"got {merged['autocast']!r}")
    return merged


def _is_bilinear_upsample_2x(module: nn.Module) -> bool:
    scale = module.scale_factor if isinstance(module, nn.Upsample) else None
    if isinstance(scale, (tuple, list)):
        scale = scale[0] if len(set(scale)) == 1 else None
    return (scale is not None and float(scale) == 2.0
            and module.size is None and module.mode == 'bilinear'
            and not module.align_corners
            and not module.recompute_scale_factor)


def _conv_after_upsample(module: nn.Module) -> Optional[nn.Module]:
    """The replaceable 3x3 conv of ``module`` and its owner, or None."""
    if BilinearUpsampleConv3x3.supports(module):
        return module
    if isinstance(module, ConvModule) and module.order[0] == 'conv' and \
            not module.with_explicit_padding and \
            BilinearUpsampleConv3x3.supports(module.conv):
        return module.conv
    return None


def _replace_children(
        model: nn.Module,
        replacement: Callable[[nn.Module, nn.Module], Optional[nn.Module]]
) -> int:
    """Sets every child of every module of ``model`` for which
    ``replacement(parent, child)`` returns a module to that module, in
    place; modules created here are not visited. Returns the count."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            new = replacement(parent, child)
            if new is not None:
                setattr(parent, name, new)
                count += 1
    return count


def use_fast_avg_pools(model: nn.Module) -> int:
    """Replaces every ``nn.AvgPool2d`` with equal window and stride 1 or 2,
    no padding and floor mode (:func:`is_plain_avg_pool`), in place: by
    ``nn.Identity`` (window 1) or :class:`AvgPool2x2` (window 2), both
    bit-identical.

    Args:
        model (nn.Module): The model.

    Returns:
        int: The number of pooling layers replaced.
    """

    def replacement(parent: nn.Module, child: nn.Module):
        if is_plain_avg_pool(child, 1):
            return nn.Identity()
        if is_plain_avg_pool(child, 2):
            return AvgPool2x2()
        return None

    return _replace_children(model, replacement)


def fold_upsample_convs(model: nn.Module) -> int:
    """Replaces ``Upsample(2x bilinear) -> conv3x3`` pairs of every
    ``nn.Sequential`` by :class:`BilinearUpsampleConv3x3`, in place.

    Only consecutive children of a ``Sequential`` are paired, so the data
    flow is certain. Run it after BN folding: the new layer snapshots the
    convolution's weights.

    Args:
        model (nn.Module): The model.

    Returns:
        int: The number of pairs replaced.
    """
    count = 0
    for sequential in [m for m in model.modules()
                       if isinstance(m, nn.Sequential)]:
        names = list(sequential._modules)
        for first, second in zip(names, names[1:]):
            upsample = sequential._modules[first]
            follower = sequential._modules[second]
            if not _is_bilinear_upsample_2x(upsample):
                continue
            conv = _conv_after_upsample(follower)
            if conv is None:
                continue
            fused = BilinearUpsampleConv3x3(conv)
            if conv is follower:
                sequential._modules[second] = fused
            else:
                follower.conv = fused
            sequential._modules[first] = nn.Identity()
            count += 1
    return count


def use_winograd_convs(model: nn.Module,
                       tile: int = 4,
                       min_channels: int = 128) -> int:
    """Replaces every CPU 3x3 ``nn.Conv2d`` that
    :class:`WinogradConv2d` supports and that has at least ``min_channels``
    input and output channels, in place.

    Narrower convolutions stay direct: their transforms (memory-bound) cost
    more than the multiply-adds they save. Run it after BN folding: the new
    layer snapshots the convolution's weights.

    Args:
        model (nn.Module): The model.
        tile (int): Winograd output tile, 2 or 4. Defaults to 4.
        min_channels (int): Smallest input / output width replaced.
            Defaults to 128.

    Returns:
        int: The number of convolutions replaced.
    """

    def replacement(parent: nn.Module, child: nn.Module):
        # The convolution kept inside a WinogradConv2d is not wrapped again.
        if (not isinstance(parent, WinogradConv2d)
                and WinogradConv2d.supports(child)
                and child.weight.device.type == 'cpu'
                and min(child.in_channels,
                        child.out_channels) >= min_channels):
            return WinogradConv2d(child, tile)
        return None

    return _replace_children(model, replacement)


def use_packed_linears(module: nn.Module, rows: int = 32) -> int:
    """Replaces, in ``module``, every ``nn.Linear`` by
    :class:`PackedLinear` and every ``nn.MultiheadAttention`` that
    :class:`PackedSelfAttention` supports by that, in place, where the
    weights are fp32 on the CPU; layers with a ``pack_weights`` method
    (:class:`VLMultiheadAttention`'s input projections,
    :class:`BilinearUpsampleConv3x3`'s products) pack their own.

    Meant for layers applied to few rows (text encoders), and on CPUs with
    AVX-512 for any (:func:`cpu_has_avx512`); elsewhere MKL's
    own products are faster on many rows. The new layers snapshot the
    weights.

    Args:
        module (nn.Module): The module, e.g. a text encoder.
        rows (int): Expected rows per call, a hint for the packed layout.
            Defaults to 32.

    Returns:
        int: The number of layers replaced or packed (an attention counts
        once).
    """

    def replacement(parent: nn.Module, child: nn.Module):
        # The layers inside a replaced attention went with it.
        if isinstance(parent, (nn.MultiheadAttention, PackedSelfAttention)):
            return None
        if PackedSelfAttention.supports(child):
            return PackedSelfAttention(child, rows)
        if PackedLinear.supports(child):
            return PackedLinear(child, rows)
        return None

    count = _replace_children(module, replacement)
    for layer in module.modules():
        if callable(getattr(layer, 'pack_weights', None)):
            count += bool(layer.pack_weights(rows))
    return count


def use_packed_convs(model: nn.Module) -> int:
    """Replaces every CPU fp32 ``nn.Conv2d`` that :class:`PackedConv2d`
    supports by that, in place: oneDNN on weights packed once per input
    shape, for channels-last inputs (those kept inside a
    :class:`WinogradConv2d` too, for the small maps it leaves to them). The
    new layers snapshot the weights. Every :class:`WinogradConv2d` packs
    its products too (:meth:`WinogradConv2d.pack_weights`), which then run
    as grouped convolutions on channels-last maps: on AVX-512 CPUs
    ``packed_linear`` has them packed already; on AVX2 (the same cores
    capped to it, CRIS-R50 alternating) the forward is 29 ms faster, in 27
    of 30 rounds.

    Args:
        model (nn.Module): The model.

    Returns:
        int: The number of convolutions replaced.
    """

    def replacement(parent: nn.Module, child: nn.Module):
        return PackedConv2d(child) if PackedConv2d.supports(child) else None

    count = _replace_children(model, replacement)
    for module in model.modules():
        if isinstance(module,
                      WinogradConv2d) and module.packed_grouped is None:
            module.pack_weights()
    return count


def cpu_has_avx512() -> bool:
    """Whether PyTorch runs AVX-512 kernels on this CPU: where oneDNN's
    packed inner product beats MKL's sgemm on many rows too, so that
    ``packed_linear`` packs every linear layer, not only the text
    encoder's. Measured on 2 AMD EPYC Zen 4 cores: 676 x 512 @ 512 x 2048
    6.4 vs 8.0 ms, 170 x 2048 @ 2048 x 2048 6.6 vs 8.2 ms; with AVX2 MKL
    wins (8.1 vs 8.9 ms; CRIS-R50 with every linear packed, the same cores
    capped to AVX2: 555 -> 565 ms)."""
    return torch.backends.cpu.get_cpu_capability().startswith('AVX512')


def _compile_kwargs(compile_cfg: dict) -> dict:
    """``torch.compile`` keyword arguments of a ``compile_cfg``."""
    kwargs = dict(compile_cfg)
    freezing = kwargs.pop('freezing', False)
    options = dict(kwargs.pop('options', None) or {})
    if freezing and kwargs.get('backend', 'inductor') == 'inductor':
        options.setdefault('freezing', True)
    if options and kwargs.get('mode') is not None:
        # torch.compile takes a mode or options, not both ('default'
        # included): spell the mode out as its inductor options (e.g.
        # reduce-overhead: CUDA graphs; default: none).
        from torch._inductor import list_mode_options
        options = {**list_mode_options(kwargs.pop('mode'),
                                       kwargs.get('dynamic')),
                   **options}
    return dict(kwargs, options=options or None)


def _compile_method(module: nn.Module, name: str, kwargs: dict) -> None:
    """Shadows the method ``name`` of ``module`` by an instance attribute:
    the compiled class function, bound to ``module``, so that a deep copy
    rebinds it to the copy (and its own weights)."""
    function = torch.compile(getattr(type(module), name), **kwargs)
    setattr(module, name, types.MethodType(function, module))


def _compile_tensor_parts(model: nn.Module, compile_cfg: dict) -> None:
    """Compiles backbone, neck, head and the token encoder separately."""
    kwargs = _compile_kwargs(compile_cfg)
    for name in ('backbone', 'neck', 'decode_head'):
        module = getattr(model, name, None)
        if isinstance(module, nn.Module):
            # The segmentor calls the head's ``forward`` / ``predict``
            # directly, past ``__call__`` (what ``nn.Module.compile``
            # wraps): the instance attribute covers every path.
            _compile_method(module, 'forward', kwargs)
    text_encoder = getattr(model, 'text_encoder', None)
    if text_encoder is not None and hasattr(
            text_encoder, 'forward_tokens') and not any(
                isinstance(m, (PackedLinear, PackedSelfAttention))
                for m in text_encoder.modules()):
        # Tokenisation (Python) stays eager, the encoder proper is one
        # graph; with packed weights it stays eager too (see
        # optimize_for_inference).
        _compile_method(text_encoder, 'forward_tokens', kwargs)


def optimize_for_inference(model: nn.Module,
                           fuse_conv_bn: bool = True,
                           fast_avg_pool: bool = True,
                           fold_upsample_conv: bool = True,
                           fold_upsampled_concat: bool = True,
                           fold_mask_projection: bool = True,
                           fold_attention: bool = True,
                           winograd_conv: bool = True,
                           winograd_cfg: Optional[dict] = None,
                           packed_linear: bool = True,
                           fused_attention: bool = True,
                           channels_last: Optional[bool] = None,
                           compile: bool = False,
                           compile_cfg: Optional[dict] = None,
                           **unused) -> nn.Module:
    """Applies the output-preserving inference transforms, in place.

    Args:
        model (nn.Module): A ``ReferSegmentor`` (or any model with the
            ``backbone`` / ``neck`` / ``decode_head`` / ``text_encoder``
            layout); it is put in eval mode.
        fuse_conv_bn (bool): Fold BatchNorm into the preceding conv.
            Defaults to True.
        fast_avg_pool (bool): 2x2 (and 1x1) average pooling by strided
            adds (:func:`use_fast_avg_pools`). Defaults to True.
        fold_upsample_conv (bool): Compute conv3x3 after a bilinear 2x
            upsampling at the low resolution. Defaults to True.
        fold_upsampled_concat (bool): Mix the upsampled part of a
            concatenation before a 1x1 conv at the low resolution (modules
            with a ``fold_upsampled_concat`` method). Defaults to True.
        fold_mask_projection (bool): Fold the mask features' final conv1x1
            into the dynamic kernels (modules with a
            ``fold_mask_projection`` method). Defaults to True.
        fold_attention (bool): Fold the query / output projections of
            attention to short memories into its keys / values. Defaults to
            True.
        winograd_conv (bool): Winograd 3x3 convolutions on the CPU.
            Defaults to True.
        winograd_cfg (dict, optional): ``tile`` and ``min_channels`` of
            :func:`use_winograd_convs`. Defaults to
            ``DEFAULT_INFERENCE_CFG['winograd_cfg']``.
        packed_linear (bool): oneDNN-packed weights in the text encoder's
            linear layers, and with AVX-512 in all others (and the products
            of layers with a ``pack_weights`` method) unless compiled
            (:func:`use_packed_linears`; CPU fp32; a packed text encoder
            stays eager under ``compile``). Defaults to True.
        fused_attention (bool): Switch every ``VLMultiheadAttention`` to
            ``F.scaled_dot_product_attention``. Defaults to True.
        channels_last (bool, optional): NHWC convolution weights, on
            packed weights unless compiled; None: on for an uncompiled CPU
            model. Defaults to None.
        compile (bool): ``torch.compile`` the tensor parts. Defaults to False.
        compile_cfg (dict, optional): Arguments of ``torch.compile``
            (``backend``, ``mode``, ``dynamic``, ``options``) plus
            ``freezing`` (bool, inductor only). Defaults to
            ``DEFAULT_INFERENCE_CFG['compile_cfg']``.
        **unused: Other ``inference_cfg`` keys (``autocast``), ignored here.

    Returns:
        nn.Module: ``model``.
    """
    model.eval()
    if fuse_conv_bn:
        _mmcv_fuse_conv_bn(model)
    if fast_avg_pool:
        use_fast_avg_pools(model)
    if fold_upsample_conv:
        fold_upsample_convs(model)
    for enabled, method in ((fold_upsampled_concat, 'fold_upsampled_concat'),
                            (fold_mask_projection, 'fold_mask_projection')):
        if enabled:
            for module in list(model.modules()):
                if callable(getattr(module, method, None)):
                    getattr(module, method)()
    if winograd_conv:
        use_winograd_convs(model, **{
            **DEFAULT_INFERENCE_CFG['winograd_cfg'],
            **(winograd_cfg or {})
        })
    text_encoder = getattr(model, 'text_encoder', None)
    if packed_linear and isinstance(text_encoder, nn.Module):
        # Rows per sentence: CLIP's context length, BERT's word_len.
        rows = getattr(text_encoder, 'context_length',
                       getattr(text_encoder, 'word_len', 32))
        use_packed_linears(text_encoder, rows=rows)
    if packed_linear and not compile and cpu_has_avx512():
        # The text encoder's layers are packed already and not visited. The
        # rows hint is a few hundred tokens (CRIS: 676 pixels, 170 in the
        # attention pool); 32 to 4096 times within 3 % there.
        use_packed_linears(model, rows=256)
    for module in model.modules():
        if isinstance(module, VLMultiheadAttention):
            if fused_attention:
                module.fused = True
            if fold_attention:
                module.fold_projections = True
    if channels_last is None:
        on_cpu = all(p.device.type == 'cpu' for p in model.parameters())
        channels_last = on_cpu and not compile
    if channels_last:
        # Only the convolutions: the 4-D kernels of the folded layers feed
        # matrix products, which would copy NHWC-strided operands per call.
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.to(memory_format=torch.channels_last)
        if not compile:
            use_packed_convs(model)
    if compile:
        if compile_cfg is None:
            compile_cfg = DEFAULT_INFERENCE_CFG['compile_cfg']
        _compile_tensor_parts(model, compile_cfg)
    return model


def inference_autocast(device: Union[str, torch.device],
                       autocast: Optional[str]) -> contextlib.AbstractContextManager:
    """The autocast context of an ``inference_cfg['autocast']`` value.

    Args:
        device (str | torch.device): Where the model runs.
        autocast (str, optional): 'bf16', 'fp16' or None / 'fp32' (no
            autocast).

    Returns:
        A context manager (``contextlib.nullcontext`` without autocast).
    """
    if autocast not in AUTOCAST_DTYPES:
        raise ValueError(f'Unknown autocast dtype {autocast!r}; choose from '
                         f'{sorted(k for k in AUTOCAST_DTYPES if k)}')
    dtype = AUTOCAST_DTYPES[autocast]
    if dtype is None:
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    if device_type == 'cpu' and dtype == torch.float16:
        warnings.warn('fp16 autocast on the CPU is slow and lossy; bf16 is '
                      'the CPU half-precision type')
    return torch.autocast(device_type=device_type, dtype=dtype)
