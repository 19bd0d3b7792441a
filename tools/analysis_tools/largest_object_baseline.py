"""Score the "largest object" baseline on a referring-segmentation split.

For every sentence the prediction is the mask of the largest annotated object
of its image (largest by decoded mask area, among all annotations of
``instances.json``), whatever the sentence says. A model that reads the
sentence must beat it; on data where the referred object is often the
largest one it is far from zero. The scores come from the config's
``test_evaluator`` (``ReferMetric``, or ``GReferMetric`` for gRefCOCO, where
the baseline never answers "no target"), so they are the numbers a trained
model is compared with.

Example::

    python tools/analysis_tools/largest_object_baseline.py \
        configs/toy/cris_tiny_refer-toy.py --split val
"""
import argparse
import json
from collections import defaultdict
from typing import Optional

import numpy as np
import torch
from mmengine.config import Config, DictAction

from mmrefseg import register_all_modules
from mmrefseg.datasets.transforms import LoadReferMask, decode_segmentation
from mmrefseg.registry import DATASETS, METRICS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='mIoU / oIoU / Pr@X of the largest-object baseline')
    parser.add_argument('config', help='a config with a test_dataloader')
    parser.add_argument(
        '--split', help='override test_dataloader.dataset.split')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, xxx=yyy')
    return parser.parse_args(argv)


def largest_object_masks(instances_file: str) -> dict:
    """``image_id -> (H, W) uint8`` mask of that image's largest object."""
    with open(instances_file) as f:
        instances = json.load(f)
    images = {image['id']: image for image in instances['images']}
    anns_by_image = defaultdict(list)
    for ann in instances['annotations']:
        anns_by_image[ann['image_id']].append(ann)
    largest = {}
    for image_id, anns in anns_by_image.items():
        image = images[image_id]
        masks = [
            decode_segmentation(ann['segmentation'], image['height'],
                                image['width']) for ann in anns
        ]
        largest[image_id] = max(masks, key=lambda mask: int(mask.sum()))
    return largest


def evaluate_baseline(dataset_cfg: dict,
                      metric_cfg: Optional[dict] = None) -> dict:
    """The baseline's scores on one dataset config.

    Args:
        dataset_cfg (dict): The dataset (a ``ReferDataset`` or, for GRES, a
            ``GReferDataset``: the ground truth is the union of the targets,
            and the baseline never answers "no target").
        metric_cfg (dict, optional): Defaults to None
            (``dict(type='ReferMetric')``).
    """
    dataset_cfg = dict(dataset_cfg, pipeline=[], test_mode=True)
    dataset = DATASETS.build(dataset_cfg)
    largest = largest_object_masks(dataset.instances_file)
    metric = METRICS.build(metric_cfg or dict(type='ReferMetric'))
    load_mask = LoadReferMask()
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        gt = load_mask(dict(info))['gt_seg_map']
        pred = largest.get(info['image_id'], np.zeros_like(gt))
        metric.process({}, [
            dict(
                pred_sem_seg=dict(data=torch.from_numpy(pred)[None]),
                gt_sem_seg=dict(data=torch.from_numpy(gt)[None]),
                sent_id=info.get('sent_id'),
                no_target=info.get('no_target', False),
                pred_no_target=False)
        ])
    return metric.compute_metrics(metric.results)


def main(argv=None):
    args = parse_args(argv)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    dataset_cfg = cfg.test_dataloader.dataset.to_dict()
    if args.split is not None:
        dataset_cfg['split'] = args.split
    metrics = evaluate_baseline(dataset_cfg, cfg.get('test_evaluator'))
    print('largest-object baseline on '
          f"{dataset_cfg.get('dataset')} {dataset_cfg.get('split')}: " +
          ', '.join(f'{name} {value:.2f}' for name, value in metrics.items()))
    return metrics


if __name__ == '__main__':
    main()
