# LAVT Swin-B on RefCOCO+ (UNC) (paper: oIoU 62.14 / mIoU 65.81 on val).
_base_ = './lavt_swinb_refcoco.py'
train_dataloader = dict(dataset=dict(dataset='refcoco+'))
val_dataloader = dict(dataset=dict(dataset='refcoco+'))
test_dataloader = val_dataloader
