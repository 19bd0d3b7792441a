import pytest
import torch

from mmrefseg.utils import restore_original_size

META = dict(
    ori_shape=(30, 40),
    img_shape=(64, 64),
    scale_factor=(1.6, 1.6),
    pad_offset=(8.0, 0.0))


def test_shapes_and_dtype():
    maps = torch.randn(2, 64, 64)
    assert restore_original_size(maps, META).shape == (2, 30, 40)
    assert restore_original_size(maps[None], META).shape == (2, 30, 40)
    out = restore_original_size(maps.bfloat16(), META)
    assert out.dtype == torch.bfloat16


def test_samples_the_content_box():
    # Content occupies rows 8..56 (h 48) and all 64 columns: an input that
    # is 1 on the content and 0 on the padding comes back all ones.
    maps = torch.zeros(1, 64, 64)
    maps[:, 8:56] = 1
    restored = restore_original_size(maps, META, mode='nearest')
    assert restored.min() == 1
    # A ramp along x comes back as the same affine ramp: x = 1.6 * x0.
    ramp = torch.arange(64.).expand(1, 64, 64)
    restored = restore_original_size(ramp, META, mode='bilinear')
    expected = 1.6 * torch.arange(40.)
    torch.testing.assert_close(restored[0, 5], expected)


def test_bad_input():
    with pytest.raises(ValueError, match='one sample'):
        restore_original_size(torch.zeros(2, 1, 64, 64), META)
    with pytest.raises(ValueError, match=r'\(64, 64\)'):
        restore_original_size(torch.zeros(64, 64), META)
    meta = dict(META)
    meta.pop('pad_offset')
    with pytest.raises(KeyError, match='pad_offset'):
        restore_original_size(torch.zeros(1, 64, 64), meta)
