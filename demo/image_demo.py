"""Segment what sentences refer to in one image and draw the results.

Usage::

    python demo/image_demo.py IMAGE SENTENCE [SENTENCE ...] CONFIG \\
        [CHECKPOINT] [--out-file out.png] [--device cpu] \\
        [--backend pytorch|onnxruntime|openvino] [--precision fp32|bf16]

The positional arguments are read in this order: the image, one or more
sentences, the config (ends in ``.py``) and optionally the checkpoint (which
never ends in ``.py``, so the split is unambiguous). All sentences of the image
run as one batch. With one sentence the picture is written to ``--out-file``;
with several, one picture per sentence, named by index: ``out.png`` becomes
``out_0.png``, ``out_1.png``, ... Each picture shows the mask over the image
and the sentence printed on top. With ``--backend onnxruntime`` or ``openvino``
the CHECKPOINT is the ``.onnx`` file written by
``tools/deployment/pytorch2onnx.py``.

Example::

    python demo/image_demo.py \\
        data/refer_toy/images/train2014/COCO_train2014_000000000002.jpg \\
        "green one" "rectangle on the right" \\
        configs/toy/cris_tiny_refer-toy.py \\
        work_dirs/cris_tiny_refer-toy/epoch_12.pth --out-file out.png

Bad input (a missing or unreadable image, an empty sentence, a missing
config or checkpoint) is reported before the model is built.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Tuple

import mmcv
from mmengine.config import DictAction
from mmengine.utils import mkdir_or_exist

from mmrefseg.apis import (BACKENDS, PRECISIONS, check_sentences,
                           inference_model, init_model)
from mmrefseg.registry import VISUALIZERS


def split_positionals(
        values: List[str]) -> Tuple[str, List[str], str, Optional[str]]:
    """IMAGE SENTENCE... CONFIG [CHECKPOINT] -> their parts.

    A checkpoint never ends in ``.py``: if the last value does, it is the
    config and there is no checkpoint; otherwise the last-but-one is the
    config and must end in ``.py``. Everything between the image and the
    config is a sentence (even one that ends in ``.py``).
    """
    if len(values) >= 3 and values[-1].endswith('.py'):
        config, checkpoint, middle = values[-1], None, values[1:-1]
    elif len(values) >= 4 and values[-2].endswith('.py'):
        config, checkpoint, middle = values[-2], values[-1], values[1:-2]
    else:
        raise ValueError(
            'expected IMAGE SENTENCE [SENTENCE ...] CONFIG [CHECKPOINT] with '
            f'a CONFIG ending in .py, got {values}')
    return values[0], list(middle), config, checkpoint


def output_files(out_file: str, num_sentences: int) -> List[str]:
    """``out.png`` for one sentence, ``out_0.png, out_1.png ...`` else."""
    if num_sentences == 1:
        return [out_file]
    stem, ext = osp.splitext(out_file)
    return [f'{stem}_{index}{ext or ".png"}' for index in range(num_sentences)]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Referring segmentation of one image',
        usage='%(prog)s IMAGE SENTENCE [SENTENCE ...] CONFIG [CHECKPOINT] '
        '[options]')
    parser.add_argument(
        'positionals',
        nargs='+',
        metavar='IMAGE SENTENCE... CONFIG [CHECKPOINT]',
        help='the image, one or more sentences, the config (.py) and '
        'optionally the checkpoint')
    parser.add_argument(
        '--out-file',
        default='result.png',
        help='picture to write; with several sentences one per sentence, '
        'the index added before the extension (default: result.png)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--opacity', type=float, default=0.5,
        help='opacity of the mask fill, in [0, 1] (default: 0.5)')
    parser.add_argument(
        '--backend', choices=BACKENDS, default='pytorch',
        help='where the model runs; onnxruntime and openvino take the file '
        'exported by tools/deployment/pytorch2onnx.py as CHECKPOINT '
        '(default: pytorch)')
    parser.add_argument(
        '--precision', choices=PRECISIONS, default='fp32',
        help='fp32, or bf16 (PyTorch: autocast; OpenVINO: its inference '
        'precision) (default: fp32)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. model.test_cfg.threshold=0.5')
    args = parser.parse_args(argv)
    try:
        args.img, args.texts, args.config, args.checkpoint = \
            split_positionals(args.positionals)
    except ValueError as error:
        parser.error(str(error))
    for path, what in ((args.img, 'image'), (args.config, 'config'),
                       (args.checkpoint, 'checkpoint')):
        if path is not None and not osp.isfile(path):
            parser.error(f'{what} file not found: {path}')
    try:
        check_sentences(args.texts)
    except ValueError as error:
        parser.error(str(error))
    # Decoded here (and kept for drawing) so that an unreadable file fails
    # before the model is built.
    image = mmcv.imread(args.img)
    if image is None:
        parser.error(f'cannot decode the image file {args.img}')
    args.image = mmcv.bgr2rgb(image)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    model = init_model(
        args.config,
        args.checkpoint,
        device=args.device,
        cfg_options=args.cfg_options,
        backend=args.backend,
        precision=args.precision)
    predictions = inference_model(model, args.img, args.texts)

    vis_cfg = dict(model.cfg.get('visualizer') or
                   dict(type='ReferLocalVisualizer'))
    vis_cfg.pop('vis_backends', None)
    vis_cfg.update(name='image_demo', alpha=args.opacity)
    visualizer = VISUALIZERS.build(vis_cfg)
    out_files = output_files(args.out_file, len(predictions))
    for index, (pred, out_file) in enumerate(zip(predictions, out_files)):
        mkdir_or_exist(osp.dirname(osp.abspath(out_file)))
        visualizer.add_datasample(
            f'sentence_{index}',
            args.image,
            pred.data_sample,
            draw_gt=False,
            out_file=out_file)
        print(f'[{index}] "{pred.text}": {int(pred.mask.sum())} pixels, '
              f'score {pred.score:.3f} -> {out_file}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
