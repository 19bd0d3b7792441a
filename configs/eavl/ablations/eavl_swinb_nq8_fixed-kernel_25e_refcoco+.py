# Table III, row "8 Fixed" (paper: mIoU 61.99; its aligner twin is
# ./eavl_swinb_nq8_25e_refcoco+.py, 63.56): 8 queries feed the decoder, and a
# convolution with a fixed kernel on the decoder output replaces the
# Vision-Language Aligner (see ./eavl_swinb_fixed-kernel_25e_refcoco+.py).
_base_ = './eavl_swinb_nq8_25e_refcoco+.py'
model = dict(decode_head=dict(kernel_source='static'))
