from .base import BaseBackend, import_runtime
from .builder import BACKENDS, build_backend
from .onnxruntime_backend import OnnxRuntimeBackend
from .openvino_backend import OpenVINOBackend

__all__ = [
    'BaseBackend', 'OnnxRuntimeBackend', 'OpenVINOBackend', 'BACKENDS',
    'build_backend', 'import_runtime'
]
