# A tiny CRIS (same modules as cris_r50, small widths, random weights) on the
# generated refer data: trains on a 2-core CPU in minutes and must beat the
# largest-object baseline (tools/analysis_tools/largest_object_baseline.py).
#   python tools/dataset_converters/generate_refer_data.py data/refer_toy
#   python tools/train.py configs/toy/cris_tiny_refer-toy.py
_base_ = [
    '../_base_/models/cris_r50.py', '../_base_/datasets/refer_toy.py',
    '../_base_/default_runtime.py', '../_base_/schedules/cris_50e.py'
]
text_width = 64
img_size = 128  # as img_scale of _base_/datasets/refer_toy.py
model = dict(
    backbone=dict(
        layers=(1, 1, 1, 1),
        width=16,
        output_dim=128,
        heads=4,
        image_size=img_size,
        pretrained=None),
    text_encoder=dict(
        context_length=12,
        width=text_width,
        heads=4,
        layers=2,
        embed_dim=128,
        pretrained=None),
    neck=dict(
        in_channels=(128, 256, 128),
        out_channels=(32, text_width, 128),
        sentence_channels=128),
    decode_head=dict(
        in_channels=text_width,
        text_channels=128,
        num_layers=1,
        num_heads=4,
        feedforward_channels=128,
        dropout=0.0,
        proj_channels=32))

# Random weights: every module at the same, higher learning rate.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.))
max_epochs = 12
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[9],
        gamma=0.1)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best=None))
randomness = dict(seed=0)
# As the full configs: SyncBN in multi-GPU runs (one process keeps BN; without
# a GPU, tools/train.py drops it).
sync_bn = 'torch'
