"""tools/train.py: a real run, resuming after a crash, AMP and CLI errors."""
import glob
import importlib.util
import math
import os.path as osp
import re

import pytest
import torch

from .conftest import REPO, python_tool

TOY_CONFIG_NAME = 'cris_tiny_refer-toy.py'


def load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'tool_{name}', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkpoint_meta(path):
    return torch.load(path, map_location='cpu', weights_only=False)['meta']


@pytest.fixture(scope='module')
def train_tool():
    return load_tool('train')


def test_train_one_epoch(trained_checkpoint):
    work_dir, checkpoint = trained_checkpoint
    meta = checkpoint_meta(checkpoint)
    # 14 training refs of the generated data, batch 4, the last batch
    # dropped: 3 iterations.
    assert (meta['epoch'], meta['iter']) == (1, 3)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip() == checkpoint
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    assert any(k.startswith('decode_head.proj.') for k in state['state_dict'])
    assert state['optimizer']['param_groups'][0]['lr'] == pytest.approx(1e-3)


def test_every_config_drops_the_last_training_batch():
    from mmengine.config import Config
    configs = sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                               recursive=True))
    configs = [c for c in configs if '_base_' not in c]
    assert len(configs) > 20
    for path in configs:
        cfg = Config.fromfile(path)
        assert cfg.train_dataloader.get('drop_last') is True, path


@pytest.mark.parametrize('config', [
    'cris_tiny_refer-toy.py', 'cris-aligner_tiny_refer-toy.py',
    'eavl_tiny_refer-toy.py', 'eavl-swin_tiny_refer-toy.py'
])
def test_tiny_configs_train_through_a_last_batch_of_one(
        config, tool_config, tmp_path):
    # 14 training refs in batches of 13, the last batch kept: one sample.
    # The tool config (generated data) on each tiny model, at the toy size
    # the EAVL heads are built for.
    test_config = tmp_path / 'config.py'
    with open(tool_config) as f:
        test_config.write_text(f.read().replace(
            TOY_CONFIG_NAME, config).replace('(64, 64)', '(128, 128)'))
    python_tool('train.py', str(test_config), '--work-dir', str(tmp_path),
                '--cfg-options', 'train_dataloader.batch_size=13',
                'train_dataloader.drop_last=False', 'train_cfg.val_interval=2')
    meta = checkpoint_meta(osp.join(tmp_path, 'epoch_1.pth'))
    assert (meta['epoch'], meta['iter']) == (1, 2)


def test_a_broken_image_mid_epoch_stops_naming_it(tmp_path):
    from tests.helpers import make_refer_data

    from .conftest import TEST_CONFIG, TOY_CONFIG
    data_root = make_refer_data(tmp_path / 'refer', num_images=8)
    from mmrefseg.datasets import ReferDataset
    train_set = ReferDataset(data_root=data_root, split='train')
    broken = train_set.get_data_info(len(train_set) // 2)['img_path']
    with open(broken, 'r+b') as f:
        f.truncate(100)
    config = tmp_path / 'config.py'
    config.write_text(TEST_CONFIG.format(base=TOY_CONFIG, data_root=data_root))
    # Loaded in a worker process, as in a real run.
    proc = python_tool('train.py', str(config), '--work-dir',
                       str(tmp_path / 'work_dir'), '--cfg-options',
                       'train_dataloader.num_workers=1', check=False)
    assert proc.returncode != 0
    assert re.search(r'OSError: Cannot load ref \d+ \(image ' +
                     re.escape(broken), proc.stderr), proc.stderr[-3000:]


def test_resume_after_crash(tool_config, train_tool, tmp_path):
    work_dir = str(tmp_path / 'work_dir')
    # Die abruptly in epoch 2 (iteration 5 of 3 per epoch): the work_dir keeps
    # only epoch_1.pth, as after a crash or a killed job.
    crash_config = tmp_path / 'crash.py'
    crash_config.write_text(
        f'_base_ = {tool_config!r}\n'
        "custom_imports = dict(imports=['tests.test_tools.crash_hook'])\n"
        "custom_hooks = [dict(type='TestOnlyCrashHook', crash_iter=5)]\n")
    crashed = python_tool(
        'train.py', str(crash_config), '--work-dir', work_dir,
        '--cfg-options', 'train_cfg.max_epochs=3', 'train_cfg.val_interval=3',
        check=False)
    assert crashed.returncode == 17, crashed.stderr[-3000:]
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))
    assert checkpoint_meta(osp.join(work_dir, 'epoch_1.pth'))['iter'] == 3

    # A new run in the same work_dir without --resume would overwrite it.
    with pytest.raises(SystemExit, match=r'epoch_1\.pth.*--resume'):
        train_tool.main([tool_config, '--work-dir', work_dir])

    resumed = python_tool('train.py', tool_config, '--work-dir', work_dir,
                          '--resume', '--cfg-options',
                          'train_cfg.max_epochs=3', 'train_cfg.val_interval=3')
    log = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 1, iter: 3' in log
    assert 'Epoch(train) [1]' not in log and 'Epoch(train) [2][1/3]' in log
    meta = checkpoint_meta(osp.join(work_dir, 'epoch_3.pth'))
    assert (meta['epoch'], meta['iter']) == (3, 9)


def test_resume_from_given_checkpoint(tool_config, trained_checkpoint,
                                      tmp_path):
    _, checkpoint = trained_checkpoint
    resumed = python_tool('train.py', tool_config, '--work-dir',
                          str(tmp_path), '--resume', checkpoint,
                          '--cfg-options', 'train_cfg.max_epochs=2',
                          'train_cfg.val_interval=2')
    assert 'resumed epoch: 1, iter: 3' in resumed.stdout + resumed.stderr
    meta = checkpoint_meta(osp.join(tmp_path, 'epoch_2.pth'))
    assert (meta['epoch'], meta['iter']) == (2, 6)


def test_amp_trains_in_bfloat16_on_cpu(tool_config, tmp_path):
    proc = python_tool('train.py', tool_config, '--work-dir', str(tmp_path),
                       '--amp', '--cfg-options', 'train_cfg.val_interval=2')
    losses = [
        float(value) for value in re.findall(r' loss: ([-+.\deE]+|nan|inf)',
                                             proc.stdout + proc.stderr)
    ]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    checkpoint = torch.load(
        osp.join(tmp_path, 'epoch_1.pth'), map_location='cpu',
        weights_only=False)
    # The AMP wrapper's state (its switched-off loss scaler) is saved.
    assert 'loss_scaler' in checkpoint['optimizer']
    dumped = open(osp.join(tmp_path, osp.basename(tool_config))).read()
    assert "type='CPUAmpOptimWrapper'" in dumped
    assert "dtype='bfloat16'" in dumped


def test_missing_config_is_reported(train_tool):
    with pytest.raises(SystemExit, match='no_such_config.py'):
        train_tool.main(['no_such_config.py'])


def test_missing_resume_checkpoint_is_reported(train_tool, tool_config,
                                               tmp_path):
    with pytest.raises(SystemExit, match='missing.pth.*does not exist'):
        train_tool.main([
            tool_config, '--work-dir',
            str(tmp_path), '--resume',
            str(tmp_path / 'missing.pth')
        ])


def test_enable_amp_picks_the_wrapper_of_the_device(train_tool, monkeypatch):
    from mmengine.config import Config
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    train_tool.enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'

    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    train_tool.enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'

    cfg = Config(dict(optim_wrapper=dict(type='ApexOptimWrapper')))
    with pytest.raises(SystemExit, match='ApexOptimWrapper'):
        train_tool.enable_amp(cfg)
