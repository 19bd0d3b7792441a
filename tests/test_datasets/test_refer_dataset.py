import gc
import json
import logging
import os
import os.path as osp
import pickle
import re
import shutil

import pytest
from PIL import Image

from mmrefseg.datasets import ReferDataset
from tests.helpers import logged_messages, make_refer_data

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


@pytest.mark.parametrize('num_emptied', [2, 20, 21])
def test_refs_without_sentences_are_skipped_and_logged(tmp_path,
                                                       num_emptied):
    root = make_refer_data(tmp_path, num_images=12)
    emptied = []

    def drop_sentences(refs):
        train = [r for r in refs if r['split'] == 'train']
        assert len(train) > num_emptied
        for ref in train[:num_emptied]:
            ref['sentences'], ref['sent_ids'] = [], []
            emptied.append(ref['ref_id'])

    refs = _rewrite_refs(root, 'refcoco', 'unc', drop_sentences)
    with logged_messages(level=logging.WARNING) as warnings:
        dataset = ReferDataset(data_root=root, split='train')
    num_train = sum(r['split'] == 'train' for r in refs)
    assert len(dataset) == num_train - num_emptied
    assert len(warnings) == 1
    # The first 20 ref ids are listed, then an ellipsis.
    more = ' ...' if num_emptied > 20 else ''
    assert warnings[0].endswith(f'ref_id(s) {emptied[:20]}{more}')
    assert f'skipped {num_emptied} ref(s)' in warnings[0]


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


@pytest.mark.parametrize('field', ['category_id', 'ref_id'])
def test_ref_lacking_a_field(tmp_path, field):
    root = make_refer_data(tmp_path, num_images=6)
    refs = _rewrite_refs(root, 'refcoco', 'unc',
                         lambda refs: refs[0].pop(field))
    with pytest.raises(ValueError) as error:
        ReferDataset(data_root=root, split=refs[0]['split'])
    # A ref without its id is shown whole.
    ref = refs[0].get('ref_id', refs[0])
    assert f"ref {ref!r} lacks the field {field!r}" in str(error.value)


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


@pytest.mark.parametrize('ann_id,kind', [(-1, 'no target'),
                                          ([-1], 'no target'),
                                          ([1, 2], 'a list of annotations')])
def test_grefcoco_style_ref_in_plain_file(tmp_path, ann_id, kind):
    root = make_refer_data(tmp_path, num_images=6)
    refs = _rewrite_refs(root, 'refcoco', 'unc',
                         lambda refs: refs[0].update(ann_id=ann_id))
    with pytest.raises(ValueError) as error:
        ReferDataset(data_root=root, split=refs[0]['split'])
    path = osp.join(root, 'refcoco', 'refs(unc).p')
    assert str(error.value) == (
        f'Ref {refs[0]["ref_id"]} in {path} has ann_id {ann_id!r} ({kind}): '
        'a gRefCOCO-style ref, which a plain refer dataset cannot hold; '
        "load this file with type='GReferDataset'.")


# --- the published split table, the defaults and the index's edges ----------
# Written from the refer API's release, independently of ReferDataset.SPLITS.
PUBLISHED_SPLITS = [
    ('refcoco', 'unc', ('train', 'val', 'testA', 'testB')),
    ('refcoco', 'google', ('train', 'val', 'test')),
    ('refcoco+', 'unc', ('train', 'val', 'testA', 'testB')),
    ('refcocog', 'umd', ('train', 'val', 'test')),
    ('refcocog', 'google', ('train', 'val')),
    ('refclef', 'unc', ('train', 'val', 'testA', 'testB', 'testC')),
    ('refclef', 'berkeley', ('train', 'val', 'test')),
]


@pytest.mark.parametrize('dataset,split_by,splits', PUBLISHED_SPLITS)
def test_published_splits_pass_the_name_check(tmp_path, dataset, split_by,
                                              splits):
    # Every published name gets past the name check to the file check.
    for split in splits:
        with pytest.raises(FileNotFoundError, match=re.escape(
                f'refs({split_by}).p')):
            ReferDataset(
                dataset=dataset,
                split_by=split_by,
                split=split,
                data_root=str(tmp_path))


@pytest.mark.parametrize('dataset,split_by', [('refcoco', 'unc'),
                                              ('refcoco+', 'unc'),
                                              ('refcocog', 'umd'),
                                              ('refclef', 'unc')])
def test_default_split_by_of_known_datasets(tmp_path, dataset, split_by):
    with pytest.raises(FileNotFoundError) as error:
        ReferDataset(dataset=dataset, split='val', data_root=str(tmp_path))
    message = str(error.value)
    assert osp.join(str(tmp_path), dataset, f'refs({split_by}).p') in message
    assert f'split by {split_by!r}' in message


def test_defaults_read_refcoco_unc_train_from_the_current_folder(
        refer_root, monkeypatch):
    monkeypatch.chdir(refer_root)
    dataset = ReferDataset()
    assert (dataset.dataset_name, dataset.split_by, dataset.split) == \
        ('refcoco', 'unc', 'train')
    assert dataset.refs_file == osp.join('refcoco', 'refs(unc).p')
    assert not dataset.test_mode and not dataset.skip_bad_samples
    assert len(dataset) == sum(
        r['split'] == 'train' for r in _refs(refer_root, 'refcoco', 'unc'))
    info = dataset.get_data_info(0)
    assert info['img_path'].startswith(osp.join('images', 'train2014', ''))
    assert 'text' not in info
    # A missing folder under the current one lists the folders there.
    with pytest.raises(FileNotFoundError, match=r"folders in \.: \["):
        ReferDataset(dataset='absent', split_by='unc')


def test_refs_file_missing_from_an_existing_folder(tmp_path):
    os.makedirs(tmp_path / 'my_refs')
    with pytest.raises(FileNotFoundError) as error:
        ReferDataset(dataset='my_refs', split_by='unc',
                     data_root=str(tmp_path))
    assert (f'refs files present in {tmp_path / "my_refs"}: none '
            '(split_by values present: [])') in str(error.value)


@pytest.mark.parametrize('dataset', ['', None, 3])
def test_dataset_must_be_a_folder_name(dataset):
    with pytest.raises(ValueError) as error:
        ReferDataset(dataset=dataset, data_root='nowhere')
    assert str(error.value) == \
        f'dataset must be a folder name, got {dataset!r}.'


def test_base_dataset_arguments_are_passed_on(refer_root):
    dataset = ReferDataset(
        data_root=refer_root, split='val', indices=3, serialize_data=False)
    assert len(dataset) == 3 and not dataset.serialize_data


def test_metainfo_classes_and_palette(refer_root):
    metainfo = ReferDataset(data_root=refer_root, split='val').metainfo
    assert metainfo['classes'] == ('background', 'referred object')
    assert metainfo['palette'] == [[0, 0, 0], [255, 255, 255]]


def test_unknown_folder_without_split_by_names_the_pattern(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        ReferDataset(dataset='absent', data_root=str(tmp_path))
    message = str(error.value)
    assert osp.join(str(tmp_path), 'absent', 'refs(<split_by>).p') in message
    assert 'split by None' in message


def test_folder_without_refs_files(tmp_path):
    os.makedirs(tmp_path / 'empty_refs')
    with pytest.raises(ValueError) as error:
        ReferDataset(dataset='empty_refs', data_root=str(tmp_path))
    message = str(error.value)
    assert 'Give split_by' in message and 'holds 0 refs(<split_by>).p' in \
        message
    assert 'refs files present: none' in message


def test_refs_file_with_an_empty_split_by_is_not_a_split_by(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    refs = _copy_as(root, 'refcoco', 'my_refs')
    with open(osp.join(root, 'my_refs', 'refs().p'), 'wb') as f:
        pickle.dump(refs, f)
    # Only 'unc' names a split_by; 'refs().p' is listed but not counted.
    dataset = ReferDataset(dataset='my_refs', split='val', data_root=root)
    assert dataset.metainfo['split_by'] == 'unc'


def test_pickle_refs_file_is_preferred_to_json(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    refs = _copy_as(root, 'refcoco', 'both_refs')
    val = [r for r in refs if r['split'] == 'val']
    with open(osp.join(root, 'both_refs', 'refs(unc).json'), 'w') as f:
        json.dump(val[:1], f)
    dataset = ReferDataset(dataset='both_refs', split='val', data_root=root)
    assert dataset.refs_file.endswith('refs(unc).p')
    assert len(dataset) == len(val) > 1


def test_refs_file_not_a_list(tmp_path):
    root = make_refer_data(tmp_path, num_images=6)
    path = osp.join(root, 'refcoco', 'refs(unc).p')
    with open(path, 'wb') as f:
        pickle.dump({'refs': []}, f)
    with pytest.raises(TypeError) as error:
        ReferDataset(data_root=root)
    assert str(error.value) == (f'{path} should hold a list of refs, got '
                                'dict.')


@pytest.mark.parametrize('key', ['images', 'annotations'])
def test_instances_lacking_a_key(tmp_path, key):
    root = make_refer_data(tmp_path, num_images=6)
    _rewrite_instances(root, 'refcoco', lambda inst: inst.pop(key))
    path = osp.join(root, 'refcoco', 'instances.json')
    with pytest.raises(ValueError) as error:
        ReferDataset(data_root=root)
    assert str(error.value) == f'{path} has no {key!r}.'


@pytest.mark.parametrize('enabled', [True, False])
def test_garbage_collector_paused_while_indexing(refer_root, monkeypatch,
                                                 enabled):
    # Indexing RefCOCO creates millions of objects in no cycle: the
    # collector is paused while the refs are parsed, then put back as it was.
    seen = []
    load_refs = ReferDataset._load_refs

    def recording(self):
        seen.append(gc.isenabled())
        return load_refs(self)

    monkeypatch.setattr(ReferDataset, '_load_refs', recording)
    (gc.enable if enabled else gc.disable)()
    try:
        ReferDataset(data_root=refer_root, split='val')
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
    assert seen == [False]


def test_collector_put_back_after_an_error(tmp_path):
    gc.enable()
    root = make_refer_data(tmp_path, num_images=6)
    _rewrite_instances(root, 'refcoco', lambda inst: inst.pop('images'))
    with pytest.raises(ValueError):
        ReferDataset(data_root=root)
    assert gc.isenabled()


class _ErrnoOnlyError(OSError):
    """An OSError subclass that cannot be built from a message alone."""

    def __init__(self, errno, path):
        super().__init__(errno, 'device not ready', path)


class _Raising:
    """A transform that raises ``make_error(results)``."""

    def __init__(self, make_error):
        self.make_error = make_error

    def __call__(self, results):
        raise self.make_error(results)


def test_loading_error_keeps_its_type_where_it_can(refer_root):
    # UnicodeDecodeError takes more than a message.
    unicode_error = _Raising(lambda results: UnicodeDecodeError(
        'utf-8', b'\xff', 0, 1, 'invalid byte'))
    dataset = ReferDataset(
        data_root=refer_root, split='val', pipeline=[unicode_error])
    info = dataset.get_data_info(0)
    with pytest.raises(ValueError) as error:
        dataset[0]
    assert type(error.value) is ValueError
    assert str(error.value).startswith(
        f'Cannot load ref {info["ref_id"]} (image {info["img_path"]}) of '
        'refcoco val: ')
    assert isinstance(error.value.__cause__, UnicodeDecodeError)
    # A subclass that takes a message keeps its type.
    dataset = ReferDataset(
        data_root=refer_root, split='val',
        pipeline=[_Raising(lambda r: FileNotFoundError(r['img_path']))])
    with pytest.raises(FileNotFoundError, match=f'Cannot load ref '
                       f'{info["ref_id"]} '):
        dataset[0]
    dataset = ReferDataset(
        data_root=refer_root,
        split='val',
        pipeline=[_Raising(lambda r: _ErrnoOnlyError(5, r['img_path']))])
    with pytest.raises(OSError) as error:
        dataset[0]
    assert type(error.value) is OSError
    assert f'Cannot load ref {info["ref_id"]} ' in str(error.value)
