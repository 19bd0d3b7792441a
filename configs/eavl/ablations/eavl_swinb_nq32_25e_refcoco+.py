# Table II, row Nq = 32 (paper: mIoU 63.28): 32 queries instead of 24.
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(query_generator=dict(num_queries=32)))
