# LAVT Swin-B + BERT-base on RefCOCO (UNC), the public code's recipe: 480x480
# resize, 4 GPUs x 8 images, AdamW 5e-5 (weight decay 1e-2), poly decay,
# 40 epochs (paper: oIoU 72.73 / mIoU 74.46 on val).
_base_ = [
    '../_base_/models/lavt_swinb.py', '../_base_/datasets/refcoco.py',
    '../_base_/default_runtime.py', '../_base_/schedules/lavt_40e.py'
]
img_scale = (480, 480)
train_pipeline = [
    dict(type='LoadReferImage'),
    dict(type='LoadReferMask'),
    dict(type='SampleSentence'),
    dict(type='ReferResize', scale=img_scale, interpolation='bilinear'),
    dict(type='PackReferInputs'),
]
test_pipeline = [
    dict(type='LoadReferImage'),
    dict(type='ReferResize', scale=img_scale, interpolation='bilinear'),
    dict(type='LoadReferMask'),
    dict(type='PackReferInputs'),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
sync_bn = 'torch'
