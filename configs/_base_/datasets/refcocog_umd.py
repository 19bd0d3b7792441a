# RefCOCOg, UMD splits (train / val / test), CRIS's 416x416 letterbox:
# RefCOCO's pipelines and loaders, another dataset. Evaluate the test split
# with --cfg-options test_dataloader.dataset.split=test
_base_ = './refcoco.py'
train_dataloader = dict(dataset=dict(dataset='refcocog', split_by='umd'))
val_dataloader = dict(dataset=dict(dataset='refcocog', split_by='umd'))
test_dataloader = val_dataloader
