import torch
import torch.nn.functional as F

from mmrefseg.models.layers import CoordConvModule, coordinate_map


def test_coordinate_map_is_x_then_y_linspace():
    coords = coordinate_map(3, 5, 'cpu', torch.float32)
    assert coords.shape == (1, 2, 3, 5)
    assert torch.equal(coords[0, 0, 1], torch.linspace(-1, 1, 5))
    assert torch.equal(coords[0, 1, :, 2], torch.linspace(-1, 1, 3))
    assert coordinate_map(3, 5, 'cpu', torch.float32) is coords


def test_coord_conv_convolves_input_and_coordinates():
    torch.manual_seed(0)
    module = CoordConvModule(4, 6, 3, padding=1, norm_cfg=None,
                             act_cfg=None).eval()
    assert module.conv.in_channels == 6
    x = torch.randn(2, 4, 7, 9)
    ys, xs = torch.meshgrid(
        torch.linspace(-1, 1, 7), torch.linspace(-1, 1, 9), indexing='ij')
    grid = torch.stack([xs, ys])[None].expand(2, -1, -1, -1)
    expected = F.conv2d(
        torch.cat([x, grid], 1), module.conv.weight, module.conv.bias,
        padding=1)
    torch.testing.assert_close(module(x), expected)
