import pytest
import torch

import mmrefseg.models  # noqa: F401  (registers the modules)
from mmrefseg.registry import MODELS

NECK = dict(
    type='FusionNeck',
    in_channels=(8, 16, 24),
    out_channels=(8, 16, 32),
    sentence_channels=12)


def _mqg(**kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='MultiQueryGenerator',
        neck=NECK,
        feat_size=4,
        num_queries=5,
        neck_channels=16,
        reduce_channels=(12, 8),
        word_channels=20,
        global_channels=24,
        embed_dims=16,
        out_channels=16)
    cfg.update(kwargs)
    return MODELS.build(cfg).eval()


def _inputs(batch=2, words=7):
    torch.manual_seed(1)
    img_feats = (torch.randn(batch, 8, 8,
                             8), torch.randn(batch, 16, 4,
                                             4), torch.randn(batch, 24, 2, 2))
    pad_mask = torch.zeros(batch, words, dtype=torch.bool)
    pad_mask[0, 4:] = True
    pad_mask[1, 6:] = True
    return dict(
        img_feats=img_feats,
        global_img=torch.randn(batch, 24),
        word_feats=torch.randn(batch, words, 20),
        pad_mask=pad_mask)


def test_output_shape():
    with torch.no_grad():
        queries = _mqg()(**_inputs())
    assert queries.shape == (2, 5, 16)


@pytest.mark.parametrize('scale', [1.0, 0.25])
def test_matches_the_paper_equations(scale):
    mqg = _mqg(attn_scale=scale)
    inputs = _inputs()
    with torch.no_grad():
        queries = mqg(**inputs)
        dense = mqg.reduce(mqg.neck(inputs['img_feats'], None)).flatten(2)
        assert dense.shape == (2, 5, 16)
        fused = torch.relu(mqg.word_gate(inputs['word_feats'])) * torch.relu(
            mqg.global_gate(inputs['global_img']))[:, None]
        for b in range(2):
            for n in range(5):
                logits = torch.stack([
                    mqg.vision_proj(dense[b, n]) @ mqg.word_proj(fused[b, w])
                    for w in range(7)
                ]) * scale
                logits[inputs['pad_mask'][b]] = float('-inf')
                weights = logits.softmax(0)
                expected = mqg.query_proj((weights[:, None] * fused[b]).sum(0))
                torch.testing.assert_close(queries[b, n], expected)


@pytest.mark.parametrize('use_global_vision', [True, False])
def test_padding_words_get_no_attention(use_global_vision):
    mqg = _mqg(use_global_vision=use_global_vision)
    inputs = _inputs()
    changed = dict(inputs)
    changed['word_feats'] = inputs['word_feats'].clone()
    changed['word_feats'][inputs['pad_mask']] = 100 * torch.randn(
        int(inputs['pad_mask'].sum()), 20)
    real_changed = dict(inputs)
    real_changed['word_feats'] = inputs['word_feats'].clone()
    real_changed['word_feats'][0, 1] += 1
    with torch.no_grad():
        queries = mqg(**inputs)
        torch.testing.assert_close(mqg(**changed), queries)
        assert not torch.allclose(mqg(**real_changed)[0], queries[0])


def test_global_vision_switch():
    with_global = _mqg()
    without = _mqg(use_global_vision=False)
    assert not hasattr(without, 'word_gate')
    assert without.word_proj.in_features == 20
    inputs = _inputs()
    other_global = dict(inputs, global_img=torch.randn(2, 24))
    with torch.no_grad():
        assert not torch.allclose(
            with_global(**inputs), with_global(**other_global))
        torch.testing.assert_close(
            without(**inputs), without(**dict(inputs, global_img=None)))
    with pytest.raises(ValueError, match='with_global=True'):
        with_global(**dict(inputs, global_img=None))


def test_query_depends_on_image():
    mqg = _mqg()
    inputs = _inputs()
    other = dict(inputs)
    other['img_feats'] = tuple(f.flip(-1) for f in inputs['img_feats'])
    with torch.no_grad():
        assert not torch.allclose(mqg(**inputs), mqg(**other))


def test_wrong_feature_size_is_a_clear_error():
    mqg = _mqg(feat_size=(5, 5))
    with pytest.raises(ValueError, match=r'feat_size=\(5, 5\).*\(4, 4\)'):
        mqg(**_inputs())


def test_backward_reaches_every_used_parameter():
    mqg = _mqg().train()
    mqg(**_inputs()).square().mean().backward()
    no_grad = [
        name for name, p in mqg.named_parameters()
        if p.grad is None or not p.grad.abs().sum() > 0
    ]
    # the neck's sentence projection is never called (sentence_feat=None)
    assert all(name.startswith('neck.txt_proj') for name in no_grad), no_grad
