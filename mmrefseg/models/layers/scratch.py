"""Scratch memory that eager inference layers reuse from call to call.

A large temporary allocated afresh at every call comes from fresh pages:
glibc serves allocations at or above its (adaptive) mmap threshold, at most
32 MB, by ``mmap``, and the kernel then zero-fills every page on its first
touch. CRIS-R50 at 416 x 416 took ~25k page faults (~100 MB of fresh
pages) per forward, most in the temporaries of its Winograd layers on 104 x
104 and 52 x 52 maps; with those in reused buffers (46.6 MiB kept per
thread) 9.4k, and the forward ran 502 -> 480 ms; with the projector's
upsample-convolutions' too, none (2 AMD EPYC Zen 4 cores, the versions
alternating in one process).
"""
import math
import threading
from typing import Sequence

import torch
from torch import Tensor

__all__ = ['scratch']


class _Buffers(threading.local):
    """One dict of buffers per thread, so that threads never share one."""

    def __init__(self):
        self.by_key = {}


_BUFFERS = _Buffers()


def scratch(slot: str, shape: Sequence[int], like: Tensor) -> Tensor:
    """An uninitialised contiguous ``shape`` tensor on ``like``'s device and
    dtype: a view into this thread's buffer for ``slot``, grown as needed
    and kept (it holds the largest size asked for).

    The view is valid until the next request for ``slot`` in this thread:
    only for temporaries that do not outlive one layer call. Inference-mode
    tensors are kept apart from the others, which may not write into them.
    Off the CPU (the caching allocators of accelerators reuse memory
    already), under ``torch.compile`` (inductor plans the memory) and where
    autograd records ``like`` the result is a new tensor instead.

    Args:
        slot (str): The buffer's name, e.g. ``'winograd_tiles'``: the
            temporaries used at the same time need distinct slots.
        shape (Sequence[int]): The shape of the returned view.
        like (Tensor): Gives the device and dtype.

    Returns:
        Tensor: ``shape``, contiguous.
    """
    if like.device.type != 'cpu' or torch.compiler.is_compiling() or (
            torch.is_grad_enabled() and like.requires_grad):
        return like.new_empty(shape)
    numel = math.prod(shape)
    key = (slot, like.device, like.dtype, torch.is_inference_mode_enabled())
    buffer = _BUFFERS.by_key.get(key)
    if buffer is None or buffer.numel() < numel:
        buffer = like.new_empty(numel)
        _BUFFERS.by_key[key] = buffer
    return buffer[:numel].view(shape)
