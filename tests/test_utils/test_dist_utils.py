"""setup_distributed: gloo on CPU-only machines, nccl left to the Runner."""
import os

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config

from mmrefseg.utils import dist_utils, setup_distributed


def make_cfg(**kwargs):
    return Config(
        dict(
            env_cfg=dict(dist_cfg=dict(backend='nccl')),
            sync_bn='torch',
            **kwargs))


@pytest.fixture
def single_process_env(monkeypatch):
    """torchrun's variables for a world of one process on a free port."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    for name, value in dict(
            RANK='0',
            LOCAL_RANK='0',
            WORLD_SIZE='1',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(port)).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    yield
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def test_launcher_none_changes_nothing():
    cfg = make_cfg()
    setup_distributed(cfg, 'none')
    assert cfg.launcher == 'none'
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert cfg.sync_bn == 'torch' and 'model_wrapper_cfg' not in cfg
    assert not torch_dist.is_initialized()


def test_gpu_machine_is_left_to_the_runner(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = Config(dict(sync_bn='torch'))
    setup_distributed(cfg, 'pytorch')
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert cfg.sync_bn == 'torch' and 'model_wrapper_cfg' not in cfg
    assert not torch_dist.is_initialized()


def test_cpu_opens_a_gloo_group(single_process_env):
    cfg = make_cfg(
        find_unused_parameters=True,
        model_wrapper_cfg=dict(detect_anomalous_params=True))
    with pytest.warns(UserWarning, match='SyncBatchNorm'):
        setup_distributed(cfg, 'pytorch')
    assert torch_dist.is_initialized()
    assert torch_dist.get_backend() == 'gloo'
    assert torch_dist.get_world_size() == 1
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.sync_bn is None
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=True,
        detect_anomalous_params=True,
        device_ids=None)


def test_cpu_ddp_wraps_a_cpu_module(single_process_env):
    """The Runner's way of building the wrapper works on a CPU module."""
    from mmengine.model import BaseModel

    from mmrefseg.registry import MODEL_WRAPPERS

    class Linear(BaseModel):

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, inputs, mode='tensor'):
            return self.fc(inputs)

    cfg = make_cfg()
    setup_distributed(cfg, 'pytorch')
    wrapper_cfg = cfg.model_wrapper_cfg.to_dict()
    model = MODEL_WRAPPERS.build(
        wrapper_cfg,
        default_args=dict(module=Linear(), device_ids=[0]))
    out = model(torch.ones(3, 2))
    out.sum().backward()
    assert model.module.fc.weight.grad is not None


def test_slurm_variables_are_translated(monkeypatch):
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('SLURM_PROCID', '3')
    monkeypatch.setenv('SLURM_NTASKS', '8')
    monkeypatch.setenv('SLURM_LOCALID', '1')
    monkeypatch.setenv('MASTER_ADDR', 'node-0')
    dist_utils._export_launcher_env('slurm')
    assert (os.environ['RANK'], os.environ['WORLD_SIZE'],
            os.environ['LOCAL_RANK']) == ('3', '8', '1')
    assert os.environ['MASTER_PORT'] == '29500'


def test_mpi_variables_are_translated(monkeypatch):
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('OMPI_COMM_WORLD_RANK', '2')
    monkeypatch.setenv('OMPI_COMM_WORLD_SIZE', '4')
    monkeypatch.setenv('OMPI_COMM_WORLD_LOCAL_RANK', '0')
    monkeypatch.setenv('MASTER_ADDR', 'node-0')
    monkeypatch.setenv('MASTER_PORT', '1234')
    dist_utils._export_launcher_env('mpi')
    assert (os.environ['RANK'], os.environ['WORLD_SIZE'],
            os.environ['LOCAL_RANK'],
            os.environ['MASTER_PORT']) == ('2', '4', '0', '1234')


def test_missing_launcher_variable_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.delenv('RANK', raising=False)
    with pytest.raises(KeyError, match='RANK.*torchrun'):
        setup_distributed(make_cfg(), 'pytorch')
    assert not torch_dist.is_initialized()


def test_unknown_launcher_is_refused():
    with pytest.raises(ValueError, match='"torchrun".*pytorch'):
        setup_distributed(make_cfg(), 'torchrun')
