"""Inference options of a referring segmentor in PyTorch.

:func:`optimize_for_inference` applies, in place, to an eval-mode model:

* ``fuse_conv_bn``: every BatchNorm that directly follows a convolution is
  folded into that convolution's weight and bias (mmcv's ``fuse_conv_bn``).
  Exact up to float rounding.
* ``fused_attention``: the decoder's attention through
  ``F.scaled_dot_product_attention`` instead of the CRIS reference's op
  order (:class:`mmrefseg.models.layers.VLMultiheadAttention` ``fused``).
  Its online softmax rounds differently: CRIS's logits move by ~1e-4.
* ``channels_last``: convolution weights (and the input, see
  :func:`mmrefseg.apis.inference_model`) in NHWC memory order.
* ``compile``: ``torch.compile`` of the tensor parts (backbone, neck, head
  and the text encoder's ``forward_tokens``), one graph each, so that the
  Python tokenizer and data samples stay outside the graphs. By default
  with inductor's ``freezing``: parameters become constants, which lets
  inductor fold them and pre-pack convolution and linear weights.
  ``compile_cfg['mode'] = 'reduce-overhead'`` adds CUDA graphs.

The autocast dtype (bf16 / fp16) is not a model transform: it is kept in
``model.inference_cfg`` and applied around the forward by
:func:`mmrefseg.apis.inference_model` (see :func:`inference_autocast`).

Faster CPU inference comes from the standard runtimes of
:mod:`mmrefseg.deploy` (ONNX Runtime, OpenVINO).

A model treated this way is for inference only: folded BN layers are gone
from its state dict and a frozen compiled graph ignores later in-place weight
updates (a deep copy runs with its own weights: its compiled methods are
bound to it).
"""
import contextlib
import copy
import types
import warnings
from typing import Optional, Union

import torch
from mmcv.cnn import fuse_conv_bn as _mmcv_fuse_conv_bn
from torch import nn

from mmrefseg.models.layers.vl_transformer_decoder import VLMultiheadAttention

__all__ = [
    'DEFAULT_INFERENCE_CFG', 'NO_INFERENCE_TRANSFORMS', 'AUTOCAST_DTYPES',
    'merge_inference_cfg', 'optimize_for_inference', 'inference_autocast'
]

#: Defaults of ``inference_cfg`` (a top-level config key, overridable by
#: ``init_model(..., inference_cfg=...)`` and the tools' flags).
DEFAULT_INFERENCE_CFG = dict(
    fuse_conv_bn=True,
    fused_attention=True,
    channels_last=False,
    compile=False,
    compile_cfg=dict(backend='inductor', dynamic=False, freezing=True),
    autocast=None)

#: Every on/off transform of ``DEFAULT_INFERENCE_CFG`` off: the model as
#: built (for tools that time or count it untransformed).
NO_INFERENCE_TRANSFORMS = {
    key: False
    for key in DEFAULT_INFERENCE_CFG
    if key not in ('compile_cfg', 'autocast')
}

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
            None entries are skipped. ``compile_cfg`` merges key by key.

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
            if key == 'compile_cfg' and value is not None:
                merged[key] = {**merged[key], **dict(value)}
            else:
                merged[key] = value
    if merged['autocast'] not in AUTOCAST_DTYPES:
        raise ValueError(f"inference_cfg['autocast'] must be one of "
                         f"{sorted(k for k in AUTOCAST_DTYPES if k)} or None, "
                         f"got {merged['autocast']!r}")
    return merged


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
    if text_encoder is not None and hasattr(text_encoder, 'forward_tokens'):
        # Tokenisation (Python) stays eager, the encoder proper is one graph.
        _compile_method(text_encoder, 'forward_tokens', kwargs)


def optimize_for_inference(model: nn.Module,
                           fuse_conv_bn: bool = True,
                           fused_attention: bool = True,
                           channels_last: bool = False,
                           compile: bool = False,
                           compile_cfg: Optional[dict] = None,
                           **unused) -> nn.Module:
    """Applies the inference options, in place.

    Args:
        model (nn.Module): A ``ReferSegmentor`` (or any model with the
            ``backbone`` / ``neck`` / ``decode_head`` / ``text_encoder``
            layout); it is put in eval mode.
        fuse_conv_bn (bool): Fold BatchNorm into the preceding conv.
            Defaults to True.
        fused_attention (bool): Switch every ``VLMultiheadAttention`` to
            ``F.scaled_dot_product_attention``. Defaults to True.
        channels_last (bool): NHWC convolution weights. Defaults to False.
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
    if fused_attention:
        for module in model.modules():
            if isinstance(module, VLMultiheadAttention):
                module.fused = True
    if channels_last:
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.to(memory_format=torch.channels_last)
    if compile:
        if compile_cfg is None:
            compile_cfg = DEFAULT_INFERENCE_CFG['compile_cfg']
        _compile_tensor_parts(model, compile_cfg)
    return model


def inference_autocast(
        device: Union[str, torch.device],
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
