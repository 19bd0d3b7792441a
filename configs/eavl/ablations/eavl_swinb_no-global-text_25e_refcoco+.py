# Table IV, global language feature F_s removed: the fusion neck does not
# gate C5 with F_s (eq. 2 without the product). Nothing else reads F_s, so the
# text encoder builds no sentence projection either: a parameter without a
# gradient would stop DDP ("Expected to have finished reduction ...").
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(
    text_encoder=dict(use_sentence=False), neck=dict(use_sentence=False))
