"""Generated refer data and a tiny-model config for the tool tests."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from tests.helpers import make_refer_data

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_CONFIG = osp.join(REPO, 'configs', 'toy', 'cris_tiny_refer-toy.py')

# The toy config at 64 px, without worker processes, one epoch; the val/test
# batch is 1 so that every process computes each sample exactly alike.
TEST_CONFIG = """
_base_ = {base!r}
data_root = {data_root!r}
img_scale = (64, 64)
letterbox = dict(type='LetterboxResize', scale=img_scale,
                 pad_val=(104.0937, 116.7460, 122.7709),
                 interpolation='bicubic')
train_pipeline = [
    dict(type='LoadReferImage'), dict(type='LoadReferMask'),
    dict(type='SampleSentence'), letterbox, dict(type='PackReferInputs')]
test_pipeline = [
    dict(type='LoadReferImage'), letterbox, dict(type='LoadReferMask'),
    dict(type='PackReferInputs')]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
"""


def run_tool(args, cwd=REPO, timeout=120, check=True):
    """Run a tool in a fresh interpreter; return the CompletedProcess."""
    # One thread per process: the tiny models gain nothing from more, and
    # several processes (torchrun, a busy CI machine) must not oversubscribe
    # the cores.
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} exited with {proc.returncode}:\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc


def python_tool(script, *args, **kwargs):
    return run_tool([sys.executable, osp.join(REPO, 'tools', script), *args],
                    **kwargs)


@pytest.fixture(scope='package', autouse=True)
def mmrefseg_scope():
    """Config-built modules resolve in mmrefseg's scope, as in the tools."""
    from mmrefseg import register_all_modules
    register_all_modules()


@pytest.fixture(scope='package')
def tool_config(tmp_path_factory):
    """Path of a tiny-CRIS config on freshly generated refer data."""
    root = tmp_path_factory.mktemp('tools')
    data_root = make_refer_data(root / 'refer', num_images=8)
    path = root / 'cris_tiny_test.py'
    path.write_text(TEST_CONFIG.format(base=TOY_CONFIG, data_root=data_root))
    return str(path)


@pytest.fixture(scope='package')
def trained_checkpoint(tool_config, tmp_path_factory):
    """(work_dir, checkpoint) of one epoch of tools/train.py."""
    work_dir = str(tmp_path_factory.mktemp('trained'))
    python_tool('train.py', tool_config, '--work-dir', work_dir)
    return work_dir, osp.join(work_dir, 'epoch_1.pth')
