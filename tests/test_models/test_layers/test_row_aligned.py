import pytest
import torch

from mmrefseg.models.layers.row_aligned import row_padded


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
