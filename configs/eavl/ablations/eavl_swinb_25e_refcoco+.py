# The paper's ablation protocol (EAVL section IV-D): RefCOCO+ val, 25 epochs.
# This is the full model (Nq = 24, Vision-Language Aligner with the
# Multi-Query Estimator, global vision and text features): the "24" row of
# Table II, the "24 Aligner" row of Table III and the all-on row of Table IV
# (mIoU 64.85). The other files of this folder change one thing each;
# docs/ablations.md maps every file to its table and row.
_base_ = '../eavl_swinb_refcoco+.py'
max_epochs = 25
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
