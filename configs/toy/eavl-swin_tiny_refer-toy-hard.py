# The tiny Swin + BERT EAVL of ./eavl-swin_tiny_refer-toy.py on the harder
# generated data (generate_refer_data.py --hard: textured coloured backgrounds,
# 4-7 shapes sharing colours and shapes, shapes from 1/12 of the short side
# up). Recipe: a Dice loss beside the pixel loss (small objects weigh as much
# as large ones), and Adam at a constant 2.5e-4 after the warm-up, x0.1 for
# the last 4 of 24 epochs, as the CLIP-ResNet models' hard recipe. The base
# recipe's 1e-3 with polynomial decay stayed below the largest-object
# baseline even over 40 epochs; constant rates of 1e-3, 5e-4 and 1e-4 learnt
# more slowly than 2.5e-4.
# Figures: docs/generated_data.md.
#   python tools/dataset_converters/generate_refer_data.py \
#       data/refer_toy_hard --hard
#   python tools/train.py configs/toy/eavl-swin_tiny_refer-toy-hard.py
_base_ = './eavl-swin_tiny_refer-toy.py'
data_root = 'data/refer_toy_hard'
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='TextPixelContrastiveLoss', loss_weight=1.0),
        dict(type='DiceLoss', use_sigmoid=True, loss_weight=1.0)
    ]))
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=2.5e-4))
max_epochs = 24
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[20],
        gamma=0.1)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
