# EAVL with CRIS's encoders (CLIP RN101 + CLIP text transformer), trained with
# CRIS's recipe (416 letterbox, Adam 1e-4, CLIP at 0.1x, 50 epochs): the
# aligner head with its pixels attending to the generated queries (EAVL's
# decoder). Paper (Table V): mIoU 71.98 on RefCOCO val.
_base_ = '../cris/cris-aligner_r101_refcoco.py'
model = dict(decode_head=dict(memory='queries'))
