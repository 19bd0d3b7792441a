"""Matrix outputs whose rows start on cache-line boundaries."""
import torch
from torch import Tensor

__all__ = ['row_aligned_empty']

#: Row strides are rounded up to a multiple of this many bytes.
ROW_ALIGNMENT_BYTES = 64


def row_aligned_empty(*shape: int, like: Tensor) -> Tensor:
    """An uninitialised ``shape`` tensor whose last-dimension rows start
    64 bytes apart or a multiple of that: a view into a buffer whose rows
    are padded.

    A matrix product writing rows of e.g. 2916 or 676 floats (54 x 54 and
    26 x 26 maps) stores every vector across two cache lines; MKL ran such
    products up to 2x slower (a (2304 x 512) @ (512 x 2916) product: 78 ms
    into a contiguous output, 40 ms into this one, on 2 AVX2 cores). Pass the
    result as ``out=`` of ``torch.mm`` / ``torch.bmm``.

    Args:
        *shape (int): The shape of the returned view.
        like (Tensor): Gives the dtype and device.

    Returns:
        Tensor: ``shape``, rows ``shape[-1]`` long with an aligned stride;
        contiguous under ``torch.compile``, where inductor plans the buffers
        (and dynamo cannot trace ``out=`` into a view).
    """
    if torch.compiler.is_compiling():
        return like.new_empty(*shape)
    per_line = max(ROW_ALIGNMENT_BYTES // like.element_size(), 1)
    padded = -(-shape[-1] // per_line) * per_line
    buffer = like.new_empty(*shape[:-1], padded)
    return buffer.narrow(-1, 0, shape[-1])
