"""Test a referring segmentor: ``python tools/test.py CONFIG CHECKPOINT``.

``--backend onnxruntime`` or ``--backend openvino`` evaluates a model
exported by ``tools/deployment/pytorch2onnx.py`` (CHECKPOINT is then the
``.onnx`` file) with the same data pipeline, tokenizer, post-processing and
metrics; ``--precision bf16`` runs it in bf16 (OpenVINO's inference
precision; for PyTorch, autocast).

Outputs, none of which replaces an existing file:

- the metrics of the config's ``test_evaluator`` (logged, and kept under
  ``<work_dir>/<timestamp>/``);
- ``--out FILE`` (``.pkl``, ``.pickle`` or ``.json``): ``dict(config,
  checkpoint, metrics, predictions)`` where ``predictions`` holds one record
  per sentence in dataset order: ``img_path``, ``image_id``, ``ref_id``,
  ``sent_id``, ``text``, ``iou`` and ``pred_mask`` (COCO RLE at the original
  image size, ``counts`` as a str). An existing FILE is refused;
- ``--show-dir DIR``: one picture per sentence, ``<image_id>_<sent_id>.jpg``
  (prediction filled, ground truth outlined, sentence and IoU printed). A
  relative DIR is created under ``<work_dir>/<timestamp>/``; an absolute DIR
  that already holds files is refused.

Multi-process: ``tools/dist_test.sh CONFIG CHECKPOINT NPROC`` (GPUs or CPU);
every sentence is counted once, so the numbers equal a single-process run.
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.dist import get_rank
from mmengine.fileio import dump
from mmengine.runner import Runner

from mmrefseg import register_all_modules
from mmrefseg.apis import BACKENDS, PRECISIONS
from mmrefseg.evaluation.metrics import DumpReferResults
from mmrefseg.registry import RUNNERS
from mmrefseg.utils import setup_distributed, teardown_distributed

OUT_SUFFIXES = ('.pkl', '.pickle', '.json')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a referring segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        help='dump the metrics and every sentence\'s predicted mask (COCO '
        'RLE) to this .pkl/.pickle/.json file; an existing file is never '
        'overwritten')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved, one per '
        'sentence, named <image_id>_<sent_id>.jpg. A relative path is taken '
        'under work_dir/timestamp/')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--backend',
        choices=BACKENDS,
        default='pytorch',
        help='where the model runs; onnxruntime and openvino take the file '
        'exported by tools/deployment/pytorch2onnx.py as CHECKPOINT')
    parser.add_argument(
        '--precision',
        choices=PRECISIONS,
        default='fp32',
        help='fp32, or bf16 (PyTorch: autocast; OpenVINO: its inference '
        'precision)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def check_paths(args) -> None:
    """Fail before any work on a path that is missing or already taken."""
    if not osp.isfile(args.config):
        sys.exit(f'error: config file "{args.config}" does not exist')
    if not osp.isfile(args.checkpoint):
        sys.exit(f'error: checkpoint "{args.checkpoint}" does not exist')
    if args.out is not None:
        if not args.out.endswith(OUT_SUFFIXES):
            sys.exit(f'error: --out "{args.out}" must end with one of '
                     f'{", ".join(OUT_SUFFIXES)}')
        if osp.exists(args.out):
            sys.exit(f'error: --out "{args.out}" already exists; it is not '
                     'overwritten: remove it or choose another path')
    if args.show_dir is not None and osp.isabs(args.show_dir) \
            and osp.isdir(args.show_dir) and os.listdir(args.show_dir):
        sys.exit(f'error: --show-dir "{args.show_dir}" is not empty; its '
                 'pictures could be overwritten: choose a new directory')


def trigger_visualization_hook(cfg: Config, args) -> None:
    if cfg.get('default_hooks') is None:
        cfg.default_hooks = dict()
    if cfg.default_hooks.get('visualization') is None:
        cfg.default_hooks.visualization = dict(type='ReferVisualizationHook')
    hook = cfg.default_hooks.visualization
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        hook['test_out_dir'] = args.show_dir


def use_backend(cfg: Config, args) -> None:
    """Points the config's model at the checkpoint in the chosen backend."""
    if args.backend == 'pytorch':
        cfg.load_from = args.checkpoint
        if args.precision == 'bf16':
            # mmengine's TestLoop autocasts with fp16=True: to bf16 on the
            # CPU, to torch's autocast dtype on a GPU.
            cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)
            if torch.cuda.is_available():
                torch.set_autocast_dtype('cuda', torch.bfloat16)
        return
    cfg.model = dict(
        type='DeployedReferSegmentor',
        model=cfg.model,
        backend=args.backend,
        backend_file=args.checkpoint,
        precision=args.precision)
    cfg.load_from = None


def main(argv=None):
    args = parse_args(argv)
    check_paths(args)
    register_all_modules()

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    use_backend(cfg, args)
    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)
    setup_distributed(cfg, args.launcher)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)

    dump_metric = None
    if args.out is not None:
        dump_metric = DumpReferResults()
        runner.test_evaluator.metrics.append(dump_metric)
    metrics = runner.test()

    if dump_metric is not None and get_rank() == 0:
        out_dir = osp.dirname(osp.abspath(args.out))
        os.makedirs(out_dir, exist_ok=True)
        dump(
            dict(
                config=osp.abspath(args.config),
                checkpoint=osp.abspath(args.checkpoint),
                metrics=metrics,
                predictions=dump_metric.records), args.out)
        runner.logger.info(f'Metrics and {len(dump_metric.records)} '
                           f'predictions written to {args.out}')
    del runner  # before the process group: see teardown_distributed
    teardown_distributed()


if __name__ == '__main__':
    main()
