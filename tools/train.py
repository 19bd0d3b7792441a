"""Train a referring segmentor: ``python tools/train.py CONFIG [options]``.

- ``--resume``: continue from the latest checkpoint of the work_dir
  (``--resume PATH``: from that checkpoint): epoch, iteration, optimizer,
  schedulers and message hub are restored. Without ``--resume``, a work_dir
  that already holds checkpoints is refused, so that nothing is overwritten.
- ``--amp``: mixed precision; ``AmpOptimWrapper`` (float16, dynamic loss
  scaling) on a GPU, ``CPUAmpOptimWrapper`` (bfloat16 autocast) on the CPU.
- ``--launcher pytorch`` (``tools/dist_train.sh CONFIG NPROC``), ``slurm`` or
  ``mpi``: one process per GPU with nccl; without a GPU, CPU processes with
  gloo (see :mod:`mmrefseg.utils.dist_utils`).
"""
import argparse
import glob
import logging
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmrefseg import register_all_modules
from mmrefseg.registry import RUNNERS
from mmrefseg.utils import setup_distributed, teardown_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a referring segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; without a path, from the '
        'latest checkpoint in the work_dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training (float16 with loss '
        'scaling on a GPU, bfloat16 on the CPU)')
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
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank (older); torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(path: str) -> Config:
    if not osp.isfile(path):
        sys.exit(f'error: config file "{path}" does not exist')
    return Config.fromfile(path)


def enable_amp(cfg: Config) -> None:
    """Switch ``cfg.optim_wrapper`` to mixed precision for this device."""
    wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type in ('AmpOptimWrapper', 'CPUAmpOptimWrapper'):
        print_log(
            'AMP training is already enabled in your config.',
            logger='current',
            level=logging.WARNING)
        return
    if wrapper_type != 'OptimWrapper':
        sys.exit('error: --amp needs `optim_wrapper.type="OptimWrapper"` in '
                 f'the config, got "{wrapper_type}"')
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    else:
        # mmengine's AmpOptimWrapper refuses a CPU-only machine.
        cfg.optim_wrapper.type = 'CPUAmpOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'


def configure_resume(cfg: Config, resume) -> None:
    """``--resume`` alone: the work_dir's latest checkpoint; with a path: it.

    Without ``--resume``, a work_dir that already holds checkpoints is
    refused, because a new run would overwrite them.
    """
    if resume is None:
        existing = sorted(glob.glob(osp.join(cfg.work_dir, '*.pth')))
        if existing:
            sys.exit(f'error: work_dir "{cfg.work_dir}" already holds '
                     f'checkpoints ({", ".join(map(osp.basename, existing))}'
                     '), which a new run would overwrite: pass --resume to '
                     'continue that run, or choose another --work-dir')
        cfg.resume = False
    elif resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    else:
        if not osp.isfile(resume):
            sys.exit(f'error: --resume checkpoint "{resume}" does not exist')
        cfg.resume = True
        cfg.load_from = resume


def main(argv=None):
    args = parse_args(argv)
    register_all_modules()

    cfg = load_config(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        enable_amp(cfg)
    configure_resume(cfg, args.resume)
    setup_distributed(cfg, args.launcher)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()
    del runner  # before the process group: see teardown_distributed
    teardown_distributed()


if __name__ == '__main__':
    main()
