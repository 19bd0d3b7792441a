# A tiny "LAVT + aligner" (configs/lavt/lavt-aligner_swinb_refcoco.py at small
# widths, random weights) on the generated refer data: the tiny LAVT encoder
# of lavt_tiny_refer-toy.py, its head replaced by the fusion neck and EAVL's
# Vision-Language Aligner head, by config alone.
#   python tools/train.py configs/toy/lavt-aligner_tiny_refer-toy.py
_base_ = './lavt_tiny_refer-toy.py'
width = 64
backbone_channels = (32, 64, 128)  # stages 2-4 of the tiny LAVT encoder
model = dict(
    backbone=dict(out_indices=(1, 2, 3)),
    text_encoder=dict(use_sentence=True, sentence_dim=width),
    neck=dict(
        type='FusionNeck',
        in_channels=backbone_channels,
        out_channels=(32, width, 128),
        sentence_channels=width,
        norm_cfg={{_base_.norm_cfg}}),
    decode_head=dict(
        _delete_=True,
        type='VisionLanguageAlignerHead',
        query_generator=dict(
            type='MultiQueryGenerator',
            neck=dict(
                type='FusionNeck',
                in_channels=backbone_channels,
                out_channels=(32, width, 128),
                norm_cfg={{_base_.norm_cfg}}),
            feat_size=128 // 16,  # img_size of lavt_tiny_refer-toy.py
            num_queries=8,
            neck_channels=width,
            reduce_channels=(32, 16),
            word_channels=width,
            embed_dims=width,
            out_channels=width,
            use_global_vision=False,
            norm_cfg={{_base_.norm_cfg}}),
        memory='queries',
        kernel_source='queries',
        in_channels=width,
        num_layers=1,
        num_heads=4,
        feedforward_channels=2 * width,
        dropout=0.0,
        mask_channels=32,
        norm_cfg={{_base_.norm_cfg}},
        loss_decode=dict(
            type='TwoClassCrossEntropyLoss', class_weight=(0.9, 1.1))))
