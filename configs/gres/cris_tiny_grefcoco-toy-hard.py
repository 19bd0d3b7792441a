# The tiny GRES CRIS of ./cris_tiny_grefcoco-toy.py on the harder generated
# data (generate_refer_data.py --hard: textured coloured backgrounds, 4-7
# shapes sharing colours and shapes, shapes from 1/12 of the short side up).
# Recipe: the base config's, plus a Dice loss beside its pixel loss (small
# objects weigh as much as large ones), for 12 epochs: the GRES set has about
# twice the refs of the refer set, so 12 epochs are about as many iterations as
# the tiny CRIS's 24. Figures: docs/gres.md.
#   python tools/dataset_converters/generate_refer_data.py \
#       data/grefer_toy_hard --hard --gres
#   python tools/train.py configs/gres/cris_tiny_grefcoco-toy-hard.py
_base_ = './cris_tiny_grefcoco-toy.py'
data_root = 'data/grefer_toy_hard'
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='TextPixelContrastiveLoss', loss_weight=1.0),
        dict(type='DiceLoss', use_sigmoid=True, loss_weight=1.0)
    ]))
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
max_epochs = 12
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[10],
        gamma=0.1)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
