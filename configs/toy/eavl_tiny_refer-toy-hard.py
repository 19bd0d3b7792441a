# The tiny EAVL with CLIP encoders of ./eavl_tiny_refer-toy.py on the harder
# generated data (generate_refer_data.py --hard: textured coloured backgrounds,
# 4-7 shapes sharing colours and shapes, shapes from 1/12 of the short side
# up). Recipe: the base config's, plus a Dice loss beside its pixel loss (small
# objects weigh as much as large ones), for 24 epochs: as the tiny CRIS
# (./cris_tiny_refer-toy-hard.py). Figures: docs/generated_data.md.
#   python tools/dataset_converters/generate_refer_data.py \
#       data/refer_toy_hard --hard
#   python tools/train.py configs/toy/eavl_tiny_refer-toy-hard.py
_base_ = './cris-aligner_tiny_refer-toy-hard.py'
# as ./eavl_tiny_refer-toy.py: the pixels attend to the generated queries
model = dict(decode_head=dict(memory='queries'))
