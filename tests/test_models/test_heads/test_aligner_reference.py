"""EAVL's head against computations re-stated here with torch primitives.

Each switch of :class:`VisionLanguageAlignerHead` is checked on fixed tensors
against an independent computation that uses the module's weights: the
positions that reach the decoder (the pixels' 2-D positions always, the
words' 1-D positions with a word memory), the Multi-Query Generator's
attention (eq. 9-10) and the Multi-Query Estimator (attention, residual,
score Linear, softmax). Every test also checks that leaving the feature out
changes the result by far more than its tolerance, so that it cannot pass
with the feature missing.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from mmrefseg.registry import MODELS
from tests.helpers import (reference_attention, reference_decoder,
                           reference_pos1d, reference_pos2d)

C, WORDS, NQ, HEADS, LAYERS = 32, 6, 5, 4, 2
HEIGHT, WIDTH = 3, 5  # the fused map: non-square, so that x and y differ
TOLERANCE = dict(rtol=1e-4, atol=1e-5)
#: a feature left out must move the result by at least this much
CLEAR_DIFFERENCE = 1e-2


def _head(memory='queries', **kwargs):
    torch.manual_seed(0)
    query_generator = dict(
        type='MultiQueryGenerator',
        neck=dict(
            type='FusionNeck',
            in_channels=(8, 16, 24),
            out_channels=(8, 16, 32)),
        feat_size=4,
        num_queries=NQ,
        neck_channels=16,
        reduce_channels=(12, 8),
        word_channels=C,
        global_channels=24,
        embed_dims=16,
        out_channels=C)
    query_generator.update(kwargs.pop('query_generator', {}))
    cfg = dict(
        type='VisionLanguageAlignerHead',
        query_generator=query_generator,
        memory=memory,
        in_channels=C,
        num_layers=LAYERS,
        num_heads=HEADS,
        feedforward_channels=64,
        mask_channels=8)
    cfg.update(kwargs)
    return MODELS.build(cfg).eval()


def _feats():
    generator = torch.Generator().manual_seed(1)

    def randn(*shape):
        return torch.randn(*shape, generator=generator)

    pad_mask = torch.zeros(2, WORDS, dtype=torch.bool)
    pad_mask[0, 4:] = True
    return dict(
        img_feats=(randn(2, 8, 8, 8), randn(2, 16, 4, 4), randn(2, 24, 2, 2)),
        global_img=randn(2, 24),
        word_feats=randn(2, WORDS, C),
        pad_mask=pad_mask,
        sentence_feat=randn(2, 12),
        fused=randn(2, C, HEIGHT, WIDTH))


def _reference_pixels(head, feats, memory, memory_pos, memory_mask,
                      pixel_pos=True):
    """The decoder output re-stated, (B, C, H, W)."""
    pixels = feats['fused'].flatten(2).transpose(1, 2)
    out = reference_decoder(
        head.decoder.state_dict(), LAYERS, HEADS, pixels, memory,
        reference_pos2d(C, HEIGHT, WIDTH) if pixel_pos else None, memory_pos,
        memory_mask)
    return out.transpose(1, 2).reshape(feats['fused'].shape)


def _memories(queries, feats):
    """memory -> (sequence, positions, padding mask), as the paper and the
    head's docstring define them: queries are an unordered set (no
    position, never padding); words keep their 1-D positions and mask."""
    words, pad = feats['word_feats'], feats['pad_mask']
    word_pos = reference_pos1d(C, WORDS)
    return dict(
        queries=(queries, None, None),
        words=(words, word_pos, pad),
        both=(torch.cat([queries, words], 1),
              torch.cat([torch.zeros(NQ, C), word_pos]),
              torch.cat([torch.zeros(2, NQ, dtype=torch.bool), pad], 1)))


@pytest.mark.parametrize('memory', ['queries', 'words', 'both'])
def test_decoder_sees_the_memory_and_both_positions(memory):
    head, feats = _head(memory), _feats()
    with torch.no_grad():
        pixels, queries = head.decode(feats)
        sequence, memory_pos, memory_mask = _memories(queries, feats)[memory]
        expected = _reference_pixels(head, feats, sequence, memory_pos,
                                     memory_mask)
        without_pixel_pos = _reference_pixels(
            head, feats, sequence, memory_pos, memory_mask, pixel_pos=False)
    torch.testing.assert_close(pixels, expected, **TOLERANCE)
    # The pixels' positions matter, so the check above would see them go.
    assert (expected - without_pixel_pos).abs().max() > CLEAR_DIFFERENCE
    if memory_pos is not None:
        with torch.no_grad():
            without_word_pos = _reference_pixels(head, feats, sequence, None,
                                                 memory_mask)
        assert (expected - without_word_pos).abs().max() > CLEAR_DIFFERENCE


@pytest.mark.parametrize('memory', ['words', 'both'])
def test_padded_words_get_no_attention(memory):
    head, feats = _head(memory), _feats()
    loud = dict(feats, word_feats=feats['word_feats'].clone())
    loud['word_feats'][feats['pad_mask']] = 100.0
    with torch.no_grad():
        pixels, queries = head.decode(feats)
        pixels_loud, _ = head.decode(loud)
        sequence, memory_pos, _ = _memories(queries, loud)[memory]
        unmasked = _reference_pixels(head, loud, sequence, memory_pos, None)
    # Sample 0 has padded words: their features change nothing ...
    torch.testing.assert_close(pixels_loud, pixels, **TOLERANCE)
    # ... which would not hold if the mask did not reach the decoder.
    assert (unmasked[0] - pixels[0]).abs().max() > CLEAR_DIFFERENCE


@pytest.mark.parametrize('use_global_vision', [True, False])
def test_query_generator_attention_matches_equations(use_global_vision):
    head = _head(query_generator=dict(use_global_vision=use_global_vision))
    generator, feats = head.query_generator, _feats()
    words, pad = feats['word_feats'], feats['pad_mask']
    words[pad] *= 5  # loud padding: any weight it gets shows
    with torch.no_grad():
        # Sharper than at initialisation, where every query is nearly the
        # same average of the words: each query now attends differently.
        generator.vision_proj.weight.mul_(30)
        queries = generator(feats['img_feats'], feats['global_img'], words,
                            pad)
        dense = generator.dense_vision_features(feats['img_feats'])
        if use_global_vision:  # eq. 8: F_t' = relu(F_t W_a) * relu(F_g W_b)
            gate = F.relu(feats['global_img'] @ generator.global_gate.weight
                          .t() + generator.global_gate.bias)
            fused_words = F.relu(words @ generator.word_gate.weight.t() +
                                 generator.word_gate.bias) * gate[:, None]
        else:
            fused_words = words
        # eq. 9: a = softmax_l((F_dv W_1) . (F_t' W_2)), padding excluded
        q = dense @ generator.vision_proj.weight.t() + \
            generator.vision_proj.bias
        k = fused_words @ generator.word_proj.weight.t() + \
            generator.word_proj.bias
        logits = generator.attn_scale * q @ k.transpose(1, 2)
        weights = logits.masked_fill(pad[:, None, :],
                                     float('-inf')).softmax(-1)
        # eq. 10: F_q = (a F_t') W_3
        expected = (weights @ fused_words) @ generator.query_proj.weight.t() \
            + generator.query_proj.bias
        unmasked = (logits.softmax(-1) @ fused_words) @ \
            generator.query_proj.weight.t() + generator.query_proj.bias
    assert queries.shape == (2, NQ, C)
    torch.testing.assert_close(queries, expected, **TOLERANCE)
    assert (expected[0] - unmasked[0]).abs().max() > CLEAR_DIFFERENCE
    # the queries differ from one another
    assert (expected - expected.mean(1, keepdim=True)).abs().max() > \
        CLEAR_DIFFERENCE


def _reference_scores(head, queries, residual=True, attention=True):
    """Multi-Query Estimator (eq. 13) re-stated: self-attention over the
    queries, optional residual, score Linear, softmax over the queries."""
    attended = queries
    if attention:
        attended = reference_attention(
            head.estimator_attn.state_dict(), '', queries, queries, queries,
            HEADS)
        if residual:
            attended = attended + queries
    score = head.estimator_score
    return (attended @ score.weight.t() + score.bias).squeeze(-1).softmax(-1)


@pytest.mark.parametrize('residual', [True, False])
def test_estimator_matches_the_hand_written_estimator(residual):
    head = _head(estimator_residual=residual)
    generator = torch.Generator().manual_seed(3)
    # Queries spread as much as trained ones: scores far from uniform.
    queries = 3 * torch.randn(2, NQ, C, generator=generator)
    with torch.no_grad():
        # A score Linear with a clear slope, fixed by the test.
        head.estimator_score.weight.copy_(
            torch.randn(1, C, generator=generator) / math.sqrt(C))
        head.estimator_score.bias.fill_(0.25)
        scores = head.query_scores(queries)
        expected = _reference_scores(head, queries, residual)
        other = _reference_scores(head, queries, not residual)
        no_attention = _reference_scores(head, queries, attention=False)
    torch.testing.assert_close(scores, expected, **TOLERANCE)
    torch.testing.assert_close(scores.sum(-1), torch.ones(2))
    for variant in (other, no_attention,
                    torch.full_like(expected, 1 / NQ)):
        assert (expected - variant).abs().max() > CLEAR_DIFFERENCE


def test_estimator_score_linear_decides_the_ranking():
    """Flipping the sign of the score Linear reverses the order of the
    queries: the scores come from that Linear and nothing else."""
    head = _head()
    queries = 3 * torch.randn(2, NQ, C,
                              generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        scores = head.query_scores(queries)
        head.estimator_score.weight.neg_()
        head.estimator_score.bias.neg_()
        flipped = head.query_scores(queries)
    assert torch.equal(scores.argsort(-1), flipped.argsort(-1).flip(-1))
    torch.testing.assert_close(
        flipped, (1 / scores).log().softmax(-1), **TOLERANCE)


def test_without_estimator_the_masks_are_averaged():
    head, feats = _head(use_estimator=False), _feats()
    with torch.no_grad():
        logits = head(feats)
        masks, scores = head.forward_masks(feats)
    assert torch.equal(scores, torch.full((2, NQ), 1 / NQ))
    torch.testing.assert_close(logits, masks.mean(1, keepdim=True),
                               **TOLERANCE)
