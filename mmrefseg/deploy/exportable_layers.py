"""Graph-exportable forms of layers whose ops a traced graph cannot hold.

* ``DynamicConv2d`` runs every sample's kernels as one convolution grouped
  by sample; an ONNX ``Conv`` holds its group count as a constant
  attribute, so a graph with a dynamic batch cannot. There the same sums
  are a product with the K * K shifted maps (a graph of a static batch
  keeps the convolution).
* mmseg's Swin ``ShiftWindowMSA.window_reverse`` computes the batch with
  ``int()``, which the trace records as a constant: a graph traced at batch
  2 would silently fold batch 1 wrongly. Here the batch is left to ``view``.
"""
import contextlib
import types
from typing import Iterator

import torch
import torch.nn.functional as F
from mmseg.models.backbones.swin import ShiftWindowMSA
from torch import Tensor, nn

from mmrefseg.models.layers import DynamicConv2d

__all__ = [
    'unfolded_dynamic_conv2d', 'EXPORTABLE_METHODS', 'exportable_layers'
]


def unfolded_dynamic_conv2d(feats: Tensor,
                            kernels: Tensor,
                            kernel_size: int = 3) -> Tensor:
    """:func:`mmrefseg.models.layers.dynamic_conv2d` without a grouped conv.

    Args:
        feats (Tensor): (B, C, H, W).
        kernels (Tensor): (B, Nk, C * K * K + 1), weights in (C, K, K) order
            then the bias.
        kernel_size (int): K, odd. Defaults to 3.

    Returns:
        Tensor: (B, Nk, H, W).
    """
    batch, channels, height, width = feats.shape
    kernels = kernels.to(feats.dtype)
    pad = kernel_size // 2
    padded = F.pad(feats, (pad, pad, pad, pad))
    # The K * K shifted maps as slices, not F.unfold: ONNX has no im2col
    # op, and the exporter's gather-based one costs CRIS-R50 ~10 % of its
    # ONNX Runtime forward.
    shifted = [
        padded[:, :, i:i + height, j:j + width] for i in range(kernel_size)
        for j in range(kernel_size)
    ]
    # (B, C * K * K, H * W), rows in the weights' (C, K, K) order.
    columns = torch.stack(shifted, dim=2).reshape(batch, -1, height * width)
    out = torch.matmul(kernels[..., :-1], columns) + kernels[..., -1:]
    return out.reshape(batch, kernels.shape[1], height, width)


def _dynamic_conv_forward(self: DynamicConv2d, feats: Tensor,
                          kernels: Tensor) -> Tensor:
    return unfolded_dynamic_conv2d(feats, kernels, self.kernel_size)


def _window_reverse(self: ShiftWindowMSA, windows: Tensor, H: int,
                    W: int) -> Tensor:
    """(num_windows * B, ws, ws, C) -> (B, H, W, C)."""
    size = self.window_size
    channels = windows.shape[-1]
    x = windows.view(-1, H // size, W // size, size, size, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, H, W, channels)


#: Layer class -> {method name: its exportable replacement}.
EXPORTABLE_METHODS = {
    DynamicConv2d: dict(forward=_dynamic_conv_forward),
    ShiftWindowMSA: dict(window_reverse=_window_reverse),
}


@contextlib.contextmanager
def exportable_layers(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, ``model``'s layers run their exportable forms.

    The methods of :data:`EXPORTABLE_METHODS` are replaced on the instances
    in ``model`` only, and only until the block ends; parameters are
    untouched.

    Args:
        model (nn.Module): The module to export.

    Yields:
        nn.Module: ``model``.
    """
    patched = []
    for module in model.modules():
        for cls, methods in EXPORTABLE_METHODS.items():
            if isinstance(module, cls):
                for name, method in methods.items():
                    setattr(module, name, types.MethodType(method, module))
                    patched.append((module, name))
    try:
        yield model
    finally:
        for module, name in patched:
            delattr(module, name)
