# The tiny LAVT of ./lavt_tiny_refer-toy.py on the harder generated data
# (generate_refer_data.py --hard: textured coloured backgrounds, 4-7 shapes
# sharing colours and shapes, shapes from 1/12 of the short side up). Recipe:
# the base config's, plus a Dice loss beside its pixel loss (small objects
# weigh as much as large ones), for 12 epochs: LAVT's language-aware encoder
# learns the hard set in fewer passes than the other models. Figures:
# docs/generated_data.md.
#   python tools/dataset_converters/generate_refer_data.py \
#       data/refer_toy_hard --hard
#   python tools/train.py configs/toy/lavt_tiny_refer-toy-hard.py
_base_ = './lavt_tiny_refer-toy.py'
data_root = 'data/refer_toy_hard'
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='TwoClassCrossEntropyLoss', class_weight=(0.9, 1.1)),
        dict(type='DiceLoss', use_sigmoid=True, loss_weight=1.0)
    ]))
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
max_epochs = 12
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
