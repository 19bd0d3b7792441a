"""tools/dist_train.sh and tools/dist_test.sh with 2 processes on the CPU."""
import json
import os.path as osp
import socket
import sys

import torch

from .conftest import REPO, python_tool, run_tool


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


def dist_tool(script, *args):
    env_args = ['env', f'PORT={free_port()}', f'PYTHON={sys.executable}']
    return run_tool(
        env_args + ['bash', osp.join(REPO, 'tools', script), *args],
        timeout=300)


def test_dist_train_two_processes(tool_config, tmp_path):
    proc = dist_tool('dist_train.sh', tool_config, '2', '--work-dir',
                     str(tmp_path))
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    # The config's sync_bn is dropped on the CPU (SyncBatchNorm needs GPUs).
    assert 'SyncBatchNorm needs an accelerator' in log
    meta = torch.load(
        osp.join(tmp_path, 'epoch_1.pth'), map_location='cpu',
        weights_only=False)['meta']
    # 14 training refs over 2 processes: 7 per rank, one full batch of 4 (the
    # config drops the last, smaller one).
    assert (meta['epoch'], meta['iter']) == (1, 1)
    # Validation counted each of the 13 sentences once.
    assert 'Referring segmentation results on 13 sentences' in log


def test_dist_train_through_a_last_batch_of_one(tool_config, tmp_path):
    # 7 refs per rank in batches of 3: each rank's last batch holds one
    # sample, which the sentence BatchNorm of CRIS must train on.
    dist_tool('dist_train.sh', tool_config, '2', '--work-dir', str(tmp_path),
              '--cfg-options', 'train_dataloader.batch_size=3',
              'train_dataloader.drop_last=False')
    meta = torch.load(
        osp.join(tmp_path, 'epoch_1.pth'), map_location='cpu',
        weights_only=False)['meta']
    assert (meta['epoch'], meta['iter']) == (1, 3)


def test_dist_test_matches_single_process(tool_config, trained_checkpoint,
                                          tmp_path):
    _, checkpoint = trained_checkpoint
    # One epoch of 3 iterations leaves probabilities far below 0.5: a low
    # threshold gives partial masks, so that the comparison is not vacuous.
    options = ['--cfg-options', 'model.test_cfg.threshold=1e-6']
    single, double = str(tmp_path / 'single.json'), str(tmp_path / 'dist.json')
    python_tool('test.py', tool_config, checkpoint, '--work-dir',
                str(tmp_path / 'single'), '--out', single, *options)
    dist_tool('dist_test.sh', tool_config, checkpoint, '2', '--work-dir',
              str(tmp_path / 'dist'), '--out', double, *options)
    with open(single) as f:
        single = json.load(f)
    with open(double) as f:
        double = json.load(f)
    # 13 sentences: the distributed sampler pads one, which must not count.
    assert len(double['predictions']) == 13
    assert double['metrics'] == single['metrics']
    assert double['predictions'] == single['predictions']
    assert any(p['iou'] > 0 for p in single['predictions'])
