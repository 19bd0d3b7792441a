"""Mixed-precision training on the CPU (bfloat16 autocast)."""
from typing import Union

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmrefseg.registry import OPTIM_WRAPPERS

__all__ = ['CPUAmpOptimWrapper']


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's :class:`AmpOptimWrapper` for a machine without a GPU.

    mmengine's wrapper asserts that CUDA (or another accelerator) is present
    and builds a CUDA ``GradScaler``. On the CPU, torch's autocast computes in
    bfloat16, which has float32's exponent range: gradients cannot underflow
    the way float16 ones do, so no loss scaling is needed. This wrapper keeps
    the parent's ``optim_context`` (bfloat16 autocast), ``backward``, ``step``
    and checkpoint format, with a loss scaler that is switched off.
    ``tools/train.py --amp`` selects it when no GPU is found.

    Args:
        dtype (str or torch.dtype): The autocast dtype; the CPU supports
            ``'bfloat16'`` only. Defaults to ``'bfloat16'``.
        loss_scale (str or float or dict): Accepted so that a GPU config's
            ``loss_scale`` does not break the CPU run; ignored, bfloat16 needs
            no scaling. Defaults to ``'dynamic'``.
        **kwargs: The arguments of :class:`OptimWrapper` (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 **kwargs) -> None:
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None)
        if dtype is not torch.bfloat16:
            raise ValueError('CPUAmpOptimWrapper supports dtype "bfloat16" '
                             f'only (CPU autocast), got {dtype!r}.')
        # The parent's __init__ would refuse a CPU-only machine.
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        self.cast_dtype = dtype
