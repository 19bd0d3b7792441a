"""A training sample whose image or mask cannot be loaded: a clear error
naming the ref and the file, or a warning and another sample."""
import json
import logging
import os.path as osp

import pytest

from mmrefseg.datasets import ReferDataset
from mmrefseg.utils import register_all_modules
from tests.helpers import logged_messages, make_refer_data

register_all_modules()

PIPELINE = [
    dict(type='LoadReferImage'),
    dict(type='LoadReferMask'),
    dict(type='SampleSentence'),
    dict(type='LetterboxResize', scale=(32, 32)),
    dict(type='PackReferInputs'),
]


def index_of(dataset, info):
    return next(i for i in range(len(dataset))
                if dataset.get_data_info(i)['ref_id'] == info['ref_id'])


@pytest.fixture
def broken_root(tmp_path):
    """Generated data whose first training ref has a truncated image and
    whose second has a mask that does not decode."""
    root = make_refer_data(tmp_path / 'refer', num_images=8)
    dataset = ReferDataset(data_root=root, split='train')
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    first = infos[0]
    second = next(i for i in infos if i['img_path'] != first['img_path'])
    with open(first['img_path'], 'r+b') as f:
        f.truncate(20)
    instances = osp.join(root, 'refcoco', 'instances.json')
    with open(instances) as f:
        coco = json.load(f)
    for ann in coco['annotations']:
        if ann['id'] == second['ann_id']:
            ann['segmentation'] = {'counts': 'not an rle', 'size': [3]}
    with open(instances, 'w') as f:
        json.dump(coco, f)
    return root, first, second


def test_a_broken_image_names_the_ref_and_the_file(broken_root):
    root, first, _ = broken_root
    dataset = ReferDataset(data_root=root, split='train', pipeline=PIPELINE)
    with pytest.raises(OSError) as error:
        dataset[0]
    assert f'ref {first["ref_id"]} (image {first["img_path"]})' in str(
        error.value)


def test_a_broken_mask_names_the_ref(broken_root):
    root, _, second = broken_root
    dataset = ReferDataset(data_root=root, split='train', pipeline=PIPELINE)
    with pytest.raises(ValueError, match=f'ref {second["ref_id"]} '):
        dataset[index_of(dataset, second)]


def test_skip_bad_samples_warns_and_trains_on_another(broken_root):
    root, first, second = broken_root
    dataset = ReferDataset(
        data_root=root, split='train', pipeline=PIPELINE,
        skip_bad_samples=True)
    with logged_messages(level=logging.WARNING) as warnings:
        for info in (first, second):
            item = dataset[index_of(dataset, info)]
            assert item['data_samples'].ref_id not in (first['ref_id'],
                                                       second['ref_id'])
    assert any(f'Skipping ref {first["ref_id"]} (image {first["img_path"]})'
               in w for w in warnings)
    assert any(f'Skipping ref {second["ref_id"]} ' in w for w in warnings)


def test_testing_never_skips(broken_root):
    root, first, _ = broken_root
    test_pipeline = [PIPELINE[0], PIPELINE[3], PIPELINE[1], PIPELINE[4]]
    dataset = ReferDataset(
        data_root=root, split='train', pipeline=test_pipeline,
        test_mode=True, skip_bad_samples=True)
    index = index_of(dataset, first)
    with pytest.raises(OSError, match=f'ref {first["ref_id"]} '):
        dataset[index]
