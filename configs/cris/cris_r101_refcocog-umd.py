_base_ = [
    '../_base_/models/cris_r101.py', '../_base_/datasets/refcocog_umd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/cris_50e.py'
]
sync_bn = 'torch'
# G-Ref sentences are longer: 22 tokens.
model = dict(text_encoder=dict(context_length=22))
train_dataloader = dict(batch_size=8)
