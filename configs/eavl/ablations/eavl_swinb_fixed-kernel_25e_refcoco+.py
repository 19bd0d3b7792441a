# Table III, row "24 Fixed" (paper: mIoU 63.16; its aligner twin is
# ./eavl_swinb_25e_refcoco+.py, 64.85). The whole Vision-Language Aligner
# (Multi-Mask Generator kernels and Multi-Query Estimator) is replaced by a
# convolution with a fixed, learned kernel whose only input is the decoder
# output (upsampled to the mask features as the aligner's). The 24 queries
# are still generated and still feed the decoder, as in the paper ("both two
# methods generate multiple queries").
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(kernel_source='static'))
