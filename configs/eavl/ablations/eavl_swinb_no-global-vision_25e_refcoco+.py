# Table IV: the words are not gated by the global vision feature (F_t' = F_t).
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(query_generator=dict(use_global_vision=False)))
