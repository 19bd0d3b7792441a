# Table IV: the fusion neck does not gate C5 with the global text feature.
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(neck=dict(use_sentence=False))
