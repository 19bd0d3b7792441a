import json
import logging
import os
import os.path as osp
import pickle
import shutil

import pytest
from mmengine.logging import MMLogger
from PIL import Image

from mmrefseg.datasets import ReferDataset
from tests.helpers import make_refer_data

SPLITS = [
    ('refcoco', 'unc', ('train', 'val', 'testA', 'testB')),
    ('refcoco+', 'unc', ('train', 'val', 'testA', 'testB')),
    ('refcocog', 'umd', ('train', 'val', 'test')),
    ('refcocog', 'google', ('train', 'val')),
]
DATA_INFO_KEYS = {
    'img_path', 'image_id', 'ref_id', 'ann_id', 'category_id', 'height',
    'width', 'segmentation', 'sentences'
}


def _refs(root, dataset, split_by):
    with open(osp.join(root, dataset, f'refs({split_by}).p'), 'rb') as f:
        return pickle.load(f)


def _rewrite_refs(root, dataset, split_by, edit):
    refs = _refs(root, dataset, split_by)
    edited = edit(refs)
    if isinstance(edited, list):
        refs = edited
    with open(osp.join(root, dataset, f'refs({split_by}).p'), 'wb') as f:
        pickle.dump(refs, f)
    return refs


def _rewrite_instances(root, dataset, edit):
    path = osp.join(root, dataset, 'instances.json')
    with open(path) as f:
        instances = json.load(f)
    edit(instances)
    with open(path, 'w') as f:
        json.dump(instances, f)


@pytest.mark.parametrize('dataset,split_by,splits', SPLITS)
def test_counts_per_split(refer_root, dataset, split_by, splits):
    refs = _refs(refer_root, dataset, split_by)
    assert {ref['split'] for ref in refs} == set(splits)
    for split in splits:
        split_refs = [ref for ref in refs if ref['split'] == split]
        train = ReferDataset(
            dataset=dataset,
            split_by=split_by,
            split=split,
            data_root=refer_root)
        test = ReferDataset(
            dataset=dataset,
            split_by=split_by,
            split=split,
            data_root=refer_root,
            test_mode=True)
        # Training: one item per referred object; testing: per sentence.
        assert len(train) == len(split_refs)
        assert len(test) == sum(len(ref['sentences']) for ref in split_refs)
        assert sorted(train[i]['ref_id'] for i in range(len(train))) == \
            sorted(ref['ref_id'] for ref in split_refs)
        assert train.metainfo['dataset_name'] == dataset
        assert train.metainfo['split_by'] == split_by
        assert train.metainfo['split'] == split


def test_train_item_fields(refer_root):
    dataset = ReferDataset(data_root=refer_root, split='train')
    refs = {ref['ref_id']: ref for ref in _refs(refer_root, 'refcoco', 'unc')}
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        assert DATA_INFO_KEYS <= set(info)
        ref = refs[info['ref_id']]
        assert info['ann_id'] == ref['ann_id']
        assert info['image_id'] == ref['image_id']
        assert info['category_id'] == ref['category_id']
        assert info['sentences'] == [
            dict(sent_id=s['sent_id'], sent=s['sent'])
            for s in ref['sentences']
        ]
        assert 'text' not in info
        # The image named by instances.json exists and has its size.
        assert info['img_path'] == osp.join(
            refer_root, 'images', 'train2014',
            f'COCO_train2014_{info["image_id"]:012d}.jpg')
        with Image.open(info['img_path']) as image:
            assert image.size == (info['width'], info['height'])
        assert isinstance(info['segmentation'], list)


def test_test_items_are_sentences(refer_root):
    dataset = ReferDataset(data_root=refer_root, split='val', test_mode=True)
    split_refs = [
        ref for ref in _refs(refer_root, 'refcoco', 'unc')
        if ref['split'] == 'val'
    ]
    expected = {
        sent['sent_id']: (ref['ref_id'], sent['sent'])
        for ref in split_refs
        for sent in ref['sentences']
    }
    seen = {}
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        assert DATA_INFO_KEYS | {'text', 'sent_id'} <= set(info)
        assert info['sentences'] == [
            dict(sent_id=info['sent_id'], sent=info['text'])
        ]
        seen[info['sent_id']] = (info['ref_id'], info['text'])
    assert seen == expected


def test_image_taken_from_instances_not_refs(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)

    def rename(refs):
        for ref in refs:
            ref['file_name'] = 'does_not_exist.jpg'

    _rewrite_refs(root, 'refcoco', 'unc', rename)
    dataset = ReferDataset(data_root=root, split='train')
    for index in range(len(dataset)):
        assert osp.isfile(dataset.get_data_info(index)['img_path'])


def test_unreferred_annotations_are_not_read(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    _rewrite_instances(
        root, 'refcoco', lambda inst: inst['annotations'].append(
            dict(id=987654, image_id=1, category_id=1, segmentation=[])))
    assert len(ReferDataset(data_root=root, split='train')) > 0


def test_lazy_init_defers_reading(tmp_path):
    dataset = ReferDataset(data_root=str(tmp_path), lazy_init=True)
    with pytest.raises(FileNotFoundError):
        dataset.full_init()


# --- bad input --------------------------------------------------------------
@pytest.mark.parametrize('kwargs,message', [
    (dict(dataset='refcoco', split_by='umd'), "'umd'"),
    (dict(dataset='refcoco+', split_by='google'), "'google'"),
    (dict(dataset='refcocog', split_by='umd', split='testA'), "'testA'"),
    (dict(dataset='refcoco', split_by='unc', split='test'), "'test'"),
])
def test_unknown_names(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReferDataset(data_root='nowhere', **kwargs)


def test_split_absent_from_refs_file(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    _rewrite_refs(root, 'refcoco', 'unc',
                  lambda refs: [r for r in refs if r['split'] != 'testB'])
    with pytest.raises(ValueError) as error:
        ReferDataset(data_root=root, split='testB')
    message = str(error.value)
    assert "'testB'" in message and 'refs(unc).p' in message
    assert "splits present: ['testA', 'train', 'val']" in message


def test_missing_refs_file_lists_present_ones(refer_root):
    # refcoco's google split is known but was not generated.
    with pytest.raises(FileNotFoundError) as error:
        ReferDataset(data_root=refer_root, split_by='google')
    message = str(error.value)
    assert osp.join(refer_root, 'refcoco', 'refs(google).p') in message
    assert "present in" in message and "['refs(unc).p']" in message


def test_missing_instances(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    os.remove(osp.join(root, 'refcocog', 'instances.json'))
    with pytest.raises(FileNotFoundError) as error:
        ReferDataset(data_root=root, dataset='refcocog', split_by='umd')
    message = str(error.value)
    assert osp.join(root, 'refcocog', 'instances.json') in message
    assert "['refs(google).p', 'refs(umd).p']" in message


def test_missing_dataset_folder(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    shutil.rmtree(osp.join(root, 'refcoco+'))
    with pytest.raises(FileNotFoundError) as error:
        ReferDataset(data_root=root, dataset='refcoco+')
    message = str(error.value)
    assert osp.join(root, 'refcoco+') in message
    assert "'refcoco'" in message and "'refcocog'" in message


@pytest.mark.parametrize('name', ['refs(unc).p', 'instances.json'])
def test_unreadable_annotation_file(tmp_path, name):
    root = make_refer_data(tmp_path, num_images=6)
    with open(osp.join(root, 'refcoco', name), 'wb') as f:
        f.write(b'\x00not an annotation file')
    with pytest.raises(
            ValueError, match=name.replace('(', r'\(').replace(')', r'\)')):
        ReferDataset(data_root=root)


def test_ref_without_sentences_is_skipped_and_logged(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    emptied = []

    def drop_sentences(refs):
        train = [r for r in refs if r['split'] == 'train']
        for ref in train[:2]:
            ref['sentences'], ref['sent_ids'] = [], []
            emptied.append(ref['ref_id'])

    refs = _rewrite_refs(root, 'refcoco', 'unc', drop_sentences)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        dataset = ReferDataset(data_root=root, split='train')
    finally:
        logger.removeHandler(handler)
    num_train = sum(r['split'] == 'train' for r in refs)
    assert len(dataset) == num_train - 2
    warnings = [r.getMessage() for r in records if r.levelno >= 30]
    assert len(warnings) == 1
    assert f'ref_id(s) {emptied}' in warnings[0]


def test_ref_to_missing_annotation(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    refs = _rewrite_refs(root, 'refcoco', 'unc',
                         lambda refs: refs[0].update(ann_id=424242))
    split = refs[0]['split']
    with pytest.raises(ValueError) as error:
        ReferDataset(data_root=root, split=split)
    message = str(error.value)
    assert f'Ref {refs[0]["ref_id"]} ' in message and '424242' in message
    assert 'instances.json' in message


def test_ref_to_missing_image(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    refs = _refs(root, 'refcoco', 'unc')
    image_id = refs[0]['image_id']
    _rewrite_instances(
        root, 'refcoco', lambda inst: inst.update(images=[
            image for image in inst['images'] if image['id'] != image_id
        ]))
    with pytest.raises(ValueError, match=f'image {image_id},'):
        ReferDataset(data_root=root, split=refs[0]['split'])


def test_ref_lacking_a_field(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    refs = _rewrite_refs(root, 'refcoco', 'unc',
                         lambda refs: refs[0].pop('category_id'))
    with pytest.raises(ValueError) as error:
        ReferDataset(data_root=root, split=refs[0]['split'])
    assert f"ref {refs[0]['ref_id']} lacks the field 'category_id'" in str(
        error.value)


def test_annotation_with_empty_segmentation(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    ref = _refs(root, 'refcoco', 'unc')[0]

    def empty(instances):
        for ann in instances['annotations']:
            if ann['id'] == ref['ann_id']:
                ann['segmentation'] = []

    _rewrite_instances(root, 'refcoco', empty)
    with pytest.raises(ValueError) as error:
        ReferDataset(data_root=root, split=ref['split'])
    message = str(error.value)
    assert f'Annotation {ref["ann_id"]} (ref {ref["ref_id"]})' in message
    assert 'empty segmentation' in message


# --- a refer-format folder of one's own ------------------------------------
def _copy_as(root, source, name, split_by='unc'):
    """Copy the annotation folder ``source`` to ``name`` (images shared)."""
    shutil.copytree(osp.join(root, source), osp.join(root, name))
    return _refs(root, name, split_by)


def test_own_folder_loads_under_its_name(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    refs = _copy_as(root, 'refcoco', 'my_refs')
    for split_by in ('unc', None):  # None: the folder's only refs file
        for split in ('train', 'val'):
            dataset = ReferDataset(
                dataset='my_refs',
                split_by=split_by,
                split=split,
                data_root=root,
                test_mode=True)
            split_refs = [r for r in refs if r['split'] == split]
            assert len(dataset) == sum(
                len(r['sentences']) for r in split_refs)
            assert dataset.metainfo['dataset_name'] == 'my_refs'
            assert dataset.metainfo['split_by'] == 'unc'
            assert dataset.get_data_info(0)['no_target'] is False


def test_own_split_by_and_splits(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    refs = _copy_as(root, 'refcoco', 'shapesref')
    for i, ref in enumerate(refs):
        ref['split'] = f'fold{i % 3}'
    with open(osp.join(root, 'shapesref', 'refs(mine).p'), 'wb') as f:
        pickle.dump(refs, f)
    dataset = ReferDataset(
        dataset='shapesref', split_by='mine', split='fold2', data_root=root)
    assert sorted(dataset.get_data_info(i)['ref_id']
                  for i in range(len(dataset))) == [
                      r['ref_id'] for r in refs if r['split'] == 'fold2'
                  ]
    # An unknown split lists the splits of that refs file.
    with pytest.raises(ValueError) as error:
        ReferDataset(
            dataset='shapesref', split_by='mine', split='val',
            data_root=root)
    assert "splits present: ['fold0', 'fold1', 'fold2']" in str(error.value)
    # An unknown split_by lists the refs files and split_by values present.
    with pytest.raises(FileNotFoundError) as error:
        ReferDataset(dataset='shapesref', split_by='umd', data_root=root)
    message = str(error.value)
    assert osp.join(root, 'shapesref', 'refs(umd).p') in message
    assert "split_by values present: ['mine', 'unc']" in message
    # Two refs files: which one is not guessed.
    with pytest.raises(ValueError, match=r"present: \['mine', 'unc'\]"):
        ReferDataset(dataset='shapesref', data_root=root)


def test_own_folder_with_json_refs(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    refs = _copy_as(root, 'refcocog', 'json_refs', split_by='umd')
    folder = osp.join(root, 'json_refs')
    for name in os.listdir(folder):
        if name.startswith('refs('):
            os.remove(osp.join(folder, name))
    with open(osp.join(folder, 'refs(umd).json'), 'w') as f:
        json.dump(refs, f)
    dataset = ReferDataset(dataset='json_refs', split='test', data_root=root)
    assert dataset.metainfo['split_by'] == 'umd'
    assert len(dataset) == sum(r['split'] == 'test' for r in refs)


def test_missing_own_folder(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    with pytest.raises(FileNotFoundError) as error:
        ReferDataset(dataset='refcocoo', data_root=root)
    message = str(error.value)
    assert osp.join(root, 'refcocoo') in message
    assert "'refcoco'" in message and "'refcocog'" in message


def test_known_dataset_default_split_by(refer_root):
    dataset = ReferDataset(dataset='refcocog', split='val',
                           data_root=refer_root)
    assert dataset.metainfo['split_by'] == 'umd'


@pytest.mark.parametrize('ann_id', [-1, [-1], [1, 2]])
def test_grefcoco_style_ref_in_plain_file(tmp_path, ann_id):
    root = make_refer_data(tmp_path, num_images=6)
    refs = _rewrite_refs(root, 'refcoco', 'unc',
                         lambda refs: refs[0].update(ann_id=ann_id))
    with pytest.raises(ValueError) as error:
        ReferDataset(data_root=root, split=refs[0]['split'])
    message = str(error.value)
    assert f'Ref {refs[0]["ref_id"]} ' in message
    assert 'GReferDataset' in message
