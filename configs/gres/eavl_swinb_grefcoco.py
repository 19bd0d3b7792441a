# EAVL Swin-B + BERT-base with a no-target branch on gRefCOCO (GRES): the
# recipe of configs/eavl/eavl_swinb_refcoco.py (480x480 resize, 8 GPUs x 4
# images, Adam 5e-5, poly decay, 40 epochs). NoTargetClassifier reads the
# fused map, the aligner's mask logits and the BERT sentence feature.
# ReLA Swin-B on val (CVPR 2023): gIoU 63.60, cIoU 62.42, N-acc 56.37.
_base_ = [
    '../_base_/models/eavl_swinb.py', '../_base_/datasets/grefcoco.py',
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
model = dict(
    decode_head=dict(
        no_target_classifier=dict(
            type='NoTargetClassifier',
            in_channels=512,  # the fused map's width
            sentence_channels=768,  # BERT-base's sentence feature
            hidden_channels=256,
            threshold=0.5,
            loss_weight=1.0)))
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
sync_bn = 'torch'
# GReferMetric reports no mIoU: the best checkpoint is kept by gIoU.
default_hooks = dict(checkpoint=dict(save_best='gIoU'))
