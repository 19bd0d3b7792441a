"""tools/train.py killed with SIGKILL at a random point, then ``--resume``d,
ends exactly where the uninterrupted run with the same seed ends."""
import os
import os.path as osp
import random
import re
import signal
import subprocess
import sys

import pytest
import torch

from .conftest import REPO

EPOCHS = 3
ITERS_PER_EPOCH = 3  # 14 training refs, batch 4, the last 2 dropped
# Validation every epoch and a best checkpoint, so that resuming restores the
# best-checkpoint bookkeeping too.
OPTIONS = [
    '--cfg-options', f'train_cfg.max_epochs={EPOCHS}',
    'train_cfg.val_interval=1', 'default_hooks.checkpoint.save_best=mIoU'
]
VAL_LINE = re.compile(r'Epoch\(val\) \[(\d+)\]\[\d+/\d+\]\s+oIoU: ([\d.]+)'
                      r'\s+mIoU: ([\d.]+)')
TRAIN_LINE = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/')


def train_command(config, work_dir, *extra):
    return [
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'), config, '--work-dir', work_dir,
        *extra, *OPTIONS
    ]


def run(command):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def final_metrics(log):
    return [m.groups() for m in VAL_LINE.finditer(log)][-1]


def kill_at(command, epoch, iteration):
    """Start ``command`` and SIGKILL it once it logs ``[epoch][iteration/``.

    Returns:
        str: What it logged.
    """
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    log = []
    for line in proc.stdout:
        log.append(line)
        match = TRAIN_LINE.search(line)
        if match and (int(match[1]), int(match[2])) == (epoch, iteration):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, ''.join(log)[-4000:]
    return ''.join(log)


@pytest.fixture(scope='module')
def uninterrupted(tool_config, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('uninterrupted'))
    log = run(train_command(tool_config, work_dir))
    return work_dir, log


def test_killed_run_resumes_to_the_same_result(tool_config, uninterrupted,
                                               tmp_path):
    # Any iteration after the first epoch's checkpoint, but the last.
    epoch, iteration = random.choice(
        [(e, i) for e in range(2, EPOCHS + 1)
         for i in range(1, ITERS_PER_EPOCH + 1)][:-1])
    where = f'killed at epoch {epoch}, iteration {iteration}'
    work_dir = str(tmp_path / 'killed')
    kill_at(train_command(tool_config, work_dir), epoch, iteration)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        last = f.read().strip()
    # The checkpoint of the last finished epoch, complete.
    assert osp.basename(last) == f'epoch_{epoch - 1}.pth', where
    checkpoint = torch.load(last, map_location='cpu', weights_only=False)
    assert checkpoint['meta']['epoch'] == epoch - 1, where
    assert not [f for f in os.listdir(work_dir) if f.endswith('.tmp')]

    dump = str(tmp_path / 'resumed_state.pth')
    resumed_config = tmp_path / 'resumed.py'
    resumed_config.write_text(
        f'_base_ = {tool_config!r}\n'
        "custom_imports = dict(imports=['tests.test_tools.state_dump_hook'])\n"
        f"custom_hooks = [dict(type='TestOnlyStateDumpHook', path={dump!r})]\n"
    )
    log = run(train_command(str(resumed_config), work_dir, '--resume'))
    assert f'resumed epoch: {epoch - 1}' in log, where

    # The resumed run starts from exactly the checkpoint's state.
    state = torch.load(dump, map_location='cpu', weights_only=False)
    for key, value in checkpoint['state_dict'].items():
        assert torch.equal(state['state_dict'][key], value), (where, key)
    assert _same_nested(state['optimizer'], checkpoint['optimizer']), where
    assert _same_nested(state['param_schedulers'],
                        checkpoint['param_schedulers']), where
    assert (state['epoch'], state['iter']) == (
        epoch - 1, (epoch - 1) * ITERS_PER_EPOCH), where

    # ... and ends where the uninterrupted run ends, bit for bit.
    reference_dir, reference_log = uninterrupted
    assert final_metrics(log) == final_metrics(reference_log), where
    final = f'epoch_{EPOCHS}.pth'
    ours = torch.load(osp.join(work_dir, final), weights_only=False)
    theirs = torch.load(osp.join(reference_dir, final), weights_only=False)
    for key, value in theirs['state_dict'].items():
        assert torch.equal(ours['state_dict'][key], value), (where, key)
    assert _same_nested(ours['optimizer'], theirs['optimizer']), where
    assert ours['message_hub']['runtime_info']['best_score'] == theirs[
        'message_hub']['runtime_info']['best_score'], where
    # Exactly one best checkpoint, the uninterrupted run's.
    best = sorted(f for f in os.listdir(work_dir) if f.startswith('best_'))
    assert best == sorted(
        f for f in os.listdir(reference_dir) if f.startswith('best_')), where


def _same_nested(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(_same_nested(a[k], b[k]) for k in a))
    if isinstance(a, (list, tuple)):
        return (isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(_same_nested(x, y) for x, y in zip(a, b)))
    return a == b
