"""Resize into the network input, recording the geometry to undo it."""
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmrefseg.registry import TRANSFORMS

__all__ = ['CLIP_MEAN_BGR', 'LetterboxResize', 'ReferResize']

# The CLIP normalisation mean, BGR order, 0-255: the letterbox's padding then
# normalises to zero.
CLIP_MEAN_BGR = (0.40821073 * 255, 0.4578275 * 255, 0.48145466 * 255)

_INTERPOLATIONS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'lanczos': cv2.INTER_LANCZOS4,
}


@TRANSFORMS.register_module()
class LetterboxResize(BaseTransform):
    """Resize keeping the aspect ratio, centre and pad to a fixed size.

    The geometry is the CRIS reference's: scale ``s = min(H / h0, W / w0)``,
    content of the (possibly fractional) size ``(h0 * s, w0 * s)`` centred
    with the fractional offsets ``((H - h0 * s) / 2, (W - w0 * s) / 2)``, and
    the affine that maps the image corners onto that box applied with
    ``cv2.warpAffine``, so that converted CRIS checkpoints see exactly the
    input they were trained on. ``mmrefseg.utils.restore_original_size``
    inverts it.

    The ground truth, if loaded (``gt_seg_map``, {0, 1}), is warped like the
    reference: as 0/255 uint8 with bilinear interpolation and zero padding,
    then divided by 255, giving a soft float32 mask in [0, 1].

    Required keys: ``img``; optional ``gt_seg_map`` (and ``seg_fields``).

    Modified keys: ``img``, ``img_shape``, the maps of ``seg_fields``.

    Added keys: ``resized_shape`` (h, w of the content, may be fractional),
    ``pad_offset`` (top, left, may be fractional), ``scale_factor``
    (w_scale, h_scale), ``keep_ratio``.

    Args:
        scale (int | tuple[int, int]): Output size (w, h), mmcv's order.
            Defaults to (416, 416).
        pad_val (float | sequence[float]): Padding colour of the image, in its
            channel order (BGR, 0-255). Defaults to the CLIP mean colour.
        interpolation (str): Image interpolation, one of 'nearest',
            'bilinear', 'bicubic', 'lanczos'. Defaults to 'bicubic'.
    """

    keep_ratio = True

    def __init__(self,
                 scale: Union[int, Tuple[int, int]] = (416, 416),
                 pad_val: Union[float, Sequence[float]] = CLIP_MEAN_BGR,
                 interpolation: str = 'bicubic') -> None:
        if isinstance(scale, int):
            scale = (scale, scale)
        if len(scale) != 2 or min(scale) <= 0:
            raise ValueError(f'scale should be a positive (w, h), got '
                             f'{scale!r}.')
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'Unknown interpolation {interpolation!r}; '
                             f'choose from {sorted(_INTERPOLATIONS)}.')
        self.scale = (int(scale[0]), int(scale[1]))
        self.pad_val = pad_val
        self.interpolation = interpolation

    def geometry(self, ori_h: int, ori_w: int) -> dict:
        """The map from an (ori_h, ori_w) image into the network input.

        Returns:
            dict: ``scale_factor`` (w, h), ``pad_offset`` (top, left),
            ``resized_shape`` (h, w) and the 2x3 affine ``matrix``.
        """
        out_w, out_h = self.scale
        if self.keep_ratio:
            scale_w = scale_h = min(out_h / ori_h, out_w / ori_w)
        else:
            scale_w, scale_h = out_w / ori_w, out_h / ori_h
        new_h, new_w = ori_h * scale_h, ori_w * scale_w
        top, left = (out_h - new_h) / 2, (out_w - new_w) / 2
        # The affine that sends the corners (0, 0), (w0, 0), (0, h0) onto the
        # content box, solved from float32 corners as the reference does, so
        # that the warp matches it bit for bit.
        corners = np.array([[0, 0], [ori_w, 0], [0, ori_h]], np.float32)
        box = np.array([[left, top], [left + new_w, top], [left, top + new_h]],
                       np.float32)
        return dict(
            scale_factor=(scale_w, scale_h),
            pad_offset=(top, left),
            resized_shape=(new_h, new_w),
            matrix=cv2.getAffineTransform(corners, box))

    def _warp(self, array: np.ndarray, matrix: np.ndarray, flags: int,
              pad_val) -> np.ndarray:
        out_w, out_h = self.scale
        if self.keep_ratio:
            border = dict(
                borderMode=cv2.BORDER_CONSTANT, borderValue=_scalar(pad_val))
        else:
            # A plain resize has no padding: edge taps repeat the edge.
            border = dict(borderMode=cv2.BORDER_REPLICATE)
        warped = cv2.warpAffine(
            array, matrix, (out_w, out_h), flags=flags, **border)
        if array.ndim == 3 and warped.ndim == 2:
            warped = warped[..., None]
        return warped

    def _warp_mask(self, mask: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        if mask.dtype == np.uint8 or mask.dtype == bool:
            # As the reference: warp a 0/255 image, then back to [0, 1].
            mask_255 = (mask > 0).astype(np.uint8) * 255
            warped = self._warp(mask_255, matrix, cv2.INTER_LINEAR, 0)
            return warped.astype(np.float32) / 255.
        warped = self._warp(
            mask.astype(np.float32), matrix, cv2.INTER_LINEAR, 0)
        return np.clip(warped, 0., 1.)

    def transform(self, results: dict) -> dict:
        """Resize ``img`` and the maps of ``seg_fields``.

        Args:
            results (dict): The result dict, with ``img`` (H, W, C) or (H, W).

        Returns:
            dict: The result dict with the keys above updated.
        """
        img = results['img']
        ori_h, ori_w = img.shape[:2]
        geometry = self.geometry(ori_h, ori_w)
        matrix = geometry.pop('matrix')
        results['img'] = self._warp(img, matrix,
                                    _INTERPOLATIONS[self.interpolation],
                                    self.pad_val)
        for key in _seg_fields(results):
            results[key] = self._warp_mask(results[key], matrix)
        results['img_shape'] = results['img'].shape[:2]
        results['keep_ratio'] = self.keep_ratio
        results.update(geometry)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'pad_val={self.pad_val}, '
                f'interpolation={self.interpolation!r})')


@TRANSFORMS.register_module()
class ReferResize(LetterboxResize):
    """Resize to a fixed size without keeping the aspect ratio.

    Same bookkeeping and conventions as :class:`LetterboxResize`, with
    ``pad_offset == (0, 0)`` and ``resized_shape == img_shape``, so that one
    post-processing path (``restore_original_size``) undoes both. The
    ground truth becomes a soft float32 mask at ``img_shape`` as there.
    Sampling follows the letterbox's corner-aligned affine, which sits
    ``(s - 1) / 2`` input pixels off ``cv2.resize``'s half-pixel grid; the
    inverse accounts for it exactly.

    Args:
        scale (int | tuple[int, int]): Output size (w, h).
            Defaults to (480, 480).
        interpolation (str): Image interpolation. Defaults to 'bilinear'.
    """

    keep_ratio = False

    def __init__(self,
                 scale: Union[int, Tuple[int, int]] = (480, 480),
                 interpolation: str = 'bilinear') -> None:
        super().__init__(scale=scale, pad_val=0, interpolation=interpolation)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'interpolation={self.interpolation!r})')


def _seg_fields(results: dict):
    fields = list(results.get('seg_fields', []))
    if 'gt_seg_map' in results and 'gt_seg_map' not in fields:
        fields.append('gt_seg_map')
    return [key for key in fields if key in results]


def _scalar(pad_val) -> Tuple[float, ...]:
    if isinstance(pad_val, (int, float)):
        return (float(pad_val), ) * 4
    return tuple(float(v) for v in pad_val)
