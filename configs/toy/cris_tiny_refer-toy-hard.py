# The tiny CRIS of ./cris_tiny_refer-toy.py on the harder generated data
# (generate_refer_data.py --hard: textured coloured backgrounds, 4-7 shapes
# sharing colours and shapes, shapes from 1/12 of the short side up). Recipe:
# the base config's, plus a Dice loss beside its pixel loss (small objects
# weigh as much as large ones), for 24 epochs, twice the base recipe's 12
# over 1.8x the objects: the tiny CLIP ResNet learns to tell shapes of one
# colour apart slowly (at 8 epochs it stayed below the largest-object
# baseline). Figures: docs/generated_data.md.
#   python tools/dataset_converters/generate_refer_data.py \
#       data/refer_toy_hard --hard
#   python tools/train.py configs/toy/cris_tiny_refer-toy-hard.py
_base_ = './cris_tiny_refer-toy.py'
data_root = 'data/refer_toy_hard'
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='TextPixelContrastiveLoss', loss_weight=1.0),
        dict(type='DiceLoss', use_sigmoid=True, loss_weight=1.0)
    ]))
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
max_epochs = 24
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[20],
        gamma=0.1)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
