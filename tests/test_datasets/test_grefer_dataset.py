"""GReferDataset: gRefCOCO's multi-target and no-target refs."""
import json
import os
import os.path as osp
import pickle

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mmrefseg.datasets import GReferDataset, ReferDataset
from mmrefseg.datasets.transforms import LoadReferMask, decode_segmentation
from tests.helpers import make_grefer_data

SPLITS = ('train', 'val', 'testA', 'testB')


def _refs(root):
    with open(osp.join(root, 'grefcoco', 'grefs(unc).json')) as f:
        return json.load(f)


def _rewrite_refs(root, edit):
    refs = _refs(root)
    edit(refs)
    with open(osp.join(root, 'grefcoco', 'grefs(unc).json'), 'w') as f:
        json.dump(refs, f)
    return refs


def _anns(root):
    with open(osp.join(root, 'grefcoco', 'instances.json')) as f:
        return {ann['id']: ann for ann in json.load(f)['annotations']}


@pytest.mark.parametrize('split', SPLITS)
def test_counts_and_no_target_flags(grefer_root, split):
    refs = [r for r in _refs(grefer_root) if r['split'] == split]
    train = GReferDataset(data_root=grefer_root, split=split)
    test = GReferDataset(data_root=grefer_root, split=split, test_mode=True)
    assert len(train) == len(refs)
    assert len(test) == sum(len(r['sentences']) for r in refs)
    by_ref = {r['ref_id']: r for r in refs}
    for dataset in (train, test):
        for index in range(len(dataset)):
            info = dataset.get_data_info(index)
            ref = by_ref[info['ref_id']]
            assert info['ann_id'] == ref['ann_id']
            assert info['category_id'] == ref['category_id']
            assert info['no_target'] is (ref['ann_id'] == [-1])
            assert len(info['segmentations']) == (
                0 if info['no_target'] else len(ref['ann_id']))
            assert 'segmentation' not in info
    assert train.metainfo['dataset_name'] == 'grefcoco'
    assert train.metainfo['split_by'] == 'unc'


def test_generated_set_has_every_kind(grefer_root):
    refs = _refs(grefer_root)
    kinds = {
        'none' if r['ann_id'] == [-1] else
        ('multi' if len(r['ann_id']) > 1 else 'single')
        for r in refs
    }
    assert kinds == {'none', 'multi', 'single'}


def test_masks_union_and_empty(grefer_root):
    dataset = GReferDataset(
        data_root=grefer_root,
        split='train',
        pipeline=[dict(type='LoadReferMask')])
    anns = _anns(grefer_root)
    seen = set()
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        mask = dataset[index]['gt_seg_map']
        assert mask.shape == (info['height'], info['width'])
        expected = np.zeros_like(mask)
        if not info['no_target']:
            for ann_id in info['ann_id']:
                expected |= decode_segmentation(anns[ann_id]['segmentation'],
                                                info['height'], info['width'])
        assert np.array_equal(mask, expected)
        if info['no_target']:
            assert not mask.any()
            seen.add('none')
        elif len(info['ann_id']) > 1:
            # The union holds more than any one of its objects.
            one = decode_segmentation(anns[info['ann_id'][0]]['segmentation'],
                                      info['height'], info['width'])
            assert mask.sum() > one.sum()
            seen.add('multi')
    assert seen == {'none', 'multi'}


def test_pipeline_packs_no_target_and_empty_mask(grefer_root):
    init_default_scope('mmrefseg')
    train_pipeline = [
        dict(type='LoadReferImage'),
        dict(type='LoadReferMask'),
        dict(type='SampleSentence'),
        dict(type='LetterboxResize', scale=(64, 64)),
        dict(type='PackReferInputs'),
    ]
    dataset = GReferDataset(
        data_root=grefer_root, split='train', pipeline=train_pipeline)
    flags = set()
    for index in range(len(dataset)):
        sample = dataset[index]['data_samples']
        no_target = sample.metainfo['no_target']
        gt = sample.gt_sem_seg.data
        assert gt.shape == (1, 64, 64)
        assert (gt.max() == 0) == no_target
        flags.add(no_target)
    assert flags == {True, False}


def test_single_int_ann_id_and_pickle(tmp_path):
    root = make_grefer_data(tmp_path, num_images=6)
    refs = _refs(root)
    single = next(r for r in refs if len(r['ann_id']) == 1 and
                  r['ann_id'] != [-1])
    single['ann_id'], single['category_id'] = single['ann_id'][0], \
        single['category_id'][0]
    os.remove(osp.join(root, 'grefcoco', 'grefs(unc).json'))
    with open(osp.join(root, 'grefcoco', 'grefs(unc).p'), 'wb') as f:
        pickle.dump(refs, f)
    dataset = GReferDataset(data_root=root, split=single['split'])
    info = next(
        dataset.get_data_info(i) for i in range(len(dataset))
        if dataset.get_data_info(i)['ref_id'] == single['ref_id'])
    assert info['ann_id'] == [single['ann_id']]
    assert info['no_target'] is False and len(info['segmentations']) == 1


def test_own_folder_name(tmp_path):
    root = make_grefer_data(tmp_path, num_images=6)
    os.rename(osp.join(root, 'grefcoco'), osp.join(root, 'my_grefs'))
    dataset = GReferDataset(dataset='my_grefs', split='val', data_root=root)
    assert dataset.metainfo['split_by'] == 'unc' and len(dataset) > 0
    with pytest.raises(ValueError, match=r"splits present: \['testA', "):
        GReferDataset(dataset='my_grefs', split='test', data_root=root)


def test_plain_dataset_points_to_grefs_file(grefer_root):
    with pytest.raises(FileNotFoundError, match=r"grefs\(unc\)\.json"):
        ReferDataset(dataset='grefcoco', split_by='unc',
                     data_root=grefer_root)


# --- bad input --------------------------------------------------------------
def _first_multi(refs):
    return next(r for r in refs if len(r['ann_id']) > 1)


@pytest.mark.parametrize('edit,message', [
    (lambda ref: ref['ann_id'].append(424242), 'annotation 424242'),
    (lambda ref: ref['ann_id'].append(-1), 'mixes -1'),
    (lambda ref: ref.update(ann_id=[]), 'empty ann_id'),
])
def test_bad_ann_ids_name_the_ref(tmp_path, edit, message):
    root = make_grefer_data(tmp_path, num_images=6)
    ref = {}

    def change(refs):
        ref.update(_first_multi(refs))
        edit(_first_multi(refs))

    _rewrite_refs(root, change)
    with pytest.raises(ValueError) as error:
        GReferDataset(data_root=root, split=ref['split'])
    assert f'Ref {ref["ref_id"]} ' in str(error.value)
    assert message in str(error.value)


def test_load_mask_checks():
    square = [[10, 5, 30, 5, 30, 25, 10, 25]]
    other = [[40, 5, 50, 5, 50, 15, 40, 15]]
    base = dict(height=40, width=60, ref_id=3, ann_id=[1, 2], img_path='a')
    union = LoadReferMask()(dict(base, segmentations=[square, other]))
    first = decode_segmentation(square, 40, 60)
    second = decode_segmentation(other, 40, 60)
    assert np.array_equal(union['gt_seg_map'], first | second)
    empty = LoadReferMask()(dict(base, segmentations=[], no_target=True))
    assert empty['gt_seg_map'].shape == (40, 60)
    assert not empty['gt_seg_map'].any()
    with pytest.raises(ValueError, match='ref 3 .* is empty'):
        LoadReferMask()(dict(base, segmentations=[]))
    with pytest.raises(ValueError, match='marked no-target'):
        LoadReferMask()(dict(base, segmentations=[square], no_target=True))
