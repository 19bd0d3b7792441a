import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.models.decode_heads import (BaseReferHead,
                                          VisionLanguageAlignerHead)
from mmrefseg.registry import MODELS

C, WORDS, SENTENCE, NQ, CK = 32, 6, 12, 5, 8


def _query_generator(**kwargs):
    cfg = dict(
        type='MultiQueryGenerator',
        neck=dict(
            type='FusionNeck',
            in_channels=(8, 16, 24),
            out_channels=(8, 16, 32),
            sentence_channels=SENTENCE),
        feat_size=4,
        num_queries=NQ,
        neck_channels=16,
        reduce_channels=(12, 8),
        word_channels=C,
        global_channels=24,
        embed_dims=16,
        out_channels=C)
    cfg.update(kwargs)
    return cfg


def _head(query_generator={}, **kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='VisionLanguageAlignerHead',
        query_generator=None if query_generator is None else _query_generator(
            **query_generator),
        in_channels=C,
        sentence_channels=SENTENCE,
        num_layers=1,
        num_heads=4,
        feedforward_channels=64,
        mask_channels=CK)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _feats(batch=2):
    torch.manual_seed(1)
    pad_mask = torch.zeros(batch, WORDS, dtype=torch.bool)
    pad_mask[0, 3:] = True
    return dict(
        img_feats=(torch.randn(batch, 8, 8, 8), torch.randn(batch, 16, 4, 4),
                   torch.randn(batch, 24, 2, 2)),
        global_img=torch.randn(batch, 24),
        word_feats=torch.randn(batch, WORDS, C),
        pad_mask=pad_mask,
        sentence_feat=torch.randn(batch, SENTENCE),
        fused=torch.randn(batch, C, 4, 4))


def test_is_a_refer_head_with_logits_at_quarter_resolution():
    head = _head().eval()
    assert isinstance(head, BaseReferHead)
    with torch.no_grad():
        logits = head(_feats())
        masks, scores = head.forward_masks(_feats())
    assert logits.shape == (2, 1, 16, 16)
    assert masks.shape == (2, NQ, 16, 16)
    assert scores.shape == (2, NQ)


def test_logits_are_the_score_weighted_sum_of_the_masks():
    head = _head().eval()
    with torch.no_grad():
        logits = head(_feats())
        masks, scores = head.forward_masks(_feats())
    expected = (scores[:, :, None, None] * masks).sum(1, keepdim=True)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)


def test_grouped_mask_convolution_equals_a_per_query_loop():
    head = _head().eval()
    feats = _feats()
    with torch.no_grad():
        masks, _ = head.forward_masks(feats)
        pixels, queries = head.decode(feats)
        mask_feats = head.mask_upsampler(pixels)
        kernels = head.kernel_proj(queries)
        for b in range(2):
            for n in range(NQ):
                weight = kernels[b, n, :-1].reshape(1, CK, 3, 3)
                expected = F.conv2d(
                    mask_feats[b:b + 1], weight, kernels[b, n, -1:], padding=1)
                torch.testing.assert_close(
                    masks[b, n], expected[0, 0], rtol=1e-4, atol=1e-5)


def test_estimator_weights_sum_to_one_and_differ_per_query():
    head = _head().eval()
    with torch.no_grad():
        _, scores = head.forward_masks(_feats())
    assert (scores > 0).all()
    torch.testing.assert_close(scores.sum(1), torch.ones(2))
    assert scores.std(1).min() > 0
    plain = _head(use_estimator=False).eval()
    assert not hasattr(plain, 'estimator_attn')
    with torch.no_grad():
        _, equal = plain.forward_masks(_feats())
    torch.testing.assert_close(equal, torch.full((2, NQ), 1 / NQ))


def test_padding_words_do_not_matter_with_a_word_memory():
    head = _head(memory='both').eval()
    feats = _feats()
    changed = dict(feats, word_feats=feats['word_feats'].clone())
    changed['word_feats'][feats['pad_mask']] = 50.
    with torch.no_grad():
        torch.testing.assert_close(head(changed), head(feats))


def test_memory_choice_decides_what_the_pixels_attend_to():
    feats = _feats()
    queries_head = _head(memory='queries').eval()
    words_head = _head(memory='words').eval()
    memory, pos, mask = queries_head._memory(torch.randn(2, NQ, C), feats)
    assert memory.shape == (2, NQ, C) and pos is None and mask is None
    memory, pos, mask = words_head._memory(None, feats)
    assert memory is feats['word_feats'] and mask is feats['pad_mask']
    both = _head(memory='both')
    memory, pos, mask = both._memory(torch.randn(2, NQ, C), feats)
    assert memory.shape == (2, NQ + WORDS, C)
    assert pos.shape == (NQ + WORDS, C) and (pos[:NQ] == 0).all()
    assert mask[:, :NQ].sum() == 0
    assert torch.equal(mask[:, NQ:], feats['pad_mask'])


SWITCHES = [
    dict(),
    dict(memory='words'),
    dict(memory='both'),
    dict(kernel_source='sentence'),
    dict(kernel_source='static'),
    dict(kernel_source='sentence', memory='words', query_generator=None),
    dict(use_estimator=False),
    dict(estimator_residual=False),
    dict(query_generator=dict(num_queries=1)),
    dict(query_generator=dict(use_global_vision=False)),
    dict(kernel_size=5),
    dict(kernel_size=1),
    dict(num_upsamples=1),
]


@pytest.mark.parametrize('switch', SWITCHES, ids=str)
def test_every_switch_builds_and_trains(switch):
    head = _head(**switch).train()
    feats = _feats()
    samples = [
        SegDataSample(gt_sem_seg=PixelData(data=torch.rand(1, 64, 64)))
        for _ in range(2)
    ]
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_mask', 'iou_seg'}
    losses['loss_mask'].backward()
    scale = 2**switch.get('num_upsamples', 2)
    assert head(feats).shape == (2, 1, 4 * scale, 4 * scale)
    unused = [
        name for name, p in head.named_parameters() if p.grad is None
        and not name.startswith('query_generator.neck.txt_proj')
    ]
    assert not unused, unused


def test_query_generator_is_only_built_when_used():
    head = _head(kernel_source='sentence', memory='words')
    assert head.query_generator is None
    with pytest.raises(ValueError, match='needs a query_generator'):
        VisionLanguageAlignerHead(query_generator=None)
    with pytest.raises(ValueError, match='memory must be one of'):
        _head(memory='pixels')
    with pytest.raises(ValueError, match='kernel_source must be one of'):
        _head(kernel_source='fixed')
    with pytest.raises(ValueError, match='sentence_channels'):
        _head(kernel_source='sentence', sentence_channels=None)


def test_amp_bf16_forward():
    head = _head().eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        logits = head(_feats())
    assert logits.shape == (2, 1, 16, 16)
    assert torch.isfinite(logits.float()).all()


def test_defaults_are_the_papers_dimensions():
    # EAVL Swin-B: C = 512, 3 decoder layers of 8 heads with a 2048-wide
    # feed-forward, 256 mask channels, 3x3 kernels, stride-4 masks.
    with torch.device('meta'):
        head = MODELS.build(
            dict(
                type='VisionLanguageAlignerHead',
                query_generator=_query_generator(word_channels=512,
                                                 out_channels=512)))
    assert head.in_channels == 512
    assert len(head.decoder.layers) == 3
    layer = head.decoder.layers[0]
    assert layer.multihead_attn.num_heads == 8
    assert layer.multihead_attn.fused is True
    assert layer.ffn[0].out_features == 2048
    assert head.dynamic_conv.num_params == 256 * 3 * 3 + 1
    upsampler = head.mask_upsampler
    assert sum(isinstance(m, torch.nn.Upsample) for m in upsampler) == 2
    assert isinstance(upsampler[1].bn, torch.nn.BatchNorm2d)
    assert isinstance(upsampler[1].activate, torch.nn.ReLU)
    assert head.estimator_attn.num_heads == 8
    assert head.estimator_attn.fused is True


def test_missing_pad_mask_means_no_padding():
    head = _head(memory='both').eval()
    feats = _feats()
    feats['pad_mask'] = torch.zeros_like(feats['pad_mask'])
    with torch.no_grad():
        expected = head(feats)
        feats.pop('pad_mask')
        assert torch.equal(head(feats), expected)


def test_static_kernel_masks_are_the_logits():
    head = _head(kernel_source='static').eval()
    with torch.no_grad():
        masks, scores = head.forward_masks(_feats())
        logits = head(_feats())
    assert scores is None
    assert masks.shape == logits.shape and torch.equal(masks, logits)
    assert masks.abs().sum() > 0


def test_sentence_kernel_errors_say_what_to_do():
    with pytest.raises(
            ValueError,
            match=r"^kernel_source='sentence' needs sentence_channels$"):
        _head(kernel_source='sentence', sentence_channels=None)
    head = _head(kernel_source='sentence')
    feats = _feats()
    feats.pop('sentence_feat')
    with pytest.raises(
            KeyError,
            match=r"kernel_source='sentence' needs feats\['sentence_feat'\]: "
            r'build the text encoder with use_sentence=True'):
        head(feats)
    feats = _feats()
    feats.pop('fused')
    with pytest.raises(
            KeyError,
            match=r"VisionLanguageAlignerHead needs feats\['fused'\]"):
        head(feats)
