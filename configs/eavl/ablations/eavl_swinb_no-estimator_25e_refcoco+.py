# Table IV: the Nq masks summed with equal weights (no Multi-Query Estimator).
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(use_estimator=False))
