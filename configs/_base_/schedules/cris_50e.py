# CRIS reference schedule: Adam 1e-4 without weight decay, 50 epochs, lr x0.1
# after epoch 35. The CLIP image and text encoders learn at 0.1x, except their
# positional embeddings (the attention pool's and the text one): mmengine
# matches custom_keys as substrings, longest key first, so
# 'positional_embedding' wins over 'backbone.' / 'text_encoder.'.
# (The reference's torch scheduler leaves the encoders at 1x during the first
# epoch only, an artefact of building param groups with `initial_lr` alone;
# this schedule applies the intended 0.1x from the start.)
optimizer = dict(type='Adam', lr=1e-4, weight_decay=0.)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=optimizer,
    paramwise_cfg=dict(
        custom_keys={
            'backbone.': dict(lr_mult=0.1),
            'text_encoder.': dict(lr_mult=0.1),
            'positional_embedding': dict(lr_mult=1.0),
        }))
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=50,
        milestones=[35],
        gamma=0.1)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# The reference's global batch: 8 GPUs x 8 images.
auto_scale_lr = dict(enable=False, base_batch_size=64)
