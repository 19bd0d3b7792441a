# CRIS R101 with a no-target branch on gRefCOCO (GRES): as
# cris_r50_grefcoco.py, on CLIP RN101 (512-d sentence feature).
_base_ = [
    '../_base_/models/cris_r101.py', '../_base_/datasets/grefcoco.py',
    '../_base_/default_runtime.py', '../_base_/schedules/cris_50e.py'
]
model = dict(
    decode_head=dict(
        no_target_classifier=dict(
            type='NoTargetClassifier',
            in_channels=512,
            sentence_channels=512,
            hidden_channels=256,
            threshold=0.5,
            loss_weight=1.0)))
sync_bn = 'torch'
train_dataloader = dict(batch_size=8)
# GReferMetric reports no mIoU: the best checkpoint is kept by gIoU.
default_hooks = dict(checkpoint=dict(save_best='gIoU'))
