# The tiny CRIS with EAVL's Vision-Language Aligner in place of its projector
# (as configs/cris/cris-aligner_r101_refcoco.py), on the generated data.
_base_ = './cris_tiny_refer-toy.py'
img_size = 128  # as the base config's img_size
model = dict(
    backbone=dict(with_global=True),
    decode_head=dict(
        _delete_=True,
        type='VisionLanguageAlignerHead',
        query_generator=dict(
            type='MultiQueryGenerator',
            neck=dict(
                type='FusionNeck',
                in_channels=(128, 256, 128),
                out_channels=(32, 64, 128)),
            feat_size=img_size // 16,
            num_queries=8,
            neck_channels=64,
            reduce_channels=(32, 16),
            word_channels=64,
            global_channels=128,
            embed_dims=64,
            out_channels=64),
        memory='words',
        kernel_source='queries',
        in_channels=64,
        num_layers=1,
        num_heads=4,
        feedforward_channels=128,
        dropout=0.0,
        mask_channels=32,
        loss_decode=dict(type='TextPixelContrastiveLoss', loss_weight=1.0)))
