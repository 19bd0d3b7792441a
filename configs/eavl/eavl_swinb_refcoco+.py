# EAVL Swin-B on RefCOCO+ (UNC) (paper: oIoU 65.38 / mIoU 67.95 on val).
_base_ = './eavl_swinb_refcoco.py'
train_dataloader = dict(dataset=dict(dataset='refcoco+'))
val_dataloader = dict(dataset=dict(dataset='refcoco+'))
test_dataloader = val_dataloader
