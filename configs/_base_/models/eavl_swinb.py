# EAVL with Swin-B (window 12, ImageNet-22k 384) and BERT-base, 480x480
# inputs, word_len 17 (22 for G-Ref), Nq = 24 queries.
# Pretrained weights are read from local paths when training starts:
#   Swin-B: the official swin_base_patch4_window12_384_22k.pth (converted on
#           load) or an mmseg / mmpretrain Swin state dict;
#   BERT:   a directory saved by transformers' `save_pretrained` (config,
#           weights and vocab.txt of bert-base-uncased).
swin_pretrained = 'data/pretrained/swin_base_patch4_window12_384_22k.pth'
bert_pretrained = 'data/pretrained/bert-base-uncased'
norm_cfg = dict(type='BN', requires_grad=True)
crop_size = 480
backbone_channels = (256, 512, 1024)  # Swin-B stages 2, 3, 4
word_channels = 512
sentence_channels = 768
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # ImageNet mean / std (Swin), RGB, 0-255
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=32,
    pad_val=0,
    seg_pad_val=0)
model = dict(
    type='ReferSegmentor',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='SwinAttnPool',
        with_global=True,
        pretrain_img_size=384,
        embed_dims=128,
        depths=(2, 2, 18, 2),
        num_heads=(4, 8, 16, 32),
        window_size=12,
        out_indices=(1, 2, 3),
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=swin_pretrained)),
    text_encoder=dict(
        type='BertTextEncoder',
        pretrained=bert_pretrained,
        word_len=17,
        word_dim=word_channels,
        sentence_dim=sentence_channels),
    neck=dict(
        type='FusionNeck',
        in_channels=backbone_channels,
        out_channels=(256, 512, 1024),
        sentence_channels=sentence_channels,
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='VisionLanguageAlignerHead',
        query_generator=dict(
            type='MultiQueryGenerator',
            # The dense vision features: the same neck, without the sentence.
            neck=dict(
                type='FusionNeck',
                in_channels=backbone_channels,
                out_channels=(256, 512, 1024),
                norm_cfg=norm_cfg),
            feat_size=crop_size // 16,
            num_queries=24,
            neck_channels=512,
            reduce_channels=(256, 128),
            word_channels=word_channels,
            global_channels=backbone_channels[-1],
            embed_dims=512,
            out_channels=512,
            use_global_vision=True,
            norm_cfg=norm_cfg),
        memory='queries',
        kernel_source='queries',
        use_estimator=True,
        in_channels=512,
        sentence_channels=sentence_channels,
        num_layers=3,
        num_heads=8,
        feedforward_channels=2048,
        dropout=0.1,
        mask_channels=256,
        kernel_size=3,
        num_upsamples=2,
        norm_cfg=norm_cfg,
        loss_decode=dict(type='TextPixelContrastiveLoss', loss_weight=1.0)),
    train_cfg=dict(),
    # EAVL states no threshold; 0.5 is the sigmoid's decision boundary (LAVT's
    # argmax over two classes).
    test_cfg=dict(threshold=0.5, upsample_mode='bilinear'))
