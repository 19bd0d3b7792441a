"""Time ``ReferDataset`` indexing on annotations of RefCOCO's full size.

Writes, into a temporary folder, a refer-format annotation set with the
counts of RefCOCO (unc): 19,994 images, 196,771 annotations in
``instances.json`` (synthetic polygons of 8-40 vertices), 50,000 refs and
142,210 sentences split as the real one (train / val / testA / testB:
42,404 / 3,811 / 1,975 / 1,810 refs, 120,624 / 10,834 / 5,657 / 5,095
sentences). No image is needed. Then builds the train set (one item per
ref) and the val set (test mode, one item per sentence) and prints the time.

Example::

    python tools/analysis_tools/benchmark_refer_index.py --repeat 3
"""
import argparse
import gc
import json
import os
import os.path as osp
import pickle
import tempfile
import time

import numpy as np

from mmrefseg.datasets import ReferDataset

NUM_IMAGES = 19_994
NUM_ANNOTATIONS = 196_771
# split -> (images, refs, sentences) of RefCOCO unc.
SPLITS = {
    'train': (16_994, 42_404, 120_624),
    'val': (1_500, 3_811, 10_834),
    'testA': (750, 1_975, 5_657),
    'testB': (750, 1_810, 5_095),
}


def _spread(total: int, parts: int) -> np.ndarray:
    """``parts`` integers differing by at most 1 that sum to ``total``."""
    counts = np.full(parts, total // parts)
    counts[:total % parts] += 1
    return counts


def _polygon(rng: np.random.Generator, width: int, height: int) -> list:
    num = int(rng.integers(8, 41))
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    radius = rng.uniform(0.05, 0.2) * min(width, height)
    thetas = np.sort(rng.uniform(0, 2 * np.pi, num))
    radii = radius * rng.uniform(0.6, 1.0, num)
    points = np.stack(
        [cx + radii * np.cos(thetas), cy + radii * np.sin(thetas)], 1)
    return np.round(points, 2).reshape(-1).tolist()


def write_refcoco_sized(ann_dir: str, seed: int = 0) -> None:
    """Write ``refs(unc).p`` and ``instances.json`` of RefCOCO's size."""
    rng = np.random.default_rng(seed)
    images, annotations, anns_of_image = [], [], {}
    anns_per_image = _spread(NUM_ANNOTATIONS, NUM_IMAGES)
    for index in range(NUM_IMAGES):
        image_id = 1_000 + 7 * index
        width = int(rng.integers(320, 641))
        height = int(rng.integers(240, 641))
        images.append(
            dict(
                file_name=f'COCO_train2014_{image_id:012d}.jpg',
                height=height,
                width=width,
                id=image_id))
        ids = []
        for _ in range(anns_per_image[index]):
            ann_id = len(annotations) + 100_000
            annotations.append(
                dict(
                    segmentation=[_polygon(rng, width, height)],
                    area=1000.0,
                    iscrowd=0,
                    image_id=image_id,
                    bbox=[0.0, 0.0, 10.0, 10.0],
                    category_id=1,
                    id=ann_id))
            ids.append(ann_id)
        anns_of_image[image_id] = ids

    refs = []
    sent_ids = iter(range(10**9))
    image_ids = iter(image['id'] for image in images)
    for split, (num_images, num_refs, num_sents) in SPLITS.items():
        split_images = [next(image_ids) for _ in range(num_images)]
        refs_per_image = _spread(num_refs, num_images)
        sents_per_ref = iter(_spread(num_sents, num_refs))
        for image_id, count in zip(split_images, refs_per_image):
            for ann_id in anns_of_image[image_id][:count]:
                sentences = []
                for _ in range(next(sents_per_ref)):
                    sent_id = next(sent_ids)
                    text = f'the object number {sent_id} on the left'
                    sentences.append(
                        dict(
                            tokens=text.split(),
                            raw=text,
                            sent_id=sent_id,
                            sent=text))
                refs.append(
                    dict(
                        sent_ids=[sent['sent_id'] for sent in sentences],
                        file_name=(f'COCO_train2014_{image_id:012d}_'
                                   f'{ann_id}.jpg'),
                        ann_id=ann_id,
                        ref_id=len(refs),
                        image_id=image_id,
                        split=split,
                        sentences=sentences,
                        category_id=1))
    num_sentences = sum(len(ref['sentences']) for ref in refs)
    counts = (len(refs), num_sentences)
    assert counts == (50_000, 142_210), counts

    with open(osp.join(ann_dir, 'instances.json'), 'w') as f:
        json.dump(
            dict(images=images, annotations=annotations, categories=[]), f)
    with open(osp.join(ann_dir, 'refs(unc).p'), 'wb') as f:
        pickle.dump(refs, f, protocol=2)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Time ReferDataset indexing at RefCOCO size.')
    parser.add_argument(
        '--data-root',
        help='where to write the annotations (kept, and reused when already '
        'there); a temporary folder by default')
    parser.add_argument('--repeat', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def benchmark(root: str, repeat: int, seed: int) -> None:
    ann_dir = osp.join(root, 'refcoco')
    if not osp.isfile(osp.join(ann_dir, 'refs(unc).p')):
        os.makedirs(ann_dir, exist_ok=True)
        start = time.perf_counter()
        gc.disable()  # millions of acyclic objects: see ReferDataset
        try:
            write_refcoco_sized(ann_dir, seed)
        finally:
            gc.enable()
        print(f'generated in {time.perf_counter() - start:.1f} s')
    size = osp.getsize(osp.join(ann_dir, 'instances.json')) / 2**20
    print(f'instances.json: {size:.0f} MiB')
    for split, test_mode in (('train', False), ('val', True)):
        for _ in range(repeat):
            start = time.perf_counter()
            start_cpu = time.process_time()
            dataset = ReferDataset(
                dataset='refcoco',
                split_by='unc',
                split=split,
                data_root=root,
                test_mode=test_mode)
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - start_cpu
            print(f'{split} (test_mode={test_mode}): {len(dataset)} items '
                  f'in {elapsed:.2f} s ({cpu:.2f} s CPU)')


def main():
    args = parse_args()
    if args.data_root:
        benchmark(args.data_root, args.repeat, args.seed)
        return
    with tempfile.TemporaryDirectory() as root:
        benchmark(root, args.repeat, args.seed)


if __name__ == '__main__':
    main()
