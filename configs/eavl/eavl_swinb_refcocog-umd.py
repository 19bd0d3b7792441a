# EAVL Swin-B on G-Ref (UMD) (paper: oIoU 64.17 / mIoU 67.15 on val).
_base_ = './eavl_swinb_refcoco.py'
model = dict(text_encoder=dict(word_len=22))
train_dataloader = dict(dataset=dict(dataset='refcocog', split_by='umd'))
val_dataloader = dict(dataset=dict(dataset='refcocog', split_by='umd'))
test_dataloader = val_dataloader
