"""Undo the input geometry of ``LetterboxResize`` / ``ReferResize``.

Both transforms map an original pixel ``(x0, y0)`` (integer coordinates at
pixel centres) to the network input by the affine

    ``x = x0 * scale_factor[0] + pad_offset[1]``,
    ``y = y0 * scale_factor[1] + pad_offset[0]``,

the convention of ``cv2.warpAffine`` with the corner-to-corner matrix of the
CRIS reference. ``restore_original_size`` samples a map at the network input
back at every original pixel through that affine, so one function undoes a
letterbox (with its fractional padding) and a plain resize alike.
"""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['restore_original_size']


def _input_coords(num_out: int, scale: float, offset: float, num_in: int,
                  device: torch.device) -> Tensor:
    """Normalised (align_corners=True) input coordinates of output pixels."""
    coords = torch.arange(num_out, device=device, dtype=torch.float32)
    coords = coords * scale + offset
    return coords * (2.0 / max(num_in - 1, 1)) - 1.0


def restore_original_size(maps: Tensor,
                          img_meta: dict,
                          mode: str = 'bicubic',
                          align_corners: bool = True,
                          padding_mode: str = 'zeros') -> Tensor:
    """Map a network-input map back to the original image size.

    Args:
        maps (Tensor): (C, H, W) or (1, C, H, W) maps of one sample, logits
            or probabilities. If (H, W) is not ``img_shape`` (e.g. stride-4
            logits) they are first resized to ``img_shape`` with ``mode``.
        img_meta (dict): Metainfo of the sample: ``ori_shape``,
            ``img_shape``, ``scale_factor`` (w, h) and ``pad_offset``
            (top, left) as recorded by ``LetterboxResize`` / ``ReferResize``.
        mode (str): Interpolation, 'bicubic', 'bilinear' or 'nearest'.
            Defaults to 'bicubic' (the CRIS reference).
        align_corners (bool): ``align_corners`` of the resize to
            ``img_shape``. Defaults to True (the CRIS reference).
        padding_mode (str): Value of the interpolation taps that fall
            outside the input (only at its last row/column): 'zeros' or
            'border' (repeat the edge). Defaults to 'zeros', the reference's
            ``cv2.warpAffine`` border for probabilities; use 'border' for
            logits, where 0 means p = 0.5.

    Returns:
        Tensor: (C, H0, W0) at ``ori_shape``, in the dtype of ``maps``.
    """
    if maps.dim() == 4:
        if maps.size(0) != 1:
            raise ValueError('restore_original_size takes one sample, got a '
                             f'batch of shape {tuple(maps.shape)}.')
        maps = maps[0]
    if maps.dim() != 3:
        raise ValueError('restore_original_size expects (C, H, W) or '
                         f'(1, C, H, W), got shape {tuple(maps.shape)}.')
    for key in ('ori_shape', 'img_shape', 'scale_factor', 'pad_offset'):
        if key not in img_meta:
            raise KeyError(f'img_meta lacks {key!r}: it needs the geometry '
                           'recorded by LetterboxResize or ReferResize.')
    ori_h, ori_w = img_meta['ori_shape'][:2]
    in_h, in_w = img_meta['img_shape'][:2]
    scale_w, scale_h = _pair(img_meta['scale_factor'])
    top, left = img_meta['pad_offset']

    dtype = maps.dtype
    maps = maps[None].float()
    if tuple(maps.shape[-2:]) != (in_h, in_w):
        maps = F.interpolate(
            maps,
            size=(in_h, in_w),
            mode=mode,
            align_corners=None if mode == 'nearest' else align_corners)
    grid_x = _input_coords(ori_w, scale_w, left, in_w, maps.device)
    grid_y = _input_coords(ori_h, scale_h, top, in_h, maps.device)
    grid_x = grid_x[None, :].expand(ori_h, ori_w)
    grid_y = grid_y[:, None].expand(ori_h, ori_w)
    grid = torch.stack((grid_x, grid_y), dim=-1)
    restored = F.grid_sample(
        maps,
        grid[None],
        mode=mode,
        padding_mode=padding_mode,
        align_corners=True)
    return restored[0].to(dtype)


def _pair(value) -> Sequence[float]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    return float(value[0]), float(value[1])
