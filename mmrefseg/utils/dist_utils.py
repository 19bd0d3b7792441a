"""Distributed launch that also works on machines without a GPU.

mmengine's ``init_dist`` calls ``torch.cuda.set_device`` whatever the backend,
and its Runner wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both
fail on a CPU-only machine. :func:`setup_distributed` is called by
``tools/train.py`` and ``tools/test.py`` before the Runner is built: on a GPU
it only picks the ``nccl`` backend and leaves the rest to the Runner; without a
GPU it opens the ``gloo`` process group itself (so the Runner, finding the
group initialised, skips ``init_dist``) and tells the Runner to wrap the model
with ``device_ids=None``.
"""
import datetime
import gc
import os
import subprocess
import warnings

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log

__all__ = [
    'setup_distributed', 'init_cpu_process_group', 'teardown_distributed'
]

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
DEFAULT_MASTER_PORT = '29500'


def _require_env(name: str, launcher: str) -> str:
    if name not in os.environ:
        raise KeyError(f'--launcher {launcher} needs the environment variable '
                       f'{name}, which is not set: start the job with the '
                       'matching launcher (torchrun for "pytorch", srun for '
                       '"slurm", mpirun for "mpi").')
    return os.environ[name]


def _export_launcher_env(launcher: str) -> None:
    """Translate a launcher's variables into torch's ``env://`` variables.

    torchrun already sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
    ``MASTER_PORT``; slurm and Open MPI use their own names, which are mapped
    the same way mmengine maps them for GPUs.
    """
    if launcher == 'pytorch':
        for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            _require_env(name, launcher)
        os.environ.setdefault('LOCAL_RANK', os.environ['RANK'])
        return
    if launcher == 'slurm':
        rank = _require_env('SLURM_PROCID', launcher)
        world_size = _require_env('SLURM_NTASKS', launcher)
        local_rank = os.environ.get('SLURM_LOCALID', rank)
        if 'MASTER_ADDR' not in os.environ:
            node_list = _require_env('SLURM_NODELIST', launcher)
            os.environ['MASTER_ADDR'] = subprocess.getoutput(
                f'scontrol show hostname {node_list} | head -n1')
    elif launcher == 'mpi':
        rank = _require_env('OMPI_COMM_WORLD_RANK', launcher)
        world_size = _require_env('OMPI_COMM_WORLD_SIZE', launcher)
        local_rank = os.environ.get('OMPI_COMM_WORLD_LOCAL_RANK', rank)
        _require_env('MASTER_ADDR', launcher)
    else:
        raise ValueError(f'Unknown launcher "{launcher}", expected one of '
                         f'{LAUNCHERS}.')
    os.environ.setdefault('MASTER_PORT', DEFAULT_MASTER_PORT)
    os.environ['RANK'] = rank
    os.environ['WORLD_SIZE'] = world_size
    os.environ['LOCAL_RANK'] = local_rank


def init_cpu_process_group(launcher: str, timeout: int = 1800) -> None:
    """Open a ``gloo`` process group from the launcher's environment.

    Args:
        launcher (str): ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        timeout (int): Seconds a collective waits for the other processes.
            Defaults to 1800.
    """
    if torch_dist.is_initialized():
        return
    _export_launcher_env(launcher)
    torch_dist.init_process_group(
        backend='gloo',
        init_method='env://',
        timeout=datetime.timedelta(seconds=timeout))


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Prepare ``cfg`` (and, on CPU, the process group) for ``launcher``.

    On a GPU machine this sets ``env_cfg.dist_cfg.backend`` to ``nccl`` unless
    the config chose a backend, and the Runner initialises the group itself.
    On a CPU-only machine it:

    - sets the backend to ``gloo`` and initialises the group now;
    - sets ``model_wrapper_cfg.device_ids=None`` (DDP on CPU modules must not
      get device ids), keeping the other wrapper options of the config;
    - removes ``sync_bn``: torch's SyncBatchNorm runs only on accelerators,
      so the per-process BatchNorm of the config is kept (with a warning).

    Args:
        cfg (Config): The config the Runner will be built from; edited in
            place, including ``cfg.launcher``.
        launcher (str): One of ``'none'``, ``'pytorch'``, ``'slurm'``,
            ``'mpi'``.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'Unknown launcher "{launcher}", expected one of '
                         f'{LAUNCHERS}.')
    cfg.launcher = launcher
    if launcher == 'none':
        return
    if cfg.get('env_cfg') is None:
        cfg.env_cfg = dict()
    if cfg.env_cfg.get('dist_cfg') is None:
        cfg.env_cfg.dist_cfg = dict()
    dist_cfg = cfg.env_cfg.dist_cfg
    if torch.cuda.is_available():
        dist_cfg.setdefault('backend', 'nccl')
        return

    if dist_cfg.get('backend', 'gloo') != 'gloo':
        print_log(
            f'No GPU found: the distributed backend "{dist_cfg["backend"]}" '
            'of the config is replaced by "gloo".',
            logger='current')
    dist_cfg['backend'] = 'gloo'
    init_cpu_process_group(launcher, timeout=dist_cfg.get('timeout', 1800))

    wrapper_cfg = dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_cfg.update(cfg.get('model_wrapper_cfg') or dict())
    wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg

    if cfg.get('sync_bn') is not None:
        warnings.warn('No GPU found: SyncBatchNorm needs an accelerator, so '
                      f'`sync_bn={cfg.sync_bn!r}` is ignored and every '
                      'process keeps its own BatchNorm statistics.')
        cfg.sync_bn = None


def teardown_distributed() -> None:
    """Close the process group, if any, at the end of a tool's run.

    Left open, the group's gloo threads are still running when the
    interpreter exits, and a process whose work is done can abort
    ("terminate called without an active exception"), which the launcher
    reports as a failed run. The barrier lets every rank finish first.

    Call it after dropping the tool's last reference to the runner: its DDP
    wrapper holds the group too, and a wrapper freed only at interpreter
    exit, after the group is gone, can abort the same way. The garbage
    collection here frees the runner's reference cycles while the group is
    still up.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        gc.collect()
        torch_dist.barrier()
        torch_dist.destroy_process_group()
