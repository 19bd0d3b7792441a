import pytest
import torch

from mmrefseg.models.layers.row_aligned import row_aligned_empty, row_padded


@pytest.mark.parametrize('dtype,per_line', [(torch.float32, 16),
                                            (torch.bfloat16, 32)])
def test_rows_start_on_cache_lines(dtype, per_line):
    like = torch.zeros(1, dtype=dtype)
    out = row_aligned_empty(2, 5, 676, like=like)
    assert out.shape == (2, 5, 676) and out.dtype == dtype
    assert out.stride(-1) == 1 and out.stride(-2) % per_line == 0
    assert out.stride(-2) - 676 < per_line
    assert row_aligned_empty(3, 32, like=like).is_contiguous()


def test_matrix_products_write_into_it():
    a, b = torch.randn(2, 7, 5), torch.randn(2, 5, 2916)
    out = row_aligned_empty(2, 7, 2916, like=a)
    result = torch.bmm(a, b, out=out)
    assert result.data_ptr() == out.data_ptr()
    assert not out.is_contiguous()
    torch.testing.assert_close(out, torch.bmm(a, b))


@pytest.mark.parametrize('columns,stride', [(512, 528), (256, 272),
                                            (676, 688), (100, 112)])
def test_padded_rows_avoid_kilobyte_strides(columns, stride):
    matrix = torch.randn(3, 4, columns)
    padded = row_padded(matrix)
    assert padded.stride(-1) == 1 and padded.stride(-2) == stride
    assert torch.equal(padded, matrix)
    left = torch.randn(3, 2, 4)
    torch.testing.assert_close(
        torch.bmm(left, padded), torch.bmm(left, matrix))
