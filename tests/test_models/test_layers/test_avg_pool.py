import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmrefseg.models.layers import AvgPool2x2, avg_pool2x2, is_plain_avg_pool


@pytest.mark.parametrize('shape', [(1, 3, 8, 8), (2, 5, 13, 9),
                                   (1, 64, 52, 52)])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_same_bits_as_aten(shape, dtype):
    x = torch.randn(*shape, dtype=dtype) * 100
    expected = F.avg_pool2d(x, 2)
    assert torch.equal(avg_pool2x2(x), expected)
    assert torch.equal(
        avg_pool2x2(x.contiguous(memory_format=torch.channels_last)),
        expected)
    assert torch.equal(AvgPool2x2()(x), expected)


def test_other_dtypes_use_aten():
    x = torch.randn(1, 4, 6, 6).bfloat16()
    assert torch.equal(avg_pool2x2(x), F.avg_pool2d(x, 2))


def test_gradient_matches_aten():
    x = torch.randn(2, 3, 7, 6, requires_grad=True)
    avg_pool2x2(x).pow(2).sum().backward()
    ours, x.grad = x.grad, None
    F.avg_pool2d(x, 2).pow(2).sum().backward()
    torch.testing.assert_close(ours, x.grad)


def test_which_pools_are_plain():
    assert is_plain_avg_pool(nn.AvgPool2d(2), 2)
    assert is_plain_avg_pool(nn.AvgPool2d((2, 2), stride=2), 2)
    assert is_plain_avg_pool(nn.AvgPool2d(1), 1)
    assert not is_plain_avg_pool(nn.AvgPool2d(2), 1)
    assert not is_plain_avg_pool(nn.AvgPool2d(2, stride=1), 2)
    assert not is_plain_avg_pool(nn.AvgPool2d(2, padding=1), 2)
    assert not is_plain_avg_pool(nn.AvgPool2d(2, ceil_mode=True), 2)
    assert not is_plain_avg_pool(nn.AvgPool2d(2, divisor_override=3), 2)
    assert not is_plain_avg_pool(nn.MaxPool2d(2), 2)
