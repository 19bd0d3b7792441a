"""CoordConv: a ConvModule that first appends the pixel coordinates."""

import torch
from mmcv.cnn import ConvModule
from torch import Tensor

from .table_cache import table_cache

__all__ = ['coordinate_map', 'CoordConvModule']


@table_cache(maxsize=32)
def _coordinate_map(height: int, width: int, device: torch.device,
                    dtype: torch.dtype) -> Tensor:
    with torch.inference_mode(False), torch.no_grad():
        y = torch.linspace(-1, 1, height, device=device)
        x = torch.linspace(-1, 1, width, device=device)
        grid_y, grid_x = torch.meshgrid(y, x, indexing='ij')
        return torch.stack([grid_x, grid_y]).unsqueeze(0).to(dtype)


def coordinate_map(height: int, width: int, device: torch.device,
                   dtype: torch.dtype) -> Tensor:
    """The normalised (x, y) coordinates of a grid, cached per size.

    Args:
        height (int): H.
        width (int): W.
        device (torch.device): Device of the result.
        dtype (torch.dtype): Dtype of the result.

    Returns:
        Tensor: (1, 2, H, W); channel 0 is x, channel 1 is y, both
        ``linspace(-1, 1)``. Cached: do not modify in place.
    """
    return _coordinate_map(int(height), int(width), torch.device(device),
                           dtype)


class CoordConvModule(ConvModule):
    """ConvModule over the input with two coordinate channels appended.

    ``in_channels`` is the channel count of the input WITHOUT the coordinates;
    the convolution itself sees ``in_channels + 2`` (x first, then y). The
    coordinate map depends on the input size and is cached per size.

    Args:
        in_channels (int): Input channels, coordinates excluded.
        out_channels (int): Output channels.
        kernel_size (int): Kernel size.
        **kwargs: Any other argument of :class:`mmcv.cnn.ConvModule`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size,
                 **kwargs):
        super().__init__(in_channels + 2, out_channels, kernel_size, **kwargs)

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        """(B, C, H, W) -> (B, out_channels, H', W')."""
        coords = coordinate_map(x.shape[2], x.shape[3], x.device, x.dtype)
        x = torch.cat([x, coords.expand(x.shape[0], -1, -1, -1)], dim=1)
        return super().forward(x, *args, **kwargs)
