import subprocess
import sys

import cv2
import numpy as np

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


def test_benchmark_reports_its_figures():
    result = subprocess.run([
        sys.executable, 'tools/analysis_tools/benchmark.py', TINY_CONFIG,
        '--warmup', '1', '--iters', '2', '--batch-size', '2'
    ],
                            check=True,
                            capture_output=True,
                            text=True)
    report = dict(
        line.split(None, 1) for line in result.stdout.splitlines()
        if line.strip() and not line.startswith(' '))
    for key in ('parameters', 'latency', 'throughput', 'peak', 'FLOPs'):
        assert key in report, f'{key} missing from:\n{result.stdout}'
    assert report['parameters'].endswith('M')
    assert 'G' in report['FLOPs']
    # The defaults of init_model, the automatic NHWC included (a CPU).
    for transform in ('winograd_conv', 'fused_attention',
                      'channels_last (automatic)'):
        assert transform in report['inference'], result.stdout


def test_benchmark_compile_mode_needs_compile():
    result = subprocess.run([
        sys.executable, 'tools/analysis_tools/benchmark.py', TINY_CONFIG,
        '--compile-mode', 'reduce-overhead'
    ],
                            capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert '--compile-mode reduce-overhead needs --compile' in result.stderr


def test_flops_are_counted_with_query_blocks():
    """Full-size maps (26 x 26 queries) make the decoder's reference-order
    attention run in query blocks in eager mode; the traced forward that
    counts FLOPs takes the one-block products, and counts the same."""
    sys.path.insert(0, 'tools/analysis_tools')
    from benchmark import count_flops

    from mmrefseg.apis import NO_INFERENCE_TRANSFORMS, init_model
    from mmrefseg.models.layers import VLMultiheadAttention
    model = init_model(
        TINY_CONFIG, device='cpu', inference_cfg=NO_INFERENCE_TRANSFORMS)
    one_block = count_flops(model, 128, 128, 'cpu')
    for module in model.modules():
        if isinstance(module, VLMultiheadAttention):
            module.score_block_bytes = 1  # one query per block
    assert count_flops(model, 128, 128, 'cpu') == one_block > 0
