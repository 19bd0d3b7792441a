# LAVT's schedule (the public code's train.py): AdamW lr 5e-5, weight decay
# 1e-2, lr * (1 - iter / total) ** 0.9 per iteration over 40 epochs.
# No weight decay on the backbone's norms and relative-position tables (every
# Swin parameter with 'norm' in its name; BERT's are 'LayerNorm').
# The reference's optimizer holds BERT's encoder layers 0-9 only: the
# embeddings and layers 10-11 keep their pretrained weights (gradients still
# flow through them); lr_mult=0 does the same here.
optimizer = dict(type='AdamW', lr=5e-5, weight_decay=1e-2)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=optimizer,
    paramwise_cfg=dict(
        custom_keys={
            'norm': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'text_encoder.bert.embeddings.': dict(lr_mult=0., decay_mult=0.),
            'text_encoder.bert.encoder.layer.10.': dict(
                lr_mult=0., decay_mult=0.),
            'text_encoder.bert.encoder.layer.11.': dict(
                lr_mult=0., decay_mult=0.),
        }))
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
# The reference's global batch: 4 GPUs x 8 images.
auto_scale_lr = dict(enable=False, base_batch_size=32)
