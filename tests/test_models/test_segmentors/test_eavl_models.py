"""EAVL assembled in the ReferSegmentor: full size, and the aligner in CRIS."""
import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.registry import MODELS
from tests.helpers import (TINY_CLIP_RESNET, TINY_CLIP_TEXT,
                           write_tiny_bert_vocab)

BERT_BASE = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    vocab_size=30522)


def _samples(texts, size, with_gt=False):
    samples = []
    for text in texts:
        sample = SegDataSample(
            metainfo=dict(
                text=text,
                img_shape=(size, size),
                ori_shape=(size, size),
                pad_offset=(0, 0),
                resized_shape=(size, size)))
        if with_gt:
            mask = torch.zeros(1, size, size)
            mask[:, size // 4:size // 2, size // 3:] = 1
            sample.gt_sem_seg = PixelData(data=mask)
        samples.append(sample)
    return samples


def eavl_swin_b_cfg(vocab_file, input_size=480):
    """EAVL as the paper: Swin-B + BERT-base, Nq = 24, at ``input_size``."""
    swin_channels = (256, 512, 1024)
    neck = dict(
        type='FusionNeck',
        in_channels=swin_channels,
        out_channels=(256, 512, 1024),
        sentence_channels=768)
    return dict(
        type='ReferSegmentor',
        backbone=dict(type='SwinAttnPool'),
        text_encoder=dict(
            type='BertTextEncoder',
            bert_cfg=BERT_BASE,
            vocab_file=vocab_file,
            word_len=17,
            word_dim=512,
            sentence_dim=768),
        neck=neck,
        decode_head=dict(
            type='VisionLanguageAlignerHead',
            query_generator=dict(
                type='MultiQueryGenerator',
                neck=neck,
                feat_size=input_size // 16,
                num_queries=24,
                word_channels=512,
                global_channels=1024),
            in_channels=512))


def test_full_size_eavl_swin_b_forward_at_480(tmp_path):
    vocab = write_tiny_bert_vocab(tmp_path / 'vocab.txt')
    torch.manual_seed(0)
    model = MODELS.build(eavl_swin_b_cfg(vocab)).eval()
    images = torch.randn(1, 3, 480, 480)
    samples = _samples(['the man on the left'], 480)
    with torch.no_grad():
        feats = model.extract_feat(images, samples)
        logits = model.decode_head(feats)
    c3, c4, c5 = feats['img_feats']
    assert c3.shape == (1, 256, 60, 60)
    assert c4.shape == (1, 512, 30, 30)
    assert c5.shape == (1, 1024, 15, 15)
    assert feats['global_img'].shape == (1, 1024)
    assert feats['word_feats'].shape == (1, 17, 512)
    assert feats['sentence_feat'].shape == (1, 768)
    assert feats['fused'].shape == (1, 512, 30, 30)
    assert logits.shape == (1, 1, 120, 120)
    assert torch.isfinite(logits).all()


def cris_aligner_cfg(memory='words'):
    """CRIS (tiny CLIP) with its head swapped for the aligner."""
    clip_channels = (64, 128, 64)  # tiny CLIP RN: layer2, layer3, C5
    neck = dict(
        type='FusionNeck',
        in_channels=clip_channels,
        out_channels=(16, 32, 64),
        sentence_channels=64)
    return dict(
        type='ReferSegmentor',
        backbone=dict(type='CLIPResNet', with_global=True, **TINY_CLIP_RESNET),
        text_encoder=dict(
            type='CLIPTextEncoder', context_length=8, **TINY_CLIP_TEXT),
        neck=neck,
        decode_head=dict(
            type='VisionLanguageAlignerHead',
            query_generator=dict(
                type='MultiQueryGenerator',
                neck=neck,
                feat_size=4,
                num_queries=4,
                neck_channels=32,
                word_channels=32,
                global_channels=64,
                embed_dims=32,
                out_channels=32),
            memory=memory,
            in_channels=32,
            num_layers=1,
            num_heads=4,
            feedforward_channels=64,
            dropout=0.,
            mask_channels=8))


def test_aligner_trains_inside_the_cris_model():
    torch.manual_seed(0)
    model = MODELS.build(cris_aligner_cfg())
    model.init_weights()
    model.train()
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    images = torch.randn(2, 3, 64, 64)
    samples = _samples(['the dog on the left', 'a red car'], 64, True)
    losses = []
    for step in range(4):
        loss = model(images, samples, mode='loss')['decode.loss_mask']
        optim.backward(loss)
        if step == 0:
            for part in ('backbone', 'text_encoder', 'neck',
                         'decode_head.query_generator',
                         'decode_head.kernel_proj',
                         'decode_head.estimator_attn'):
                grads = [
                    p.grad for p in model.get_submodule(part).parameters()
                ]
                assert any(g is not None and g.abs().sum() > 0
                           for g in grads), part
        optim.step()
        optim.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses
