"""The synthetic refer-data generator: refer-API conventions and content."""
import filecmp
import json
import os.path as osp
import pickle

import numpy as np
import pytest
from PIL import Image

from mmrefseg.datasets import ReferDataset
from mmrefseg.datasets.transforms import decode_segmentation
from tests.helpers import make_refer_data, refer_generator

REF_KEYS = {
    'sent_ids', 'file_name', 'ann_id', 'ref_id', 'image_id', 'split',
    'sentences', 'category_id'
}
SENTENCE_KEYS = {'tokens', 'raw', 'sent_id', 'sent'}
FILES = {
    'refcoco': ['refs(unc).p'],
    'refcoco+': ['refs(unc).p'],
    'refcocog': ['refs(umd).p', 'refs(google).p'],
}
LOCATION_WORDS = {'left', 'right', 'top', 'bottom', 'leftmost', 'rightmost'}


def _load(root, dataset, refs_name):
    with open(osp.join(root, dataset, refs_name), 'rb') as f:
        refs = pickle.load(f)
    with open(osp.join(root, dataset, 'instances.json')) as f:
        instances = json.load(f)
    return refs, instances


@pytest.mark.parametrize('dataset', list(FILES))
def test_refer_api_conventions(refer_root, dataset):
    for refs_name in FILES[dataset]:
        refs, instances = _load(refer_root, dataset, refs_name)
        images = {image['id']: image for image in instances['images']}
        anns = {ann['id']: ann for ann in instances['annotations']}
        names = {category['name'] for category in instances['categories']}
        assert names == {'circle', 'rectangle', 'triangle'}
        assert len(refs) == len(anns)  # every object is referred to
        sent_ids = [sid for ref in refs for sid in ref['sent_ids']]
        assert len(sent_ids) == len(set(sent_ids))
        assert len({ref['ref_id'] for ref in refs}) == len(refs)
        split_of_image = {}
        for ref in refs:
            assert set(ref) == REF_KEYS
            assert ref['sent_ids'] == [s['sent_id'] for s in ref['sentences']]
            ann = anns[ref['ann_id']]
            image = images[ref['image_id']]
            assert ann['image_id'] == ref['image_id']
            assert ann['category_id'] == ref['category_id']
            assert {'segmentation', 'area', 'bbox', 'iscrowd'} <= set(ann)
            assert set(image) >= {'id', 'file_name', 'height', 'width'}
            assert image['file_name'] == (
                f'COCO_train2014_{ref["image_id"]:012d}.jpg')
            assert osp.isfile(
                osp.join(refer_root, 'images', 'train2014',
                         image['file_name']))
            for sentence in ref['sentences']:
                assert set(sentence) == SENTENCE_KEYS
                assert sentence['tokens'] == sentence['sent'].split()
                assert sentence['raw'].lower() == sentence['sent']
            # Splits are by image.
            assert split_of_image.setdefault(ref['image_id'],
                                             ref['split']) == ref['split']


def test_splits(refer_root):
    expected = {
        'refs(unc).p': {'train', 'val', 'testA', 'testB'},
        'refs(umd).p': {'train', 'val', 'test'},
        'refs(google).p': {'train', 'val'},
    }
    for dataset, names in FILES.items():
        for name in names:
            refs, _ = _load(refer_root, dataset, name)
            assert {ref['split'] for ref in refs} == expected[name]


def test_refcoco_plus_has_no_location_words(refer_root):
    refs, _ = _load(refer_root, 'refcoco+', 'refs(unc).p')
    words = {w for ref in refs for s in ref['sentences'] for w in s['tokens']}
    assert not words & LOCATION_WORDS
    refs, _ = _load(refer_root, 'refcoco', 'refs(unc).p')
    words = {w for ref in refs for s in ref['sentences'] for w in s['tokens']}
    assert words & LOCATION_WORDS


def test_colour_words_identify_the_object(refer_root):
    colours = refer_generator().COLOURS
    for dataset in FILES:
        refs, instances = _load(refer_root, dataset, FILES[dataset][0])
        images = {image['id']: image for image in instances['images']}
        anns = {ann['id']: ann for ann in instances['annotations']}
        colour_of_ref = {}
        for ref in refs:
            named = {
                w
                for s in ref['sentences']
                for w in s['tokens'] if w in colours
            }
            assert len(named) <= 1, ref['sentences']
            image = images[ref['image_id']]
            pixels = np.asarray(
                Image.open(
                    osp.join(refer_root, 'images', 'train2014',
                             image['file_name'])).convert('RGB'))
            mask = decode_segmentation(anns[ref['ann_id']]['segmentation'],
                                       image['height'], image['width'])
            mean = pixels[mask.astype(bool)].mean(0)
            nearest = min(
                colours,
                key=lambda c: np.abs(np.array(colours[c]) - mean).sum())
            colour_of_ref[ref['ref_id']] = (ref['image_id'], nearest)
            if named:
                assert named == {nearest}, (ref['sentences'], mean)
        # One colour per object within an image: colour words are unique.
        pairs = list(colour_of_ref.values())
        assert len(pairs) == len(set(pairs))


def test_deterministic_for_a_seed(tmp_path):
    first = make_refer_data(tmp_path / 'a', num_images=5, seed=4)
    second = make_refer_data(tmp_path / 'b', num_images=5, seed=4)
    other = make_refer_data(tmp_path / 'c', num_images=5, seed=5)
    for name in ('refcoco/refs(unc).p', 'refcoco/instances.json',
                 'refcocog/refs(google).p',
                 'images/train2014/COCO_train2014_000000000003.jpg'):
        assert filecmp.cmp(
            osp.join(first, name), osp.join(second, name), shallow=False)
    assert not filecmp.cmp(
        osp.join(first, 'refcoco/instances.json'),
        osp.join(other, 'refcoco/instances.json'),
        shallow=False)


def test_loads_in_every_split(refer_root):
    for dataset, split_by, splits in [
        ('refcoco', 'unc', ('train', 'val', 'testA', 'testB')),
        ('refcocog', 'umd', ('train', 'val', 'test')),
        ('refcocog', 'google', ('train', 'val')),
    ]:
        for split in splits:
            assert len(
                ReferDataset(
                    dataset=dataset,
                    split_by=split_by,
                    split=split,
                    data_root=refer_root,
                    test_mode=True)) > 0


def test_command_line(tmp_path):
    generator = refer_generator()
    generator.main([
        str(tmp_path), '--num-images', '4', '--seed', '1', '--min-size', '40',
        '--max-size', '48'
    ])
    names = sorted(
        osp.basename(p)
        for p in (tmp_path / 'images' / 'train2014').glob('*.jpg'))
    assert names == [f'COCO_train2014_{i:012d}.jpg' for i in range(1, 5)]
    assert sorted(p.name for p in (tmp_path / 'refcocog').glob('*.p')) == [
        'refs(google).p', 'refs(umd).p'
    ]
    with Image.open(tmp_path / 'images' / 'train2014' / names[0]) as image:
        assert 40 <= min(image.size) and max(image.size) <= 48
    with pytest.raises(ValueError, match='At least 4 images'):
        generator.generate_refer_data(str(tmp_path / 'x'), num_images=3)


# --- the gRefCOCO-format set (--gres) --------------------------------------
def _grefs(root):
    with open(osp.join(root, 'grefcoco', 'grefs(unc).json')) as f:
        refs = json.load(f)
    with open(osp.join(root, 'grefcoco', 'instances.json')) as f:
        instances = json.load(f)
    return refs, instances


def test_gres_shares_and_targets(tmp_path):
    generator = refer_generator()
    generator.main([
        str(tmp_path), '--gres', '--num-images', '60', '--min-size', '40',
        '--max-size', '48'
    ])
    assert not osp.exists(tmp_path / 'refcoco')
    refs, instances = _grefs(str(tmp_path))
    anns = {ann['id']: ann for ann in instances['annotations']}
    shape_names = {c['id']: c['name'] for c in instances['categories']}
    assert {r['split'] for r in refs} == {'train', 'val', 'testA', 'testB'}
    counts = dict(none=0, multi=0, all=0)
    sent_ids = []
    for ref in refs:
        assert set(ref) == REF_KEYS
        num = len(ref['sentences'])
        sent_ids += ref['sent_ids']
        counts['all'] += num
        objects = [a for a in anns.values()
                   if a['image_id'] == ref['image_id']]
        present = {(_colour_of(ann, instances, str(tmp_path)),
                    shape_names[ann['category_id']]) for ann in objects}
        if ref['ann_id'] == [-1]:
            counts['none'] += num
            assert ref['category_id'] == [-1]
            # "the <colour> <shape>" names nothing in the image.
            for sent in ref['sentences']:
                words = sent['tokens']
                named = [w for w in words if w in generator.COLOURS]
                kinds = [w for w in words if w in generator.SHAPE_IDS]
                if named and kinds:
                    assert (named[0], kinds[0]) not in present, sent
            continue
        if len(ref['ann_id']) > 1:
            counts['multi'] += num
        assert ref['category_id'] == [
            anns[i]['category_id'] for i in ref['ann_id']
        ]
        assert all(anns[i]['image_id'] == ref['image_id']
                   for i in ref['ann_id'])
    assert len(sent_ids) == len(set(sent_ids))
    # About 15 % no-target and 25 % multi-target expressions.
    assert 0.08 < counts['none'] / counts['all'] < 0.22
    assert 0.15 < counts['multi'] / counts['all'] < 0.35


def _colour_of(ann, instances, root):
    """The generator's colour name nearest to the annotation's pixels."""
    colours = refer_generator().COLOURS
    image = next(i for i in instances['images'] if i['id'] == ann['image_id'])
    pixels = np.asarray(
        Image.open(osp.join(root, 'images', 'train2014',
                            image['file_name'])).convert('RGB'))
    mask = decode_segmentation(ann['segmentation'], image['height'],
                               image['width']).astype(bool)
    mean = pixels[mask].mean(0)
    return min(
        colours, key=lambda c: np.abs(np.array(colours[c]) - mean).sum())


def test_gres_deterministic(tmp_path):
    generator = refer_generator()
    first = tmp_path / 'a'
    second = tmp_path / 'b'
    for root in (first, second):
        generator.generate_grefer_data(str(root), 5, seed=2, min_size=40,
                                       max_size=48)
    assert filecmp.cmp(
        first / 'grefcoco' / 'grefs(unc).json',
        second / 'grefcoco' / 'grefs(unc).json',
        shallow=False)


# --- the harder mode (--hard) ----------------------------------------------
def _background_std(root, instances):
    """Mean per-channel standard deviation of the pixels outside objects."""
    stds = []
    for image in instances['images']:
        pixels = np.asarray(
            Image.open(osp.join(root, 'images', 'train2014',
                                image['file_name'])).convert('RGB'),
            dtype=np.float64)
        inside = np.zeros(pixels.shape[:2], bool)
        for ann in instances['annotations']:
            if ann['image_id'] == image['id']:
                inside |= decode_segmentation(ann['segmentation'],
                                              image['height'],
                                              image['width']).astype(bool)
        stds.append(pixels[~inside].std(0).mean())
    return float(np.mean(stds))


def test_hard_mode_scenes(tmp_path):
    generator = refer_generator()
    root = str(tmp_path / 'hard')
    generator.main([root, '--hard', '--num-images', '24', '--seed', '3',
                    '--min-size', '96', '--max-size', '128'])
    refs, instances = _load(root, 'refcoco', 'refs(unc).p')
    shape_names = {c['id']: c['name'] for c in instances['categories']}
    sizes = {i['id']: min(i['height'], i['width'])
             for i in instances['images']}
    objects = {}
    for ann in instances['annotations']:
        objects.setdefault(ann['image_id'], []).append(
            (_colour_of(ann, instances, root), shape_names[ann['category_id']],
             max(ann['bbox'][2:]) / sizes[ann['image_id']]))
    counts = [len(found) for found in objects.values()]
    assert min(counts) >= 3 and max(counts) <= 7 and np.mean(counts) >= 4.5
    sharing = total = 0
    for found in objects.values():
        pairs = [(colour, shape) for colour, shape, _ in found]
        assert len(pairs) == len(set(pairs))  # colour + shape name each one
        assert len({colour for colour, _ in pairs}) <= 3
        for colour, shape in pairs:
            total += 1
            sharing += sum(c == colour or s == shape
                           for c, s in pairs) > 1
    assert sharing / total > 0.8  # distractors of one colour or shape
    extents = [extent for found in objects.values() for *_, extent in found]
    # Radii from 1/24 of the short side (a diameter of ~1/12) up.
    assert min(extents) >= 1 / 15 and min(extents) < 1 / 8
    # Sentences that name a colour but no shape only where it is unique.
    for ref in refs:
        ann = next(a for a in instances['annotations']
                   if a['id'] == ref['ann_id'])
        colour = _colour_of(ann, instances, root)
        colours_here = [c for c, *_ in objects[ref['image_id']]]
        for sent in ref['sentences']:
            words = set(sent['tokens'])
            named = words & set(generator.COLOURS)
            assert named <= {colour}, sent
            if named and not words & {shape_names[ann['category_id']]}:
                assert colours_here.count(colour) == 1, sent


def test_hard_mode_backgrounds_are_textured(tmp_path):
    generator = refer_generator()
    easy, hard = str(tmp_path / 'easy'), str(tmp_path / 'hard')
    for root, hard_mode in ((easy, False), (hard, True)):
        generator.generate_refer_data(
            root, 6, seed=1, min_size=64, max_size=80, hard=hard_mode)
    _, easy_instances = _load(easy, 'refcoco', 'refs(unc).p')
    _, hard_instances = _load(hard, 'refcoco', 'refs(unc).p')
    assert _background_std(easy, easy_instances) < 15
    assert _background_std(hard, hard_instances) > 25


def test_hard_mode_gres(tmp_path):
    generator = refer_generator()
    generator.generate_grefer_data(
        str(tmp_path), 40, seed=0, min_size=64, max_size=80, hard=True)
    refs, instances = _grefs(str(tmp_path))
    per_image = {}
    for ann in instances['annotations']:
        per_image[ann['image_id']] = per_image.get(ann['image_id'], 0) + 1
    assert np.mean(list(per_image.values())) >= 4.5
    sentences = sum(len(r['sentences']) for r in refs)
    none = sum(len(r['sentences']) for r in refs if r['ann_id'] == [-1])
    multi = sum(len(r['sentences']) for r in refs if len(r['ann_id']) > 1)
    assert 0.08 < none / sentences < 0.22
    assert 0.15 < multi / sentences < 0.35
