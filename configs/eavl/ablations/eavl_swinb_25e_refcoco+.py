# The paper's ablation protocol (EAVL, Tables II-IV): RefCOCO+ val, 25 epochs.
# This is the full model (Nq = 24, estimator, global vision and text
# features); the other files of this folder change one switch each.
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
