# LAVT Swin-B on G-Ref (UMD) (paper: oIoU 61.24 / mIoU 63.34 on val). LAVT
# keeps 20 tokens on every dataset.
_base_ = './lavt_swinb_refcoco.py'
train_dataloader = dict(dataset=dict(dataset='refcocog', split_by='umd'))
val_dataloader = dict(dataset=dict(dataset='refcocog', split_by='umd'))
test_dataloader = val_dataloader
