# Literal reading, not a row of the paper: the stage-4 attention pool (eq. 1)
# without a residual connection, its output replacing the stage-4 map. The
# default adds the input tokens back: without them the randomly initialised
# pool gives every stage-4 position nearly the same vector at the start of
# training (see SwinAttnPool / GlobalTokenAttentionPool).
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(backbone=dict(pool_residual=False))
