# Not a row of the paper: one dynamic kernel predicted from the global text
# feature (CRIS's projector) in place of the Vision-Language Aligner; the 24
# queries still feed the decoder. A stronger baseline than Table III's fixed
# kernel (./eavl_swinb_fixed-kernel_25e_refcoco+.py): it isolates what the
# multiple query kernels add over one sentence kernel.
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(kernel_source='sentence'))
