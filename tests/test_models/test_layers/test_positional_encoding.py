import pytest
import torch

from mmrefseg.models.layers import (sinusoidal_position_1d,
                                    sinusoidal_position_2d)
from tests.helpers import reference_pos1d, reference_pos2d


@pytest.mark.parametrize('length, dim', [(17, 512), (22, 512), (5, 6)])
def test_1d_equals_reference_formula(length, dim):
    assert torch.equal(
        sinusoidal_position_1d(length, dim), reference_pos1d(dim, length))


@pytest.mark.parametrize('height, width, dim', [(26, 26, 512), (3, 5, 8),
                                                (30, 20, 64)])
def test_2d_equals_reference_formula(height, width, dim):
    assert torch.equal(
        sinusoidal_position_2d(height, width, dim),
        reference_pos2d(dim, height, width))


def test_2d_is_row_major_x_then_y():
    pos = sinusoidal_position_2d(3, 4, 8)
    # x = 1 and y = 0 at flat index 1; x = 0 and y = 1 at flat index 4.
    assert torch.equal(pos[1, :4], sinusoidal_position_1d(4, 4)[1])
    assert torch.equal(pos[1, 4:], sinusoidal_position_1d(3, 4)[0])
    assert torch.equal(pos[4, :4], sinusoidal_position_1d(4, 4)[0])
    assert torch.equal(pos[4, 4:], sinusoidal_position_1d(3, 4)[1])


def test_cached_per_size_device_dtype():
    first = sinusoidal_position_2d(7, 9, 16)
    assert sinusoidal_position_2d(7, 9, 16) is first
    half = sinusoidal_position_2d(7, 9, 16, dtype=torch.float16)
    assert half.dtype == torch.float16 and half is not first
    assert torch.allclose(half.float(), first, atol=1e-3)
    assert sinusoidal_position_1d(4, 8, device='cpu').device.type == 'cpu'


def test_table_made_in_inference_mode_is_usable_with_autograd():
    with torch.inference_mode():
        table = sinusoidal_position_1d(11, 10)
    assert not table.is_inference()
    x = torch.randn(11, 10, requires_grad=True)
    ((x + table)**2).sum().backward()
    assert x.grad is not None


def test_bad_dims():
    with pytest.raises(ValueError, match='even dim'):
        sinusoidal_position_1d(4, 7)
    with pytest.raises(ValueError, match='divisible by 4'):
        sinusoidal_position_2d(4, 4, 6)
