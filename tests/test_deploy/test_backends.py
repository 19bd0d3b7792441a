"""Backends: clear errors for bad files, settings, inputs and packages."""
import sys

import numpy as np
import pytest

from mmrefseg.deploy import (OnnxRuntimeBackend, OpenVINOBackend,
                             build_backend)
from mmrefseg.deploy.backends import openvino_backend
from .conftest import INPUT_SHAPE


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_missing_file_is_named(tmp_path, backend):
    missing = str(tmp_path / 'absent.onnx')
    with pytest.raises(FileNotFoundError, match='absent.onnx'):
        build_backend(backend, missing)


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_wrong_suffix_is_named(tmp_path, backend):
    path = tmp_path / 'model.pth'
    path.write_bytes(b'')
    with pytest.raises(ValueError, match='model.pth'):
        build_backend(backend, str(path))


def test_openvino_ir_needs_its_weights(tmp_path):
    path = tmp_path / 'model.xml'
    path.write_text('<net/>')
    with pytest.raises(FileNotFoundError, match='model.bin'):
        OpenVINOBackend(str(path))


def test_onnxruntime_refuses_bf16(exports):
    with pytest.raises(ValueError, match='bfloat16.*openvino'):
        OnnxRuntimeBackend(exports.onnx('cris'), precision='bf16')


def test_unknown_backend_and_precision(exports):
    with pytest.raises(ValueError, match='tensorrt'):
        build_backend('tensorrt', exports.onnx('cris'))
    with pytest.raises(ValueError, match='fp16'):
        build_backend('openvino', exports.onnx('cris'), precision='fp16')
    with pytest.raises(ValueError, match='num_threads'):
        build_backend('onnxruntime', exports.onnx('cris'), num_threads=0)


@pytest.mark.parametrize('backend, package', [('onnxruntime', 'onnxruntime'),
                                              ('openvino', 'openvino')])
def test_missing_runtime_names_its_package(exports, monkeypatch, backend,
                                           package):
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(ImportError, match=f'pip install {package}'):
        build_backend(backend, exports.onnx('cris'))


def test_bad_inputs_are_refused(exports):
    backend = build_backend('onnxruntime', exports.onnx('cris'), num_threads=1)
    image = np.zeros((1, 3) + INPUT_SHAPE, np.float32)
    tokens = np.zeros((1, 12), np.int64)
    with pytest.raises(KeyError, match='missing'):
        backend(dict(image=image))
    with pytest.raises(KeyError, match='attention_mask'):
        backend(dict(image=image, token_ids=tokens, attention_mask=tokens))
    with pytest.raises(ValueError, match=r'\(\?, 3, 128, 128\)'):
        backend(dict(image=image[..., :64], token_ids=tokens))
    with pytest.raises(ValueError, match='batches must match'):
        backend(
            dict(
                image=np.repeat(image, 2, 0),
                token_ids=np.repeat(tokens, 3, 0)))


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_openvino_logs_the_precision_it_runs(exports, monkeypatch, precision):
    logged = []
    monkeypatch.setattr(
        openvino_backend, 'print_log', lambda msg, **kwargs: logged.append(
            (msg, kwargs.get('level'))))
    backend = OpenVINOBackend(
        exports.onnx('cris'), precision=precision, num_threads=1)
    assert backend.runs_precision in ('f32', 'bf16')
    assert f'in {backend.runs_precision} (requested {precision})' in \
        logged[0][0]
    import openvino as ov
    has_bf16 = 'BF16' in ov.Core().get_property('CPU',
                                                'OPTIMIZATION_CAPABILITIES')
    if precision == 'fp32':
        # Set explicitly: left alone, OpenVINO picks bf16 where it can.
        assert backend.runs_precision == 'f32'
        assert len(logged) == 1
    elif not has_bf16:
        assert backend.runs_precision == 'f32'
        assert 'no bf16 support' in logged[1][0]
    else:
        assert backend.runs_precision == 'bf16'
