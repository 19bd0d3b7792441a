# Table II, row Nq = 16 (paper: mIoU 64.04): 16 queries instead of 24.
# Also Table III's "16 Aligner" row, the twin of
# ./eavl_swinb_nq16_fixed-kernel_25e_refcoco+.py.
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(query_generator=dict(num_queries=16)))
