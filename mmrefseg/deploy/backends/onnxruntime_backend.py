"""ONNX Runtime inference of an exported ONNX graph."""
from typing import Dict, Optional

import numpy as np
from mmengine.logging import print_log

from .base import BaseBackend, import_runtime

__all__ = ['OnnxRuntimeBackend']

# ONNX Runtime's tensor type names -> numpy dtypes of the exported inputs.
_ORT_DTYPES = {
    'tensor(float)': np.float32,
    'tensor(float16)': np.float16,
    'tensor(int64)': np.int64,
    'tensor(int32)': np.int32,
    'tensor(bool)': np.bool_,
}

_PROVIDERS = {
    'cpu': 'CPUExecutionProvider',
    'cuda': 'CUDAExecutionProvider',
}


class OnnxRuntimeBackend(BaseBackend):
    """An ONNX graph run by ONNX Runtime (package ``onnxruntime``).

    fp32 only: ONNX Runtime's CPU execution provider has no bfloat16
    convolution kernels, so a bf16 graph would fall back op by op to fp32
    with casts around each; use :class:`OpenVINOBackend` for bf16.

    Args:
        file (str): The ``.onnx`` file.
        device (str): 'cpu' or 'cuda' (needs ``onnxruntime-gpu``).
            Defaults to 'cpu'.
        precision (str): 'fp32'. Defaults to 'fp32'.
        num_threads (int, optional): ``intra_op_num_threads``. Defaults to
            None (one per physical core).
    """

    name = 'onnxruntime'
    suffixes = ('.onnx', )

    def __init__(self,
                 file: str,
                 device: str = 'cpu',
                 precision: str = 'fp32',
                 num_threads: Optional[int] = None):
        if precision == 'bf16':
            raise ValueError(
                "The onnxruntime backend runs fp32 only: its CPU execution "
                "provider has no bfloat16 convolution kernels. Use "
                "backend='openvino' with precision='bf16' on a CPU with "
                'AVX512-BF16 or AMX.')
        super().__init__(file, device, precision, num_threads)
        ort = import_runtime('onnxruntime', 'onnxruntime')
        device_type = device.split(':')[0]
        if device_type not in _PROVIDERS:
            raise ValueError(f'The onnxruntime backend runs on '
                             f'{sorted(_PROVIDERS)}, got device={device!r}')
        provider = _PROVIDERS[device_type]
        if provider not in ort.get_available_providers():
            raise RuntimeError(
                f'device={device!r} needs {provider}, which this onnxruntime '
                f'lacks (it has {ort.get_available_providers()}); install '
                'onnxruntime-gpu for CUDA')
        provider_options = {}
        if device_type == 'cuda' and ':' in device:
            provider_options['device_id'] = int(device.split(':')[1])
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
        self.session = ort.InferenceSession(
            self.file,
            sess_options=options,
            providers=[(provider, provider_options)])
        for arg in self.session.get_inputs():
            self.input_shapes[arg.name] = tuple(
                size if isinstance(size, int) else None for size in arg.shape)
            if arg.type not in _ORT_DTYPES:
                raise TypeError(f'{self.file}: input {arg.name!r} is of '
                                f'unsupported type {arg.type}')
            self.input_dtypes[arg.name] = np.dtype(_ORT_DTYPES[arg.type])
        self.output_name = self.session.get_outputs()[0].name
        print_log(
            f'onnxruntime {ort.__version__} runs {self.file} in fp32 on '
            f'{provider}' + (f' with {num_threads} threads'
                             if num_threads is not None else ''),
            logger='current')

    def infer(self, inputs: Dict[str, np.ndarray]) -> np.ndarray:
        """See :meth:`BaseBackend.infer`."""
        return self.session.run([self.output_name], inputs)[0]
