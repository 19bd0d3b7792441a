# A tiny EAVL with CRIS's encoders (the tiny version of
# configs/eavl/eavl_r101_refcoco.py, paper Table V): the tiny CRIS-aligner
# model whose pixels attend to the generated queries instead of the words.
# Random weights, trains on a 2-core CPU in minutes and must beat the
# largest-object baseline (tools/analysis_tools/largest_object_baseline.py).
# The Swin + BERT tiny EAVL is ./eavl-swin_tiny_refer-toy.py.
#   python tools/dataset_converters/generate_refer_data.py data/refer_toy
#   python tools/train.py configs/toy/eavl_tiny_refer-toy.py
_base_ = './cris-aligner_tiny_refer-toy.py'
model = dict(decode_head=dict(memory='queries'))
