# CRIS with CLIP RN101: C5 and the sentence feature have 512 channels.
_base_ = './cris_r50.py'
clip_pretrained = 'data/pretrained/RN101.pt'
model = dict(
    backbone=dict(
        layers=(3, 4, 23, 3), output_dim=512, pretrained=clip_pretrained),
    text_encoder=dict(embed_dim=512, pretrained=clip_pretrained),
    neck=dict(in_channels=(512, 1024, 512), sentence_channels=512),
    decode_head=dict(text_channels=512))
