# EAVL Swin-B on G-Ref (Google splits: train / val).
_base_ = './eavl_swinb_refcoco.py'
model = dict(text_encoder=dict(word_len=22))
train_dataloader = dict(dataset=dict(dataset='refcocog', split_by='google'))
val_dataloader = dict(dataset=dict(dataset='refcocog', split_by='google'))
test_dataloader = val_dataloader
