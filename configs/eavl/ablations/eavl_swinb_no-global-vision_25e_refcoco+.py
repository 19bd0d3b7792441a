# Table IV, global vision feature F_g removed: the words are not gated by F_g
# (eq. 8 becomes F_t' = F_t). The stage-4 attention pool stays: it also
# produces the stage-4 map.
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(query_generator=dict(use_global_vision=False)))
