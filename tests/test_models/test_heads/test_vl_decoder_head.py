import pytest
import torch
import torch.nn as nn
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.models.decode_heads import BaseReferHead, VLDecoderHead
from mmrefseg.registry import MODELS
from tests.helpers import reference_pos1d, reference_pos2d

C, HEADS, FFN, TEXT = 32, 4, 64, 24


def _small_head(**kwargs):
    cfg = dict(
        in_channels=C,
        text_channels=TEXT,
        num_layers=2,
        num_heads=HEADS,
        feedforward_channels=FFN,
        proj_channels=8)
    cfg.update(kwargs)
    return VLDecoderHead(**cfg)


def _feats(batch=2, size=6, words=5):
    torch.manual_seed(1)
    pad_mask = torch.zeros(batch, words, dtype=torch.bool)
    pad_mask[0, 3:] = True
    return dict(
        fused=torch.randn(batch, C, size, size),
        word_feats=torch.randn(batch, words, C),
        pad_mask=pad_mask,
        sentence_feat=torch.randn(batch, TEXT))


def _randomise(module):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
    return module


def _reference_decode(head, fused, words, pad_mask):
    """The reference decoder: sequence first, nn.MultiheadAttention, its
    positional formulas, final norm, reshape to (B, C, H, W)."""
    batch, channels, height, width = fused.shape
    vis = fused.reshape(batch, channels, -1).permute(2, 0, 1)
    txt = words.permute(1, 0, 2)
    vis_pos = reference_pos2d(channels, height, width)[:, None]
    txt_pos = reference_pos1d(words.shape[-1], words.shape[1])[:, None]
    for layer in head.decoder.layers:
        self_attn = nn.MultiheadAttention(C, HEADS).eval()
        cross_attn = nn.MultiheadAttention(C, HEADS).eval()
        self_attn.load_state_dict(layer.self_attn.state_dict())
        cross_attn.load_state_dict(layer.multihead_attn.state_dict())
        x = layer.norm1(vis)
        x = self_attn(x + vis_pos, x + vis_pos, value=x)[0]
        vis = vis + layer.self_attn_norm(x)
        x = layer.norm2(vis)
        x = cross_attn(
            x + vis_pos, txt + txt_pos, value=txt,
            key_padding_mask=pad_mask)[0]
        vis = vis + layer.cross_attn_norm(x)
        vis = vis + layer.ffn(layer.norm3(vis))
    out = head.decoder.norm(vis).permute(1, 2, 0)
    return out.reshape(batch, channels, height, width)


def test_head_equals_reference_computation():
    torch.manual_seed(0)
    head = _randomise(_small_head()).eval()
    feats = _feats()
    with torch.no_grad():
        logits = head(feats)
        pixels = _reference_decode(head, feats['fused'], feats['word_feats'],
                                   feats['pad_mask'])
        expected = head.proj(pixels, feats['sentence_feat'])
        torch.testing.assert_close(
            head.decode(feats['fused'], feats['word_feats'],
                        feats['pad_mask']),
            pixels,
            atol=1e-5,
            rtol=1e-5)
    assert logits.shape == (2, 1, 24, 24)
    # float32 round-off of two attention implementations, amplified by
    # logits of magnitude ~10
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-5)


def test_full_size_shapes_at_416():
    head = MODELS.build(dict(type='VLDecoderHead')).eval()
    assert len(head.decoder.layers) == 3
    pad_mask = torch.zeros(1, 17, dtype=torch.bool)
    pad_mask[:, 9:] = True
    feats = dict(
        fused=torch.randn(1, 512, 26, 26),
        word_feats=torch.randn(1, 17, 512),
        pad_mask=pad_mask,
        sentence_feat=torch.randn(1, 1024))
    with torch.no_grad():
        assert head(feats).shape == (1, 1, 104, 104)


def test_padding_words_change_nothing():
    head = _randomise(_small_head()).eval()
    feats = _feats()
    changed = dict(feats, word_feats=feats['word_feats'].clone())
    changed['word_feats'][0, 3:] = 100.0
    with torch.no_grad():
        assert torch.equal(head(feats), head(changed))
        changed['word_feats'][0, 2] += 1.0  # a real word
        assert not torch.allclose(head(feats)[0], head(changed)[0])


def _samples(masks):
    samples = []
    for mask in masks:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=mask)
        samples.append(sample)
    return samples


def test_loss_against_hand_computation():
    head = _small_head().train()
    feats = _feats()
    gt = torch.rand(2, 1, 96, 96)  # soft masks at the network input size
    losses = head.loss(feats, _samples(gt), train_cfg=dict(threshold=0.4))
    assert set(losses) == {'loss_mask', 'iou_seg'}
    assert not losses['iou_seg'].requires_grad
    losses['loss_mask'].backward()
    assert head.proj.txt.weight.grad.abs().sum() > 0

    head.eval()
    with torch.no_grad():
        logits = head(feats)
        losses = head.loss_by_feat(logits, _samples(gt),
                                   dict(threshold=0.4))
    target = gt[:, :, ::4, ::4]  # nearest 96 -> 24 picks every 4th pixel
    prob = logits.double().sigmoid()
    expected = -(target * prob.log() + (1 - target) *
                 (1 - prob).log()).mean()
    torch.testing.assert_close(
        losses['loss_mask'].double(), expected, atol=1e-6, rtol=1e-6)
    pred, fg = prob > 0.4, target > 0.5
    ious = [(pred[i] & fg[i]).sum() / (pred[i] | fg[i]).sum()
            for i in range(2)]
    torch.testing.assert_close(losses['iou_seg'].double(),
                               torch.stack(ious).mean().double())


def test_several_losses_and_predict():
    head = _small_head(loss_decode=[
        dict(type='TextPixelContrastiveLoss', loss_weight=1.0),
        dict(type='TextPixelContrastiveLoss', loss_weight=2.0),
        dict(type='TextPixelContrastiveLoss', loss_name='loss_aux')
    ]).eval()
    feats = _feats()
    gt = (torch.rand(2, 1, 24, 24) > 0.5).float()
    with torch.no_grad():
        logits = head.predict(feats, [{}, {}], dict(threshold=0.35))
        losses = head.loss_by_feat(logits, _samples(gt))
    assert logits.shape == (2, 1, 24, 24)
    torch.testing.assert_close(losses['loss_mask'], 3 * losses['loss_aux'])


def test_errors():
    head = _small_head()
    feats = _feats()
    with pytest.raises(KeyError, match='sentence_feat'):
        head(dict(feats, sentence_feat=None))
    with pytest.raises(KeyError, match='no gt_sem_seg'):
        head.loss(feats, [SegDataSample(), SegDataSample()])
    with pytest.raises(TypeError, match='loss_decode'):
        _small_head(loss_decode='TextPixelContrastiveLoss')
    assert issubclass(VLDecoderHead, BaseReferHead)
