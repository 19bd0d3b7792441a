# gRefCOCO (GRES, UNC splits: train / val / testA / testB): RefCOCO's
# images and pipelines, expressions with several targets or none. Layout:
#   data/refer/grefcoco/{grefs(unc).json, instances.json}
#   data/refer/images/train2014/
# Evaluate another split with, e.g.,
#   --cfg-options test_dataloader.dataset.split=testA
_base_ = './refcoco.py'
dataset_type = 'GReferDataset'
train_dataloader = dict(
    dataset=dict(type=dataset_type, dataset='grefcoco', split_by='unc'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, dataset='grefcoco', split_by='unc'))
test_dataloader = val_dataloader
# gIoU, cIoU, N-acc, T-acc, Pr@0.7/0.8/0.9 (ReLA's definitions).
val_evaluator = dict(_delete_=True, type='GReferMetric')
test_evaluator = val_evaluator
