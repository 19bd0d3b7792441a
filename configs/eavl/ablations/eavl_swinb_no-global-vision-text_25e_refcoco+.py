# Table IV, both global features removed (the paper's worst row, "removing
# both of them get the worst result"): ./eavl_swinb_no-global-vision and
# ./eavl_swinb_no-global-text together.
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(
    text_encoder=dict(use_sentence=False),
    neck=dict(use_sentence=False),
    decode_head=dict(query_generator=dict(use_global_vision=False)))
