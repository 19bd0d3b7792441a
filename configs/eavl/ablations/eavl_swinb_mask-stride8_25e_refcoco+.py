# Literal reading, not a row of the paper: "2x upsampling and convolution"
# read as ONE 2x upsampling + conv from the stride-16 decoder output, so the
# mask features F_c' and the logits are at stride 8 (the default upsamples
# twice, to stride 4, as CRIS's projector).
_base_ = './eavl_swinb_25e_refcoco+.py'
model = dict(decode_head=dict(num_upsamples=1))
