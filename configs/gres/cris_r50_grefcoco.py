# CRIS R50 with a no-target branch on gRefCOCO (GRES, UNC splits): the CRIS
# recipe of configs/cris/cris_r50_refcoco.py (8 GPUs x 8 images, 50 epochs,
# SyncBN, 416 letterbox) on gRefCOCO's expressions; an empty mask is the
# target of a no-target expression, and NoTargetClassifier, trained next to
# the mask loss, decides "no target" from the decoder's output, the mask
# logits and the sentence feature (README, GRES).
# ReLA Swin-B on val (CVPR 2023): gIoU 63.60, cIoU 62.42, N-acc 56.37.
_base_ = [
    '../_base_/models/cris_r50.py', '../_base_/datasets/grefcoco.py',
    '../_base_/default_runtime.py', '../_base_/schedules/cris_50e.py'
]
model = dict(
    decode_head=dict(
        no_target_classifier=dict(
            type='NoTargetClassifier',
            in_channels=512,  # the decoder's width
            sentence_channels=1024,  # CLIP RN50's sentence feature
            hidden_channels=256,
            threshold=0.5,
            loss_weight=1.0)))
sync_bn = 'torch'
train_dataloader = dict(batch_size=8)
# GReferMetric reports no mIoU: the best checkpoint is kept by gIoU.
default_hooks = dict(checkpoint=dict(save_best='gIoU'))
