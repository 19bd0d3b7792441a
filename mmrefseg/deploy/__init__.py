"""Inference of exported referring segmentors through standard runtimes.

Importing this package imports no runtime: ``onnxruntime`` and
``openvino`` are imported when a backend is built.
"""
from .backends import (BACKENDS, BaseBackend, OnnxRuntimeBackend,
                       OpenVINOBackend, build_backend)
from .build import build_deployed_model
from .deployed_segmentor import DeployedReferSegmentor
from .export_module import ReferExportModule
from .input_shape import config_input_shape
from .onnx_export import (CHECK_TEXTS, SAMPLE_TEXTS, check_onnx,
                          compare_logits, export_onnx, sample_inputs)
from .token_inputs import token_input_names, tokenize_texts

__all__ = [
    'ReferExportModule', 'token_input_names', 'tokenize_texts', 'SAMPLE_TEXTS',
    'CHECK_TEXTS', 'sample_inputs', 'export_onnx', 'compare_logits',
    'check_onnx', 'BaseBackend', 'OnnxRuntimeBackend', 'OpenVINOBackend',
    'BACKENDS', 'build_backend', 'DeployedReferSegmentor',
    'build_deployed_model', 'config_input_shape'
]
