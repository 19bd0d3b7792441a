"""Backend look-up by name."""
from typing import Optional

from .base import BaseBackend
from .onnxruntime_backend import OnnxRuntimeBackend
from .openvino_backend import OpenVINOBackend

__all__ = ['BACKENDS', 'build_backend']

#: Backend name -> class.
BACKENDS = {
    backend.name: backend
    for backend in (OnnxRuntimeBackend, OpenVINOBackend)
}


def build_backend(backend: str,
                  file: str,
                  device: str = 'cpu',
                  precision: str = 'fp32',
                  num_threads: Optional[int] = None) -> BaseBackend:
    """Loads a model file into an inference backend.

    Args:
        backend (str): One of :data:`BACKENDS`: 'onnxruntime', 'openvino'.
        file (str): The model file.
        device (str): Defaults to 'cpu'.
        precision (str): 'fp32', or 'bf16' (openvino). Defaults to 'fp32'.
        num_threads (int, optional): Intra-op threads. Defaults to None.

    Returns:
        BaseBackend: Callable with a dict of numpy inputs.
    """
    if backend not in BACKENDS:
        raise ValueError(f'Unknown backend {backend!r}; choose from '
                         f'{sorted(BACKENDS)}')
    return BACKENDS[backend](
        file, device=device, precision=precision, num_threads=num_threads)
