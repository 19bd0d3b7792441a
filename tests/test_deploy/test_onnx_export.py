"""ONNX export: ONNX Runtime and OpenVINO logits against PyTorch."""
import os

import numpy as np
import pytest
import torch

from mmrefseg.deploy import (CHECK_TEXTS, SAMPLE_TEXTS, ReferExportModule,
                             build_backend, check_onnx, compare_logits,
                             export_onnx, sample_inputs, token_input_names)
from .conftest import FAMILIES, INPUT_SHAPE

SHORT, LONG = SAMPLE_TEXTS[0], CHECK_TEXTS[1] + ' under the big tree'
ATOL = 1e-4
# (texts, images): padded and unpadded (truncated) sentences alone, a batch
# of 2 images, and one image for 2 sentences.
CASES = {
    'padded': ([SHORT], 1),
    'unpadded': ([LONG], 1),
    'batch2': ([LONG, SHORT], 2),
    'shared_image': ([SHORT, LONG], 1),
}


def run_both(model, backend, texts, num_images, seed=3):
    inputs = sample_inputs(
        model, INPUT_SHAPE, texts, num_images=num_images, seed=seed)
    with torch.no_grad():
        expected = ReferExportModule(model)(*inputs.values())
    logits = backend({name: value.numpy() for name, value in inputs.items()})
    return expected, logits


@pytest.mark.parametrize('family', FAMILIES)
@pytest.mark.parametrize('backend_name', ['onnxruntime', 'openvino'])
def test_backend_matches_pytorch(exports, family, backend_name):
    model, _ = exports.model(family)
    backend = build_backend(backend_name, exports.onnx(family), num_threads=1)
    assert backend.input_names == ('image', ) + token_input_names(
        model.text_encoder)
    assert backend.input_shapes['image'] == (None, 3) + INPUT_SHAPE
    for case, (texts, num_images) in CASES.items():
        expected, logits = run_both(model, backend, texts, num_images)
        assert logits.shape == tuple(expected.shape), case
        diff = compare_logits(expected, logits)['max_abs_diff']
        assert diff <= ATOL, f'{case}: max |logit diff| {diff}'


def test_check_onnx_reports_the_differences(exports):
    model, _ = exports.model('cris-aligner')
    result = check_onnx(model, exports.onnx('cris-aligner'), num_threads=1)
    assert set(result) == {'max_abs_diff', 'mask_diff_pixels', 'num_pixels'}
    assert result['max_abs_diff'] <= ATOL
    assert result['mask_diff_pixels'] == 0
    assert result['num_pixels'] == len(CHECK_TEXTS) * 32 * 32


def test_compare_logits_counts_pixels_across_the_threshold():
    reference = np.zeros((1, 1, 2, 2), np.float32)
    logits = reference.copy()
    logits[0, 0, 0, 0] = 1.0  # sigmoid 0.73 > 0.35, 0 gives 0.5 > 0.35
    logits[0, 0, 1, 1] = -1.0  # sigmoid 0.27 < 0.35
    result = compare_logits(torch.from_numpy(reference), logits, 0.35)
    assert result == dict(max_abs_diff=1.0, mask_diff_pixels=1, num_pixels=4)
    with pytest.raises(ValueError, match='shape'):
        compare_logits(reference, logits[:, :, :1])


def test_static_batch_runs_in_chunks(exports):
    model, _ = exports.model('cris')
    backend = build_backend(
        'onnxruntime', exports.onnx('cris', False), num_threads=1)
    assert backend.input_shapes['token_ids'] == (1, 12)
    assert backend.input_shapes['image'] == (1, 3) + INPUT_SHAPE
    for num_images in (3, 1):
        expected, logits = run_both(model, backend, list(CHECK_TEXTS),
                                    num_images)
        assert compare_logits(expected, logits)['max_abs_diff'] <= ATOL


def test_export_never_overwrites(exports, tmp_path):
    model, _ = exports.model('cris')
    out = tmp_path / 'model.onnx'
    out.write_bytes(b'keep me')
    with pytest.raises(FileExistsError, match='model.onnx'):
        export_onnx(model, str(out), input_shape=INPUT_SHAPE)
    assert out.read_bytes() == b'keep me'
    with pytest.raises(ValueError, match='.onnx'):
        export_onnx(model, str(tmp_path / 'model.pt'))
    assert os.listdir(tmp_path) == ['model.onnx']
