# Table II, row Nq = 2 (paper: mIoU 61.62): 2 queries instead of 24.
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(query_generator=dict(num_queries=2)))
