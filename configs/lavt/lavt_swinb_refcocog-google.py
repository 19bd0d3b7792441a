# LAVT Swin-B on G-Ref (Google) (val only; the split has no test set).
_base_ = './lavt_swinb_refcoco.py'
train_dataloader = dict(dataset=dict(dataset='refcocog', split_by='google'))
val_dataloader = dict(dataset=dict(dataset='refcocog', split_by='google'))
test_dataloader = val_dataloader
