# CRIS R101 on RefCOCO (UNC): 8 GPUs x 8 images, 50 epochs, SyncBN
# (paper: mIoU 70.47 on val).
_base_ = [
    '../_base_/models/cris_r101.py', '../_base_/datasets/refcoco.py',
    '../_base_/default_runtime.py', '../_base_/schedules/cris_50e.py'
]
# The reference converts every BatchNorm to SyncBatchNorm under DDP; the
# Runner does so only in a distributed run (a single process keeps BN).
sync_bn = 'torch'
train_dataloader = dict(batch_size=8)
