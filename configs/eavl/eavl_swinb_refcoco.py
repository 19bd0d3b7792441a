# EAVL Swin-B + BERT-base on RefCOCO (UNC): 480x480 resize (as LAVT),
# 8 GPUs x 4 images, Adam 5e-5, poly decay, 40 epochs
# (paper: oIoU 75.55 / mIoU 77.08 on val).
_base_ = [
    '../_base_/models/eavl_swinb.py', '../_base_/datasets/refcoco.py',
    '../_base_/default_runtime.py', '../_base_/schedules/eavl_40e.py'
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
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
sync_bn = 'torch'
