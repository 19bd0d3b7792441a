# LAVT (Yang et al., CVPR 2022), the public code's `lavt` model: Swin-B
# (window 12, ImageNet-22k 384) whose four stages each end with a pixel-word
# attention module and a language gate fed by BERT-base's words, then the
# SimpleDecoding decoder; 480x480 inputs, 20 tokens, 2-class cross-entropy
# (class weights 0.9 / 1.1), argmax prediction (sigmoid > 0.5 here).
# Pretrained weights are read from local paths when training starts:
#   Swin-B: the official swin_base_patch4_window12_384_22k.pth (converted on
#           load) or an mmseg / mmpretrain Swin state dict;
#   BERT:   a directory saved by transformers' `save_pretrained` (config,
#           weights and vocab.txt of bert-base-uncased).
swin_pretrained = 'data/pretrained/swin_base_patch4_window12_384_22k.pth'
bert_pretrained = 'data/pretrained/bert-base-uncased'
norm_cfg = dict(type='BN', requires_grad=True)
language_channels = 768  # BERT-base's hidden states, unprojected
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # ImageNet mean / std, RGB, 0-255 (the reference's torchvision Normalize)
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
        type='LAVTSwin',
        language_channels=language_channels,
        fusion_num_heads=1,
        fusion_dropout=0.0,
        pretrain_img_size=384,
        embed_dims=128,
        depths=(2, 2, 18, 2),
        num_heads=(4, 8, 16, 32),
        window_size=12,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=swin_pretrained)),
    text_encoder=dict(
        type='BertTextEncoder',
        pretrained=bert_pretrained,
        word_len=20,
        word_dim=None,
        use_sentence=False,
        keep_sep_when_truncating=False),
    decode_head=dict(
        type='LAVTSimpleDecodingHead',
        in_channels=(128, 256, 512, 1024),
        channels=512,
        scale_factor=4,
        norm_cfg=norm_cfg,
        loss_decode=dict(
            type='TwoClassCrossEntropyLoss', class_weight=(0.9, 1.1))),
    # the logit is object minus background: 0.5 is the argmax
    train_cfg=dict(threshold=0.5),
    test_cfg=dict(threshold=0.5, upsample_mode='bilinear',
                  align_corners=True))
