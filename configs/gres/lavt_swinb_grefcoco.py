# LAVT Swin-B + BERT-base with a no-target branch on gRefCOCO (GRES, UNC
# splits): the recipe of configs/lavt/lavt_swinb_refcoco.py unchanged (480x480
# resize, 4 GPUs x 8 images, AdamW 5e-5 with weight decay 1e-2, poly decay,
# 40 epochs, 20 tokens, argmax threshold 0.5), so that the GRES run differs
# from the RefCOCO one only by its data and the no-target branch; the
# dataset and metric are those of _base_/datasets/grefcoco.py (an empty mask
# is the target of a no-target expression; ReLA's gIoU, cIoU, N-acc, T-acc,
# Pr@X). NoTargetClassifier reads the decoder's stride-4 map (the 512-d
# fusion output the mask is read from), the mask logits and the mean of
# BERT's word features: LAVT's text encoder has no sentence projection, and
# the mean adds no parameters to it (README, GRES).
# The best checkpoint is kept by gIoU: GReferMetric reports no mIoU.
# ReLA Swin-B on val (CVPR 2023): gIoU 63.60, cIoU 62.42, N-acc 56.37.
_base_ = '../lavt/lavt_swinb_refcoco.py'
# as _base_/datasets/grefcoco.py, which cannot be a second base here (the
# LAVT config already defines the dataloaders from refcoco.py)
dataset_type = 'GReferDataset'
model = dict(
    decode_head=dict(
        no_target_classifier=dict(
            type='NoTargetClassifier',
            in_channels=512,  # the decoder's width (channels)
            sentence_channels=768,  # BERT-base's hidden states, pooled
            hidden_channels=256,
            threshold=0.5,
            loss_weight=1.0)))
train_dataloader = dict(
    dataset=dict(type=dataset_type, dataset='grefcoco', split_by='unc'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, dataset='grefcoco', split_by='unc'))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='GReferMetric')
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='gIoU'))
