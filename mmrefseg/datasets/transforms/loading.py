"""Load a referring sample's image and its object's mask."""
from typing import List, Optional, Union

import numpy as np
from mmcv.transforms import BaseTransform, LoadImageFromFile
from pycocotools import mask as mask_utils

from mmrefseg.registry import TRANSFORMS

__all__ = ['LoadReferImage', 'LoadReferMask', 'decode_segmentation']


@TRANSFORMS.register_module()
class LoadReferImage(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` whose failures always name the file.

    mmcv names a missing file but not an empty or truncated one (OpenCV's
    ``!buf.empty()`` assertion), and its check of an undecodable image is an
    ``assert``. Here a missing file raises ``FileNotFoundError`` and any
    other read or decode failure ``OSError``, both naming ``img_path``.
    Arguments, keys and ``ignore_empty`` are those of
    :class:`mmcv.transforms.LoadImageFromFile`.
    """

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``img_path`` into ``img`` (H, W, 3) BGR uint8.

        Args:
            results (dict): The result dict with ``img_path``.

        Returns:
            dict | None: With ``img``, ``img_shape``, ``ori_shape``; None
            for an unreadable file if ``ignore_empty``.
        """
        path = results['img_path']
        try:
            return super().transform(results)
        except FileNotFoundError as e:
            raise FileNotFoundError(f'Image not found: {path}') from e
        except Exception as e:
            raise OSError(f'Cannot read image {path}: '
                          f'{str(e).strip() or type(e).__name__}') from e


def decode_segmentation(segmentation: Union[List, dict], height: int,
                        width: int) -> np.ndarray:
    """Decode COCO polygons or RLE into one binary mask.

    Args:
        segmentation (list | dict): A list of polygons (each a flat
            ``[x1, y1, x2, y2, ...]``), an uncompressed RLE
            (``counts`` a list) or a compressed RLE (``counts`` a str/bytes).
        height (int): Image height.
        width (int): Image width.

    Returns:
        np.ndarray: (height, width) uint8 in {0, 1}; overlapping parts merge.
    """
    if isinstance(segmentation, list):
        # Fewer than 3 points is no area; pycocotools would also read a
        # 4-number first polygon as a box.
        polygons = [[float(v) for v in polygon] for polygon in segmentation
                    if len(polygon) >= 6]
        if not polygons:
            return np.zeros((height, width), np.uint8)
        rle = mask_utils.frPyObjects(polygons, height, width)
    elif isinstance(segmentation, dict) and 'counts' in segmentation:
        if isinstance(segmentation['counts'], list):
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:
            rle = segmentation
    else:
        raise TypeError('A segmentation should be a list of polygons or an '
                        f'RLE dict, got {type(segmentation).__name__}.')
    mask = mask_utils.decode(rle)
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    return (mask > 0).astype(np.uint8)


@TRANSFORMS.register_module()
class LoadReferMask(BaseTransform):
    """Decode the referred object's mask at the original image size.

    The mask is always decoded at (``height``, ``width``) of
    ``instances.json``; where the transform sits in the pipeline decides
    what happens to it next. Training pipelines load it right after the
    image, so that ``LetterboxResize`` warps both with one geometry (a soft
    float mask at ``img_shape``, as the CRIS reference); test pipelines load
    it after the resize, so it stays uint8 {0, 1} at ``ori_shape`` for the
    metric.

    A gRefCOCO item (``GReferDataset``) holds ``segmentations``, one per
    target, instead of ``segmentation``: the mask is their union, and the
    empty mask of a no-target item (``no_target`` True, no segmentations) is
    its valid ground truth.

    Required keys: ``segmentation`` or ``segmentations``, ``height``,
    ``width``; ``ref_id``, ``ann_id``, ``img_path`` for messages;
    ``ori_shape`` if the image is loaded (checked against the annotation's
    size); ``no_target`` if present.

    Added keys: ``gt_seg_map`` (height, width) uint8 {0, 1}, ``seg_fields``.

    Args:
        allow_empty (bool): Accept an empty mask for an item that has a
            target. Defaults to False: such a mask is an annotation error in
            RefCOCO/+/g and gRefCOCO and would train towards "no object"
            silently. No-target items are always accepted.
    """

    def __init__(self, allow_empty: bool = False) -> None:
        self.allow_empty = allow_empty

    def transform(self, results: dict) -> dict:
        """Decode ``segmentation`` into ``gt_seg_map``.

        Args:
            results (dict): The result dict.

        Returns:
            dict: The result dict with ``gt_seg_map`` added.
        """
        height, width = int(results['height']), int(results['width'])
        where = (f'ref {results.get("ref_id")} (annotation '
                 f'{results.get("ann_id")}, image {results.get("img_path")})')
        ori_shape = results.get('ori_shape')
        if ori_shape is not None and tuple(ori_shape[:2]) != (height, width):
            raise ValueError(
                f'The image of {where} is {tuple(ori_shape[:2])} (h, w) but '
                f'instances.json says {(height, width)}: the mask would not '
                'line up with it.')
        no_target = bool(results.get('no_target', False))
        if 'segmentations' in results:
            segmentations = results['segmentations']
        else:
            segmentations = [results['segmentation']]
        if no_target and segmentations:
            raise ValueError(f'{where} is marked no-target but has '
                             f'{len(segmentations)} segmentation(s).')
        mask = np.zeros((height, width), np.uint8)
        try:
            for segmentation in segmentations:
                mask |= decode_segmentation(segmentation, height, width)
        except Exception as e:
            raise ValueError(
                f'Cannot decode the segmentation of {where}: {e}') from e
        if not (self.allow_empty or no_target) and not mask.any():
            raise ValueError(f'The mask of {where} is empty.')
        results['gt_seg_map'] = mask
        seg_fields = results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in seg_fields:
            seg_fields.append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(allow_empty={self.allow_empty})'
