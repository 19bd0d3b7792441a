"""Fixed sinusoidal positional encodings (1-D for words, 2-D for pixels).

The tables follow the CRIS reference formulas bit for bit: they are computed
in float32 on the CPU, as the reference does, and only then moved to the
requested device and dtype. They depend on nothing but the sequence length
(or map size) and the channel count, so each table is built once and cached
per ``(size, dim, device, dtype)``; callers must treat the returned tensors as
read-only.
"""
import math
from typing import Optional

import torch
from torch import Tensor

from .table_cache import table_cache

__all__ = ['sinusoidal_position_1d', 'sinusoidal_position_2d']


def _sine_table(length: int, dim: int) -> Tensor:
    """Builds the float32 CPU table: channel 2i is sin, 2i+1 is cos.

    Args:
        length (int): Number of positions.
        dim (int): Number of channels, even.

    Returns:
        Tensor: (length, dim).
    """
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32) *
        -(math.log(10000.0) / dim))
    angle = position * frequency
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)


@table_cache(maxsize=64)
def _cached_1d(length: int, dim: int, device: torch.device,
               dtype: torch.dtype) -> Tensor:
    # A table first requested inside ``torch.inference_mode`` must still be
    # usable later by code that records gradients.
    with torch.inference_mode(False), torch.no_grad():
        return _sine_table(length, dim).to(device=device, dtype=dtype)


@table_cache(maxsize=64)
def _cached_2d(height: int, width: int, dim: int, device: torch.device,
               dtype: torch.dtype) -> Tensor:
    half = dim // 2
    with torch.inference_mode(False), torch.no_grad():
        along_x = _sine_table(width, half).unsqueeze(0).expand(
            height, width, half)
        along_y = _sine_table(height, half).unsqueeze(1).expand(
            height, width, half)
        table = torch.cat([along_x, along_y], dim=-1).reshape(
            height * width, dim)
        return table.to(device=device, dtype=dtype)


def _normalise(device, dtype):
    device = torch.device('cpu') if device is None else torch.device(device)
    return device, torch.float32 if dtype is None else dtype


def sinusoidal_position_1d(length: int,
                           dim: int,
                           device: Optional[torch.device] = None,
                           dtype: Optional[torch.dtype] = None) -> Tensor:
    """Sinusoidal encoding of ``length`` positions (the words of a sentence).

    ``pe[p, 2i] = sin(p * w_i)`` and ``pe[p, 2i + 1] = cos(p * w_i)`` with
    ``w_i = exp(-2i * ln(10000) / dim)``.

    Args:
        length (int): Number of positions L.
        dim (int): Number of channels C; must be even.
        device (torch.device, optional): Defaults to None (CPU).
        dtype (torch.dtype, optional): Defaults to None (float32).

    Returns:
        Tensor: (L, C), cached; do not modify in place.
    """
    if dim % 2 != 0:
        raise ValueError(
            f'sinusoidal_position_1d needs an even dim, got dim={dim}')
    return _cached_1d(int(length), int(dim), *_normalise(device, dtype))


def sinusoidal_position_2d(height: int,
                           width: int,
                           dim: int,
                           device: Optional[torch.device] = None,
                           dtype: Optional[torch.dtype] = None) -> Tensor:
    """Sinusoidal encoding of an ``height x width`` grid (the pixels).

    The first ``dim / 2`` channels encode the column x and the last
    ``dim / 2`` the row y, each with the 1-D formula at ``dim / 2`` channels.
    Rows of the result follow the row-major flattening of a (H, W) map,
    ``index = y * W + x``, i.e. ``feat.flatten(2).transpose(1, 2)``.

    Args:
        height (int): Map height H.
        width (int): Map width W.
        dim (int): Number of channels C; must be divisible by 4.
        device (torch.device, optional): Defaults to None (CPU).
        dtype (torch.dtype, optional): Defaults to None (float32).

    Returns:
        Tensor: (H * W, C), cached; do not modify in place.
    """
    if dim % 4 != 0:
        raise ValueError(
            f'sinusoidal_position_2d needs dim divisible by 4, got dim={dim}')
    return _cached_2d(
        int(height), int(width), int(dim), *_normalise(device, dtype))
