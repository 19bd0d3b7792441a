# EAVL schedule (paper): Adam 5e-5, polynomial decay over 40 epochs; the paper
# states no encoder lr multiplier, so every parameter uses the base lr.
optimizer = dict(type='Adam', lr=5e-5, weight_decay=0.)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        by_epoch=True,
        begin=0,
        end=40,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=40, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# The paper's global batch: 8 GPUs x 4 images.
auto_scale_lr = dict(enable=False, base_batch_size=32)
