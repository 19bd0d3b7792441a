_base_ = [
    '../_base_/models/cris_r101.py', '../_base_/datasets/refcoco+.py',
    '../_base_/default_runtime.py', '../_base_/schedules/cris_50e.py'
]
sync_bn = 'torch'
train_dataloader = dict(batch_size=8)
