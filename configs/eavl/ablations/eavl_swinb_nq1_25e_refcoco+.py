# Table II, row Nq = 1 (paper: mIoU 60.77): 1 query instead of 24.
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(query_generator=dict(num_queries=1)))
