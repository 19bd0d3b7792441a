# "CRIS + Ours" (EAVL paper, Table V): CRIS R101 whose projector (one kernel
# predicted from the sentence) is replaced by EAVL's Vision-Language Aligner
# (24 query kernels weighted by the Multi-Query Estimator). CRIS's decoder is
# kept: its pixels attend to the words. The queries come from the CLIP
# encoders; the backbone also returns CLIP's pooled token (the global vision
# feature). Paper: mIoU 71.25 on RefCOCO val.
_base_ = './cris_r101_refcoco.py'
model = dict(
    backbone=dict(with_global=True),
    decode_head=dict(
        _delete_=True,
        type='VisionLanguageAlignerHead',
        query_generator=dict(
            type='MultiQueryGenerator',
            neck=dict(
                type='FusionNeck',
                in_channels=(512, 1024, 512),
                out_channels=(256, 512, 1024),
                norm_cfg={{_base_.norm_cfg}}),
            feat_size=416 // 16,
            num_queries=24,
            neck_channels=512,
            word_channels=512,
            global_channels=512,
            embed_dims=512,
            out_channels=512,
            norm_cfg={{_base_.norm_cfg}}),
        memory='words',
        kernel_source='queries',
        in_channels=512,
        num_layers=3,
        num_heads=8,
        feedforward_channels=2048,
        dropout=0.1,
        mask_channels=256,
        kernel_size=3,
        num_upsamples=2,
        norm_cfg={{_base_.norm_cfg}},
        loss_decode=dict(type='TextPixelContrastiveLoss', loss_weight=1.0)))
