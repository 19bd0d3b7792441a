"""OpenVINO inference of an exported ONNX graph or an OpenVINO IR."""
import logging
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import numpy as np
from mmengine.logging import print_log

from .base import BaseBackend, import_runtime

__all__ = ['OpenVINOBackend']

# ``precision`` -> OpenVINO's INFERENCE_PRECISION_HINT.
_PRECISION_HINTS = {'fp32': 'f32', 'bf16': 'bf16'}


class OpenVINOBackend(BaseBackend):
    """An ONNX graph or OpenVINO IR run by OpenVINO (package ``openvino``).

    The model is compiled for the static shapes of each call (kept for up
    to ``max_compiled`` input shapes, a new batch size compiles once): the
    CPU plugin cannot run an exported ``Resize`` whose output size it
    derives from a dynamic batch, and static shapes let it fold every shape
    computation.

    ``INFERENCE_PRECISION_HINT`` is always set: left alone, OpenVINO's CPU
    plugin runs bf16 on CPUs that have it (AVX512-BF16, AMX), which changes
    the masks. The precision the compiled model actually runs is read back
    and logged; a bf16 request on a CPU without bf16 runs f32, with a
    warning.

    Args:
        file (str): ``.onnx`` file, or ``.xml`` IR with its ``.bin`` beside
            it.
        device (str): OpenVINO device, e.g. 'cpu', 'gpu'. Defaults to 'cpu'.
        precision (str): 'fp32' or 'bf16'. Defaults to 'fp32'.
        num_threads (int, optional): ``INFERENCE_NUM_THREADS``. Defaults to
            None (OpenVINO's choice).
        max_compiled (int): Input shapes kept compiled. Defaults to 8.
    """

    name = 'openvino'
    suffixes = ('.onnx', '.xml')
    precisions = ('fp32', 'bf16')

    def __init__(self,
                 file: str,
                 device: str = 'cpu',
                 precision: str = 'fp32',
                 num_threads: Optional[int] = None,
                 max_compiled: int = 8):
        super().__init__(file, device, precision, num_threads)
        if self.file.lower().endswith('.xml'):
            weights = osp.splitext(self.file)[0] + '.bin'
            if not osp.isfile(weights):
                raise FileNotFoundError(
                    f'OpenVINOBackend: the weights {weights!r} of the IR '
                    f'{self.file!r} are missing')
        ov = import_runtime('openvino', 'openvino')
        self.core = ov.Core()
        self.ov_device = device.upper()
        available = {
            name.split('.')[0]
            for name in self.core.available_devices
        }
        if self.ov_device.split('.')[0] not in available:
            raise RuntimeError(
                f'OpenVINO has no device {self.ov_device!r} here '
                f'(available: {self.core.available_devices})')
        self.config = {
            'PERFORMANCE_HINT': 'LATENCY',
            'INFERENCE_PRECISION_HINT': _PRECISION_HINTS[precision],
        }
        if num_threads is not None:
            self.config['INFERENCE_NUM_THREADS'] = num_threads
        self.model = self.core.read_model(self.file)
        # Parameters keep the file's input names; a compiled model's ports
        # may be renamed by its graph transformations.
        for param in self.model.get_parameters():
            name = param.get_friendly_name()
            self.input_shapes[name] = tuple(
                None if dim.is_dynamic else dim.get_length()
                for dim in param.get_partial_shape())
            self.input_dtypes[name] = np.dtype(
                param.get_element_type().to_dtype())
        self.max_compiled = max_compiled
        self._requests: 'OrderedDict[tuple, object]' = OrderedDict()
        # The most common call: batch 1 for every dynamic dimension.
        first_shapes = {}
        for name, shape in self.input_shapes.items():
            first_shapes[name] = tuple(size or 1 for size in shape)
        self._request(first_shapes)
        self.runs_precision = self._log_precision(ov.get_version())

    def _request(self, shapes: Dict[str, Tuple[int, ...]]):
        """The infer request of the model compiled for ``shapes``."""
        key = tuple(shapes[name] for name in self.input_names)
        if key in self._requests:
            self._requests.move_to_end(key)
            return self._requests[key]
        model = self.model.clone()
        # By index: input_names follow the parameters' order.
        model.reshape({
            index: list(shapes[name])
            for index, name in enumerate(self.input_names)
        })
        self.compiled = self.core.compile_model(model, self.ov_device,
                                                self.config)
        self._requests[key] = self.compiled.create_infer_request()
        if len(self._requests) > self.max_compiled:
            self._requests.popitem(last=False)
        return self._requests[key]

    def _log_precision(self, version: str) -> str:
        """Logs the precision the compiled model runs; returns it."""
        # An ov.Type: 'f32', 'bf16', ...
        runs = self.compiled.get_property(
            'INFERENCE_PRECISION_HINT').get_type_name()
        print_log(
            f'openvino {version} runs {self.file} on {self.ov_device} in '
            f'{runs} (requested {self.precision})' +
            (f' with {self.num_threads} threads'
             if self.num_threads is not None else ''),
            logger='current')
        if self.precision == 'bf16':
            capabilities = self.core.get_property(self.ov_device,
                                                  'OPTIMIZATION_CAPABILITIES')
            if runs != 'bf16' or 'BF16' not in capabilities:
                print_log(
                    f'bf16 was requested but {self.ov_device} has no bf16 '
                    f'support (capabilities {list(capabilities)}: no '
                    'AVX512-BF16 / AMX): OpenVINO runs f32 instead, at '
                    'f32 speed',
                    logger='current',
                    level=logging.WARNING)
        return runs

    def infer(self, inputs: Dict[str, np.ndarray]) -> np.ndarray:
        """See :meth:`BaseBackend.infer`."""
        request = self._request({
            name: array.shape
            for name, array in inputs.items()
        })
        request.infer([inputs[name] for name in self.input_names])
        # The request reuses its output buffer at the next call.
        return request.get_output_tensor(0).data.copy()
