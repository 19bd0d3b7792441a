# RefCOCO+ (UNC splits: train / val / testA / testB; no location words),
# CRIS's 416x416 letterbox: RefCOCO's pipelines and loaders, another dataset.
_base_ = './refcoco.py'
train_dataloader = dict(dataset=dict(dataset='refcoco+'))
val_dataloader = dict(dataset=dict(dataset='refcoco+'))
test_dataloader = val_dataloader
