"""Export a referring segmentor to ONNX and check it with ONNX Runtime.

Example::

    python tools/deployment/pytorch2onnx.py \\
        configs/cris/cris_r50_refcoco.py work_dirs/cris_r50/epoch_50.pth \\
        --out cris_r50.onnx --dynamic-batch

The graph maps ``image`` (normalised, (B, 3, H, W)), ``token_ids`` (and
``attention_mask`` for BERT) to mask ``logits``; run it with
``mmrefseg.deploy.build_deployed_model`` (ONNX Runtime or OpenVINO).
"""
import argparse
import os.path as osp
import sys
import time

from mmengine.config import DictAction

from mmrefseg.apis import init_model
from mmrefseg.deploy import (CHECK_TEXTS, check_onnx, config_input_shape,
                             export_onnx)
from mmrefseg.utils import load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a referring segmentor to ONNX')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        'checkpoint', nargs='?', help='checkpoint file (or --random-weights)')
    parser.add_argument(
        '--out', required=True, help='the .onnx file (must not exist)')
    parser.add_argument(
        '--random-weights',
        action='store_true',
        help='export the randomly initialised model (smoke tests)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='network input size (default: the test pipeline\'s resize)')
    parser.add_argument(
        '--dynamic-batch',
        action='store_true',
        help='dynamic batch dimensions (default: batch 1)')
    parser.add_argument(
        '--opset', type=int, default=17, help='ONNX opset (default 17)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    args = parser.parse_args(argv)
    if (args.checkpoint is None) == (not args.random_weights):
        parser.error('give a CHECKPOINT or --random-weights (not both)')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint!r} not found')
    if not args.out.endswith('.onnx'):
        parser.error(f'--out must end with .onnx, got {args.out!r}')
    if osp.exists(args.out):
        parser.error(f'{args.out!r} exists; refusing to overwrite it')
    if args.shape is not None and min(args.shape) <= 0:
        parser.error(f'--shape must be positive, got {args.shape}')
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    shape = tuple(args.shape) if args.shape else config_input_shape(cfg)
    model = init_model(cfg, args.checkpoint, device='cpu')

    start = time.perf_counter()
    try:
        export_onnx(
            model,
            args.out,
            input_shape=shape,
            dynamic_batch=args.dynamic_batch,
            opset=args.opset)
    except FileExistsError as error:
        sys.exit(f'error: {error}')
    seconds = time.perf_counter() - start
    size_mb = osp.getsize(args.out) / 2**20
    batch = 'dynamic' if args.dynamic_batch else '1'
    print(f'exported {args.config} -> {args.out} in {seconds:.1f} s: '
          f'{size_mb:.1f} MiB, opset {args.opset}, input {shape[0]}x'
          f'{shape[1]}, batch {batch}')

    threshold = (model.test_cfg or {}).get('threshold', 0.35)
    result = check_onnx(model, args.out, threshold=threshold)
    print(f'onnxruntime vs pytorch on {len(CHECK_TEXTS)} sentences: max '
          f'|logit diff| {result["max_abs_diff"]:.3g}, mask pixels '
          f'differing {result["mask_diff_pixels"]} / '
          f'{result["num_pixels"]} (threshold {threshold})')


if __name__ == '__main__':
    main()
