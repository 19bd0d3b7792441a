"""What every inference backend shares: file checks and batching."""
import importlib
import os.path as osp
from abc import ABCMeta, abstractmethod
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..graph_io import SHARED_INPUTS

__all__ = ['BaseBackend', 'import_runtime']

#: Shape of a model input, None where a dimension is dynamic.
Shape = Tuple[Optional[int], ...]


def import_runtime(module: str, package: str):
    """Imports a runtime, or says which pip package provides it.

    Args:
        module (str): The module to import, e.g. ``'onnxruntime'``.
        package (str): Its pip package, e.g. ``'onnxruntime'``.

    Returns:
        module: The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f'This backend needs the `{package}` package: pip install '
            f'{package} (the tested version is pinned in '
            'requirements/optional.txt)') from error


class BaseBackend(metaclass=ABCMeta):
    """A compiled model called with a dict of numpy arrays.

    Subclasses load the model, fill :attr:`input_shapes` and
    :attr:`input_dtypes` and implement :meth:`infer` for inputs of exactly
    the model's static shapes. :meth:`__call__` adapts any batch to them:
    an input of batch 1 is shared by the whole batch (repeated, except an
    input of :data:`~mmrefseg.deploy.graph_io.SHARED_INPUTS` with a dynamic
    batch, which the graph broadcasts itself), and a batch larger than a
    static one runs in chunks, the last padded with copies of its last
    row.

    Args:
        file (str): The model file.
        device (str): Defaults to 'cpu'.
        precision (str): Defaults to 'fp32'.
        num_threads (int, optional): Intra-op threads. Defaults to None (the
            runtime's choice).
    """

    #: The backend's name, as ``build_backend`` takes it.
    name: str = ''
    #: Accepted model file suffixes.
    suffixes: Tuple[str, ...] = ('.onnx', )
    #: Accepted ``precision`` values.
    precisions: Tuple[str, ...] = ('fp32', )

    def __init__(self,
                 file: str,
                 device: str = 'cpu',
                 precision: str = 'fp32',
                 num_threads: Optional[int] = None):
        file = str(file)
        if not file.lower().endswith(self.suffixes):
            raise ValueError(
                f'{type(self).__name__} reads {" or ".join(self.suffixes)} '
                f'files, got {file!r}')
        if not osp.isfile(file):
            raise FileNotFoundError(
                f'{type(self).__name__}: model file {file!r} not found')
        if precision not in self.precisions:
            raise ValueError(
                f'{type(self).__name__} runs precision '
                f'{" or ".join(self.precisions)}, got {precision!r}')
        if num_threads is not None and num_threads < 1:
            raise ValueError(f'num_threads must be >= 1, got {num_threads}')
        self.file = file
        self.device = device
        self.precision = precision
        # What the runtime reports running, where it may differ from the
        # request (OpenVINO without bf16 hardware runs f32).
        self.runs_precision = precision
        self.num_threads = num_threads
        self.input_shapes: Dict[str, Shape] = {}
        self.input_dtypes: Dict[str, np.dtype] = {}

    @property
    def input_names(self) -> Tuple[str, ...]:
        """The model's input names, in the model's order."""
        return tuple(self.input_shapes)

    @abstractmethod
    def infer(self, inputs: Dict[str, np.ndarray]) -> np.ndarray:
        """Runs the model on inputs that fit its static dimensions.

        Args:
            inputs (dict[str, np.ndarray]): One contiguous array per input,
                of the model's dtype.

        Returns:
            np.ndarray: The first output, owned by the caller.
        """

    def _check(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        missing = [name for name in self.input_names if name not in inputs]
        extra = [name for name in inputs if name not in self.input_shapes]
        if missing or extra:
            raise KeyError(f'{self.file} takes inputs {self.input_names}; '
                           f'missing {missing}, unknown {extra}')
        arrays = {}
        for name, shape in self.input_shapes.items():
            array = np.asarray(inputs[name])
            if array.ndim != len(shape) or any(
                    size is not None and size != got
                    for size, got in zip(shape[1:], array.shape[1:])):
                raise ValueError(
                    f'{self.file}: input {name!r} must be of shape '
                    f'{_shape_str(shape)}, got {array.shape}')
            arrays[name] = array.astype(self.input_dtypes[name], copy=False)
        return arrays

    def __call__(self, inputs: Dict[str, np.ndarray]) -> np.ndarray:
        """Runs the model on a batch.

        Args:
            inputs (dict[str, np.ndarray]): One array per model input, of
                batch B or 1 (shared by the batch); cast to the model's
                dtypes.

        Returns:
            np.ndarray: The first output, batch B.
        """
        arrays = self._check(inputs)
        batch = max(array.shape[0] for array in arrays.values())
        if batch == 0:
            raise ValueError(f'{self.file}: empty batch')
        for name, array in arrays.items():
            if array.shape[0] not in (1, batch):
                raise ValueError(
                    f'{self.file}: inputs of batch {batch} and '
                    f'{array.shape[0]} ({name!r}); batches must match or '
                    'be 1')
        static = [
            shape[0] for name, shape in self.input_shapes.items()
            if shape[0] is not None and arrays[name].shape[0] == batch
        ]
        chunk = min(static) if static else batch
        outputs = []
        for start in range(0, batch, chunk):
            stop = min(start + chunk, batch)
            feed = {
                name: self._rows(name, array, start, stop, batch)
                for name, array in arrays.items()
            }
            outputs.append(self.infer(feed)[:stop - start])
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    def _rows(self, name: str, array: np.ndarray, start: int, stop: int,
              batch: int) -> np.ndarray:
        """Rows ``start:stop`` of an input, shaped for the model's batch."""
        static = self.input_shapes[name][0]
        rows = stop - start if static is None else static
        if array.shape[0] == batch and batch > 1:
            array = array[start:stop]
            if array.shape[0] < rows:
                pad = np.repeat(array[-1:], rows - array.shape[0], axis=0)
                array = np.concatenate([array, pad])
        elif static is not None or name not in SHARED_INPUTS:
            array = np.broadcast_to(array, (rows, ) + array.shape[1:])
        return np.ascontiguousarray(array)


def _shape_str(shape: Sequence[Optional[int]]) -> str:
    return '(' + ', '.join('?' if size is None else str(size)
                           for size in shape) + ')'
