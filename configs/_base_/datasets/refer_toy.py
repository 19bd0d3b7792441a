# The synthetic refer data of tools/dataset_converters/generate_refer_data.py
# (coloured shapes, RefCOCO-style UNC splits), small enough to train a tiny
# model on a CPU in minutes. Generate it with
#   python tools/dataset_converters/generate_refer_data.py data/refer_toy
dataset_type = 'ReferDataset'
data_root = 'data/refer_toy'
# 128 px: the tiny models train on a 2-core CPU in a few minutes; at 96 px
# the tiny CRIS fell below the largest-object baseline (mIoU 31.3).
img_scale = (128, 128)
pad_val = (104.0937, 116.7460, 122.7709)

train_pipeline = [
    dict(type='LoadReferImage'),
    dict(type='LoadReferMask'),
    dict(type='SampleSentence'),
    dict(
        type='LetterboxResize',
        scale=img_scale,
        pad_val=pad_val,
        interpolation='bicubic'),
    dict(type='PackReferInputs'),
]
test_pipeline = [
    dict(type='LoadReferImage'),
    dict(
        type='LetterboxResize',
        scale=img_scale,
        pad_val=pad_val,
        interpolation='bicubic'),
    dict(type='LoadReferMask'),
    dict(type='PackReferInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    # Workers start each epoch, seeded from torch's per-epoch generator
    # (EpochSeedHook): a resumed run draws the same sentences.
    persistent_workers=False,
    worker_init_fn=dict(type='seed_worker_from_torch'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    # As the reference: no last batch smaller than the others (a batch of
    # one cannot train the sentence BatchNorm in the reference CRIS).
    drop_last=True,
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        dataset='refcoco',
        split_by='unc',
        split='train',
        data_prefix=dict(img_path='images/train2014'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        dataset='refcoco',
        split_by='unc',
        split='val',
        data_prefix=dict(img_path='images/train2014'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ReferMetric')
test_evaluator = val_evaluator
