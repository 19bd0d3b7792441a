# Table III: one kernel predicted from the sentence feature (CRIS's
# projector) instead of the query kernels; the queries still feed the decoder.
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(kernel_source='sentence'))
