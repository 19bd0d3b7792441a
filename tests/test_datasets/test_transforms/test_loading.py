import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mmrefseg.datasets.transforms import LoadReferMask, decode_segmentation


def _results(segmentation, height=40, width=60, **extra):
    return dict(
        segmentation=segmentation,
        height=height,
        width=width,
        ref_id=7,
        ann_id=70,
        img_path='img/a.jpg',
        **extra)


def _uncompressed_rle(mask):
    """COCO's uncompressed RLE: run lengths in column-major order."""
    flat = mask.flatten(order='F')
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel == value:
            run += 1
        else:
            counts.append(run)
            value, run = pixel, 1
    counts.append(run)
    return dict(size=list(mask.shape), counts=counts)


def test_polygon_rectangle():
    square = [[10, 5, 30, 5, 30, 25, 10, 25]]
    mask = LoadReferMask()(_results(square))['gt_seg_map']
    assert mask.shape == (40, 60) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 1}
    ys, xs = np.nonzero(mask)
    # pycocotools' rasterisation of a 20x20 box.
    assert abs(len(ys) - 400) <= 41
    assert 9 <= xs.min() <= 11 and 29 <= xs.max() <= 30
    assert 4 <= ys.min() <= 6 and 24 <= ys.max() <= 25


def test_polygons_merge_where_they_overlap():
    first = [10, 5, 30, 5, 30, 25, 10, 25]
    second = [20, 15, 40, 15, 40, 35, 20, 35]
    union = decode_segmentation([first, second], 40, 60)
    alone = [decode_segmentation([p], 40, 60) for p in (first, second)]
    assert union.max() == 1
    np.testing.assert_array_equal(union, np.maximum(*alone))
    # Degenerate polygons (< 3 points) add nothing.
    np.testing.assert_array_equal(
        decode_segmentation([first, [1, 1, 2, 2]], 40, 60), alone[0])


def test_rle_uncompressed_and_compressed():
    rng = np.random.default_rng(0)
    mask = (rng.random((40, 60)) > 0.7).astype(np.uint8)
    uncompressed = _uncompressed_rle(mask)
    np.testing.assert_array_equal(
        LoadReferMask()(_results(uncompressed))['gt_seg_map'], mask)
    compressed = mask_utils.encode(np.asfortranarray(mask))
    assert isinstance(compressed['counts'], bytes)
    np.testing.assert_array_equal(
        LoadReferMask()(_results(compressed))['gt_seg_map'], mask)
    # As stored in a json file: counts as str.
    as_str = dict(compressed, counts=compressed['counts'].decode('ascii'))
    np.testing.assert_array_equal(
        LoadReferMask()(_results(as_str))['gt_seg_map'], mask)


def test_seg_fields_recorded():
    results = LoadReferMask()(_results([[10, 5, 30, 5, 30, 25]]))
    assert results['seg_fields'] == ['gt_seg_map']


def test_empty_mask_names_ref_and_annotation():
    flat_line = [[10, 10, 20, 10, 30, 10]]
    with pytest.raises(ValueError) as error:
        LoadReferMask()(_results(flat_line))
    assert 'ref 7 (annotation 70, image img/a.jpg)' in str(error.value)
    assert 'empty' in str(error.value)
    mask = LoadReferMask(allow_empty=True)(_results(flat_line))['gt_seg_map']
    assert mask.shape == (40, 60) and mask.sum() == 0


def test_size_mismatch_with_image():
    with pytest.raises(ValueError, match=r'ref 7 .*\(30, 60\).*\(40, 60\)'):
        LoadReferMask()(_results([[10, 5, 30, 5, 30, 25]], ori_shape=(30, 60)))


def test_malformed_segmentation_names_ref():
    with pytest.raises(ValueError, match='ref 7 '):
        LoadReferMask()(_results('not a segmentation'))
