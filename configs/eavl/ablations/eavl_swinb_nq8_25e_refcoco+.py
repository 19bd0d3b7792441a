# Table II, row Nq = 8 (paper: mIoU 63.56): 8 queries instead of 24.
# Also Table III's "8 Aligner" row, the twin of
# ./eavl_swinb_nq8_fixed-kernel_25e_refcoco+.py.
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(query_generator=dict(num_queries=8)))
