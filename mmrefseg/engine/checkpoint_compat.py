"""Let mmengine checkpoints load under torch's ``weights_only`` default.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: the
unpickler only rebuilds tensors, builtin containers and allowlisted globals.
mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, and its own
checkpoints hold more than tensors: the message hub's ``HistoryBuffer``
objects (with numpy arrays inside) and numpy scalars in the runtime info and
the checkpoint meta (e.g. ``eta``, ``best_score``). Resuming, ``load_from``
and ``tools/test.py`` therefore fail with "Weights only load failed".

Rather than turning ``weights_only`` off, which would let a checkpoint run
arbitrary code, :func:`register_checkpoint_safe_globals` allowlists the few
objects these checkpoints need. The list was found by training a small model
with mmengine's ``Runner`` (SGD and AdamW, three parameter schedulers, a
validation metric, best-checkpoint saving), loading each saved file with the
default ``torch.load`` and adding whatever the unpickler refused, until all
loaded:

1. ``mmengine.logging.HistoryBuffer`` (GLOBAL, then NEWOBJ and BUILD);
2. ``numpy._core.multiarray._reconstruct``, ``numpy.ndarray`` and
   ``numpy.dtype``: the arrays inside a ``HistoryBuffer``;
3. the dtype classes ``numpy.dtypes.Float64DType`` and ``Int64DType``: numpy
   2 dtypes are instances of per-type subclasses, which the unpickler's BUILD
   step checks;
4. ``builtins.getattr``: a ``HistoryBuffer`` pickles its statistic methods
   (``HistoryBuffer.min`` ...) as ``getattr(HistoryBuffer, 'min')``;
5. ``numpy._core.multiarray.scalar``: numpy scalars such as ``eta``.

Two deliberate widenings, each of the same kind as the list: the numpy 1.x
names of (2) and (5) (``numpy.core.multiarray.*``), so that checkpoints
written under numpy 1.x (e.g. OpenMMLab model-zoo files) load as well, and
the other boolean, integer and floating dtype classes, since a metric may
return e.g. ``np.float32`` scores that end up in the meta.

``builtins.getattr`` is not allowlisted itself, which would let a checkpoint
read any attribute of any object it can build; it is replaced by
:func:`_history_buffer_getattr`, which only resolves the statistic methods
of ``HistoryBuffer``.
"""
import pickle
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.utils import digit_version

__all__ = ['register_checkpoint_safe_globals']

_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')

# Boolean, integer and floating types; object, string and void dtypes stay
# refused.
_NUMERIC_DTYPE_CODES = '?bBhHiIlLqQefdg'

SafeGlobal = Union[Callable, Tuple[Callable, str]]


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` inside a ``weights_only`` load.

    Args:
        obj (Any): The object whose attribute the checkpoint asks for.
        name (str): The attribute name.

    Returns:
        Callable: ``HistoryBuffer.<name>`` for a default statistic method.
    """
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'The checkpoint asks for getattr({obj!r}, {name!r}); mmrefseg only '
        'allows the statistic methods '
        f'{_HISTORY_BUFFER_STATISTICS} of HistoryBuffer in a weights_only '
        'load')


def _numpy_multiarray() -> Any:
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:
        from numpy.core import multiarray  # numpy 1.x
    return multiarray


def checkpoint_safe_globals() -> List[SafeGlobal]:
    """The objects that mmengine checkpoints need under ``weights_only``.

    Returns:
        list: Classes and functions, or ``(object, 'module.name')`` pairs
        where the name in the checkpoint differs from the object's own.
    """
    multiarray = _numpy_multiarray()
    safe_globals: List[SafeGlobal] = [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        (np.ndarray, 'numpy.ndarray'),
        (np.dtype, 'numpy.dtype'),
    ]
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        safe_globals.append((multiarray._reconstruct,
                             f'{module}._reconstruct'))
        safe_globals.append((multiarray.scalar, f'{module}.scalar'))
    # Only the BUILD step looks at these, by identity, so no names needed.
    dtype_classes = (type(np.dtype(code)) for code in _NUMERIC_DTYPE_CODES)
    safe_globals.extend(dict.fromkeys(dtype_classes))
    return safe_globals


def register_checkpoint_safe_globals() -> None:
    """Allowlist what mmengine checkpoints need for ``torch.load``.

    A no-op before torch 2.6, where ``torch.load`` still defaults to
    ``weights_only=False``. Registering twice is harmless.
    """
    if digit_version(torch.__version__) < digit_version('2.6.0'):
        return
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
