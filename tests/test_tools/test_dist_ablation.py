"""EAVL's "global text feature off" ablation trains under DDP (2 CPU
processes with gloo, tools/dist_train.sh), on the tiny Swin + BERT EAVL."""
import os.path as osp

import torch
from mmengine.config import Config

from tests.helpers import make_refer_data
from .conftest import REPO
from .test_dist import dist_tool

EAVL_SWIN_TOY = osp.join(REPO, 'configs', 'toy', 'eavl-swin_tiny_refer-toy.py')
# The switches of configs/eavl/ablations/eavl_swinb_no-global-text_25e_*.py
NO_GLOBAL_TEXT = ('model.neck.use_sentence=False',
                  'model.text_encoder.use_sentence=False')


def test_no_global_text_trains_on_two_processes(tmp_path):
    data_root = make_refer_data(tmp_path / 'refer', num_images=8)
    options = [f'{loader}.{key}'
               for loader in ('train_dataloader', 'val_dataloader',
                              'test_dataloader')
               for key in (f'dataset.data_root={data_root}', 'num_workers=0',
                           'persistent_workers=False')]
    options += [
        'train_dataloader.batch_size=2', 'val_dataloader.batch_size=1',
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
        *NO_GLOBAL_TEXT
    ]
    work_dir = tmp_path / 'work'
    proc = dist_tool('dist_train.sh', EAVL_SWIN_TOY, '2', '--work-dir',
                     str(work_dir), '--cfg-options', *options)
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    checkpoint = torch.load(
        work_dir / 'epoch_1.pth', map_location='cpu', weights_only=False)
    # 14 training refs over 2 processes, 2 per batch: 3 iterations (4 if the
    # loader keeps a last, short batch), each reducing every parameter's
    # gradient (a parameter without one fails the second).
    drop_last = Config.fromfile(EAVL_SWIN_TOY).train_dataloader.get(
        'drop_last', False)
    assert checkpoint['meta']['iter'] == (3 if drop_last else 4)
    state = checkpoint['state_dict']
    assert not any(k.startswith(('text_encoder.sentence_proj.',
                                 'neck.txt_proj.')) for k in state)
    assert 'Referring segmentation results on 13 sentences' in log
