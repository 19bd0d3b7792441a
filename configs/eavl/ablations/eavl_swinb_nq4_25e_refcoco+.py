# Table II, row Nq = 4 (paper: mIoU 62.43): 4 queries instead of 24.
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(query_generator=dict(num_queries=4)))
