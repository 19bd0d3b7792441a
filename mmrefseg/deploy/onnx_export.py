"""Export a referring segmentor to ONNX and check the graph's logits."""
import math
import os
import os.path as osp
import tempfile
import warnings
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from .export_module import ReferExportModule
from .exportable_layers import exportable_layers
from .graph_io import (BATCH_DIM, IMAGE_BATCH_DIM, IMAGE_INPUT, LOGITS_OUTPUT)
from .token_inputs import tokenize_texts

__all__ = [
    'SAMPLE_TEXTS', 'CHECK_TEXTS', 'sample_inputs', 'export_onnx',
    'compare_logits', 'check_onnx'
]

#: The export sample: a short sentence (padded) and one longer than any
#: ``word_len`` (truncated, EOT at the last position), so that neither the
#: padding nor the EOT position can pass for a constant of the trace.
SAMPLE_TEXTS = ('the dog', 'the tall man in the blue shirt standing on the '
                'left next to the small red car near the white wall')
#: The check: other lengths and order than the sample, and a third sentence
#: so that a dynamic batch differs from the traced one.
CHECK_TEXTS = (SAMPLE_TEXTS[1], 'a small black cat sitting on a chair', 'left')


def _as_export_module(model: nn.Module) -> ReferExportModule:
    if isinstance(model, ReferExportModule):
        return model
    return ReferExportModule(model)


def sample_inputs(model: nn.Module,
                  input_shape: Tuple[int, int],
                  texts: Sequence[str] = SAMPLE_TEXTS,
                  num_images: Optional[int] = None,
                  seed: int = 0) -> Dict[str, Tensor]:
    """Random normalised images and the tokens of ``texts``.

    Args:
        model (nn.Module): A ``ReferSegmentor`` or its
            :class:`ReferExportModule`.
        input_shape (tuple[int, int]): (H, W) of the images.
        texts (Sequence[str]): B sentences. Defaults to
            :data:`SAMPLE_TEXTS`.
        num_images (int, optional): Image batch, B or 1. Defaults to None
            (B).
        seed (int): Seed of the images. Defaults to 0.

    Returns:
        dict[str, Tensor]: ``image`` (num_images, 3, H, W) float32 and the
        token inputs (see :func:`tokenize_texts`), on the model's device, in
        the export module's argument order.
    """
    module = _as_export_module(model)
    device = next(module.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    num_images = len(texts) if num_images is None else num_images
    image = torch.randn(
        num_images, 3, *input_shape, generator=generator).to(device)
    tokens = tokenize_texts(module.text_encoder, list(texts))
    inputs = {IMAGE_INPUT: image}
    inputs.update(
        {name: tokens[name].to(device)
         for name in module.token_names})
    return inputs


def _publish(tmp_file: str, out_file: str, overwrite: bool) -> None:
    """Moves a finished file into place, never clobbering unless asked."""
    if overwrite:
        os.replace(tmp_file, out_file)
        return
    try:
        # A hard link fails if out_file appeared meanwhile.
        os.link(tmp_file, out_file)
    except FileExistsError:
        raise FileExistsError(f'{out_file!r} exists; not overwritten')
    except OSError:
        # Filesystems without hard links: check, then rename.
        if osp.exists(out_file):
            raise FileExistsError(f'{out_file!r} exists; not overwritten')
        os.replace(tmp_file, out_file)


def export_onnx(model: nn.Module,
                out_file: str,
                input_shape: Tuple[int, int] = (416, 416),
                dynamic_batch: bool = False,
                opset: int = 17,
                overwrite: bool = False) -> str:
    """Exports ``(image, tokens) -> logits`` of a segmentor to ONNX.

    The graph is traced (``torch.onnx.export(..., dynamo=False)``) from
    :class:`ReferExportModule`, its layers in their ONNX-expressible forms
    (:func:`exportable_layers`); its inputs and output are described in
    :mod:`mmrefseg.deploy.graph_io`. The text encoder's tokenizer stays
    outside: tokenise with :func:`tokenize_texts`. The file is written under
    a temporary name in the same directory and moved into place when
    complete.

    Args:
        model (nn.Module): A ``ReferSegmentor`` in eval mode (BN folded or
            not), or its :class:`ReferExportModule`.
        out_file (str): The ``.onnx`` file to write.
        input_shape (tuple[int, int]): (H, W) of the network input; fixed in
            the graph. Defaults to (416, 416).
        dynamic_batch (bool): Dynamic batch dimensions (``batch`` for the
            tokens and logits, ``image_batch`` for the image, B or 1);
            otherwise the batch is 1. Defaults to False.
        opset (int): ONNX opset. Defaults to 17.
        overwrite (bool): Replace an existing ``out_file``. Defaults to
            False (``FileExistsError``).

    Returns:
        str: ``out_file``.
    """
    out_file = str(out_file)
    if not out_file.endswith('.onnx'):
        raise ValueError(f'out_file must end with .onnx, got {out_file!r}')
    if not overwrite and osp.exists(out_file):
        raise FileExistsError(f'{out_file!r} exists; not overwritten')
    module = _as_export_module(model).eval()
    # A batch-1 trace takes the padded sentence, so that the padding path of
    # the text encoder is the one traced.
    texts = SAMPLE_TEXTS if dynamic_batch else SAMPLE_TEXTS[:1]
    inputs = sample_inputs(module, tuple(input_shape), texts)
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {name: {0: BATCH_DIM} for name in module.input_names}
        dynamic_axes[IMAGE_INPUT] = {0: IMAGE_BATCH_DIM}
        dynamic_axes[LOGITS_OUTPUT] = {0: BATCH_DIM}

    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp_file = tempfile.mkstemp(
        suffix='.onnx.part', prefix=osp.basename(out_file) + '.', dir=out_dir)
    os.close(fd)
    # mkstemp creates the file private (0600); give it the usual mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_file, 0o666 & ~umask)
    try:
        with torch.no_grad(), exportable_layers(module), \
                warnings.catch_warnings():
            # The models' input checks read shapes as Python values, which
            # the tracer warns about on every call; at the graph's fixed
            # sizes they hold, and check_onnx compares the logits anyway.
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            torch.onnx.export(
                module,
                tuple(inputs.values()),
                tmp_file,
                input_names=list(inputs),
                output_names=[LOGITS_OUTPUT],
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False)
        _publish(tmp_file, out_file, overwrite)
    finally:
        if osp.exists(tmp_file):
            os.remove(tmp_file)
    return out_file


def compare_logits(reference: Union[Tensor, np.ndarray],
                   logits: Union[Tensor, np.ndarray],
                   threshold: float = 0.35) -> dict:
    """How far backend logits are from the PyTorch ones.

    Args:
        reference (Tensor | np.ndarray): (B, 1, h, w) PyTorch logits.
        logits (Tensor | np.ndarray): Same shape, from a backend.
        threshold (float): Mask probability threshold (``test_cfg``).
            Defaults to 0.35.

    Returns:
        dict: ``max_abs_diff`` (float), ``mask_diff_pixels`` (int, pixels
        on different sides of the threshold, at the logits' resolution) and
        ``num_pixels`` (int).
    """
    reference = np.asarray(
        reference.detach().float().cpu()
        if isinstance(reference, Tensor) else reference,
        dtype=np.float32)
    logits = np.asarray(logits, dtype=np.float32)
    if reference.shape != logits.shape:
        raise ValueError(f'logits of shape {logits.shape}, expected '
                         f'{reference.shape}')
    # Compared as logits: sigmoid(x) > p  <=>  x > logit(p).
    threshold_logit = math.log(threshold / (1 - threshold))
    masks_differ = (reference > threshold_logit) != (logits > threshold_logit)
    return dict(
        max_abs_diff=float(np.abs(reference - logits).max()),
        mask_diff_pixels=int(masks_differ.sum()),
        num_pixels=int(reference.size))


def check_onnx(model: nn.Module,
               onnx_file: str,
               texts: Sequence[str] = CHECK_TEXTS,
               threshold: Optional[float] = None,
               seed: int = 1,
               num_threads: Optional[int] = None) -> dict:
    """Runs an exported graph with ONNX Runtime against PyTorch.

    Args:
        model (nn.Module): The exported ``ReferSegmentor``.
        onnx_file (str): Its ONNX graph.
        texts (Sequence[str]): The sentences, one random image each (run
            in chunks of a static batch). Defaults to :data:`CHECK_TEXTS`.
        threshold (float, optional): Mask probability threshold. Defaults
            to None: ``model.test_cfg['threshold']``, else 0.35.
        seed (int): Seed of the images. Defaults to 1.
        num_threads (int, optional): ONNX Runtime's intra-op threads.
            Defaults to None (one per physical core).

    Returns:
        dict: See :func:`compare_logits`.
    """
    from .backends import OnnxRuntimeBackend
    backend = OnnxRuntimeBackend(onnx_file, num_threads=num_threads)
    input_shape = backend.input_shapes[IMAGE_INPUT][2:]
    if None in input_shape:
        raise ValueError(f'{onnx_file}: the image size is dynamic '
                         f'{input_shape}; export_onnx fixes it')
    module = _as_export_module(model).eval()
    inputs = sample_inputs(module, input_shape, texts, seed=seed)
    with torch.no_grad():
        reference = module(*inputs.values())
    logits = backend({
        name: value.cpu().numpy()
        for name, value in inputs.items()
    })
    if threshold is None:
        threshold = (getattr(model, 'test_cfg', None)
                     or {}).get('threshold', 0.35)
    return compare_logits(reference, logits, threshold)
