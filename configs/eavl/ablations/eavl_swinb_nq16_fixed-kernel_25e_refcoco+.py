# Table III, row "16 Fixed" (paper: mIoU 62.58; its aligner twin is
# ./eavl_swinb_nq16_25e_refcoco+.py, 64.04): 16 queries feed the decoder, and a
# convolution with a fixed kernel on the decoder output replaces the
# Vision-Language Aligner (see ./eavl_swinb_fixed-kernel_25e_refcoco+.py).
_base_ = './eavl_swinb_nq16_25e_refcoco+.py'
model = dict(decode_head=dict(kernel_source='static'))
