# CRIS with CLIP RN50 (image and text encoders), as the reference
# implementation: 416x416 letterbox, word_len 17 (22 for G-Ref).
# Pretrained CLIP: OpenAI's RN50.pt (TorchScript) or an open_clip checkpoint,
# read from a local path when training starts (nothing is downloaded).
clip_pretrained = 'data/pretrained/RN50.pt'
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # CLIP's mean / std, RGB, 0-255
    mean=[122.7709383, 116.7460125, 104.09373615],
    std=[68.5005327, 66.6321579, 70.32316305],
    bgr_to_rgb=True,
    # mmseg batches training inputs padded to a size or a divisor; the
    # letterboxed inputs already are multiples of 32, so nothing is padded.
    size_divisor=32,
    pad_val=0,
    seg_pad_val=0)
model = dict(
    type='ReferSegmentor',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='CLIPResNet',
        layers=(3, 4, 6, 3),
        width=64,
        output_dim=1024,
        heads=32,
        image_size=224,
        norm_cfg=norm_cfg,
        pretrained=clip_pretrained),
    text_encoder=dict(
        type='CLIPTextEncoder',
        context_length=17,
        width=512,
        heads=8,
        layers=12,
        embed_dim=1024,
        pretrained=clip_pretrained),
    neck=dict(
        type='FusionNeck',
        in_channels=(512, 1024, 1024),
        out_channels=(256, 512, 1024),
        sentence_channels=1024,
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='VLDecoderHead',
        in_channels=512,
        text_channels=1024,
        num_layers=3,
        num_heads=8,
        feedforward_channels=2048,
        dropout=0.1,
        proj_channels=256,
        kernel_size=3,
        num_upsamples=2,
        norm_cfg=norm_cfg,
        loss_decode=dict(type='TextPixelContrastiveLoss', loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(threshold=0.35, upsample_mode='bicubic'))
# Pr@X: the CRIS reference counts a sentence when IoU > X (strict); mmrefseg
# keeps ReferMetric's default IoU >= X for every method. The two differ only
# for IoUs exactly at a threshold; to reproduce the reference's counting set
#   val_evaluator = dict(type='ReferMetric', strict_threshold=True)
