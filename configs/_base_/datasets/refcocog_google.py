# RefCOCOg, Google splits (train / val: no public test split, val serves as
# both), CRIS's 416x416 letterbox: RefCOCO's pipelines and loaders, another
# dataset.
_base_ = './refcoco.py'
train_dataloader = dict(dataset=dict(dataset='refcocog', split_by='google'))
val_dataloader = dict(dataset=dict(dataset='refcocog', split_by='google'))
test_dataloader = val_dataloader
