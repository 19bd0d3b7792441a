# "LAVT + Ours" (EAVL paper, Table V): LAVT's language-aware Swin-B + BERT
# encoder, whose SimpleDecoding head is replaced by EAVL's segmentation stage
# (fusion neck, Multi-Query Generator, decoder, Vision-Language Aligner with
# 24 query kernels), by config alone. The backbone returns its stride 8-32
# maps; LAVT has no global vision feature, so the queries are built from the
# words alone (use_global_vision=False). LAVT's loss, schedule and 0.5
# threshold are kept. Paper: mIoU 75.76 on RefCOCO val.
_base_ = './lavt_swinb_refcoco.py'
crop_size = 480
backbone_channels = (256, 512, 1024)
model = dict(
    backbone=dict(out_indices=(1, 2, 3)),
    # the fusion neck's sentence gate reads BERT's [CLS] state, projected
    text_encoder=dict(use_sentence=True, sentence_dim=768),
    neck=dict(
        type='FusionNeck',
        in_channels=backbone_channels,
        out_channels=(256, 512, 1024),
        sentence_channels=768,
        norm_cfg={{_base_.norm_cfg}}),
    decode_head=dict(
        _delete_=True,
        type='VisionLanguageAlignerHead',
        query_generator=dict(
            type='MultiQueryGenerator',
            neck=dict(
                type='FusionNeck',
                in_channels=backbone_channels,
                out_channels=(256, 512, 1024),
                norm_cfg={{_base_.norm_cfg}}),
            feat_size=crop_size // 16,
            num_queries=24,
            neck_channels=512,
            reduce_channels=(256, 128),
            word_channels={{_base_.language_channels}},
            embed_dims=512,
            out_channels=512,
            use_global_vision=False,
            norm_cfg={{_base_.norm_cfg}}),
        memory='queries',
        kernel_source='queries',
        use_estimator=True,
        in_channels=512,
        num_layers=3,
        num_heads=8,
        feedforward_channels=2048,
        dropout=0.1,
        mask_channels=256,
        kernel_size=3,
        num_upsamples=2,
        norm_cfg={{_base_.norm_cfg}},
        loss_decode=dict(
            type='TwoClassCrossEntropyLoss', class_weight=(0.9, 1.1))))
