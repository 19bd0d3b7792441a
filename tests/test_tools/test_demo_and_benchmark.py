import importlib.util
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

TINY_CONFIG = 'configs/toy/cris_tiny_refer-toy.py'


def test_demo_writes_one_png_per_sentence(tmp_path):
    image = np.full((90, 120, 3), 127, dtype=np.uint8)
    cv2.circle(image, (40, 45), 20, (0, 0, 255), -1)
    image_path = str(tmp_path / 'input.jpg')
    cv2.imwrite(image_path, image)
    out_file = tmp_path / 'out.png'
    subprocess.run([
        sys.executable, 'demo/image_demo.py', image_path, 'the red circle',
        'grey background', TINY_CONFIG, '--out-file',
        str(out_file)
    ],
                   check=True,
                   capture_output=True)
    for index in range(2):
        picture = cv2.imread(str(tmp_path / f'out_{index}.png'))
        assert picture is not None, f'out_{index}.png is not a valid PNG'
        assert picture.shape[:2] == image.shape[:2]
        # the mask overlay or the printed sentence changed the picture
        assert not np.array_equal(picture, image)


def _report(stdout: str) -> dict:
    """The benchmark's ``key value`` lines, keyed by their first word."""
    return dict(
        line.split(None, 1) for line in stdout.splitlines()
        if line.strip() and not line.startswith(' '))


def _benchmark(*args, check=True):
    return subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py', TINY_CONFIG,
         *args],
        check=check,
        capture_output=True,
        text=True)


def test_benchmark_reports_its_figures():
    result = _benchmark('--warmup', '1', '--iters', '2', '--batch-size', '2')
    report = _report(result.stdout)
    for key in ('parameters', 'latency', 'throughput', 'peak', 'FLOPs',
                'precision', 'backend'):
        assert key in report, f'{key} missing from:\n{result.stdout}'
    assert report['parameters'].endswith('M')
    assert 'G' in report['FLOPs']
    assert report['latency'].startswith('median ')
    assert report['backend'].startswith('pytorch')
    # The defaults of init_model.
    for transform in ('fuse_conv_bn', 'fused_attention'):
        assert transform in report['inference'], result.stdout
    assert 'channels_last' not in report['inference'], result.stdout


def test_benchmark_times_an_onnx_graph_in_onnxruntime(tmp_path):
    from mmrefseg.apis import init_model
    from mmrefseg.deploy import export_onnx
    onnx_file = export_onnx(
        init_model(TINY_CONFIG), str(tmp_path / 'tiny.onnx'),
        input_shape=(128, 128))
    result = _benchmark('--backend', 'onnxruntime', '--checkpoint',
                        onnx_file, '--warmup', '1', '--iters', '2',
                        '--batch-size', '2', '--num-threads', '1',
                        '--no-flops')
    report = _report(result.stdout)
    assert report['backend'].startswith('onnxruntime'), result.stdout
    assert report['input'].startswith('2 x 3 x 128 x 128'), result.stdout
    assert report['precision'].startswith('fp32'), result.stdout
    assert re.fullmatch(r'median +\d+\.\d ms .*', report['latency']), \
        result.stdout
    # Counted on the PyTorch model built from the same config.
    assert report['parameters'].endswith('M')


@pytest.mark.parametrize('args, message', [
    (('--compile-mode', 'reduce-overhead'),
     '--compile-mode reduce-overhead needs --compile'),
    (('--backend', 'onnxruntime'), 'needs the exported model file'),
    (('--backend', 'onnxruntime', '--checkpoint', 'm.onnx', '--dtype',
      'bf16'), '--backend onnxruntime runs --dtype fp32, not bf16'),
    (('--backend', 'openvino', '--checkpoint', 'm.onnx', '--dtype', 'fp16'),
     '--backend openvino runs --dtype fp32 or bf16, not fp16'),
    (('--backend', 'openvino', '--checkpoint', 'm.onnx', '--compile'),
     '--compile: PyTorch options'),
])
def test_benchmark_rejects_inconsistent_flags(args, message, capsys):
    benchmark = _load_tool('tools/analysis_tools/benchmark.py')
    with pytest.raises(SystemExit) as error:
        benchmark.parse_args([TINY_CONFIG, *args])
    assert error.value.code == 2
    assert message in capsys.readouterr().err


def _load_tool(path: str):
    spec = importlib.util.spec_from_file_location(
        osp.splitext(osp.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
