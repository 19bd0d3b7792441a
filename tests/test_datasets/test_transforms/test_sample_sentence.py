import numpy as np
import pytest

from mmrefseg.datasets.transforms import SampleSentence

SENTENCES = [
    dict(sent_id=10, sent='red circle'),
    dict(sent_id=11, sent='the red one'),
    dict(sent_id=12, sent='circle on the left'),
]


def _draw(transform, count):
    drawn = []
    for _ in range(count):
        results = transform(dict(ref_id=3, sentences=list(SENTENCES)))
        drawn.append((results['sent_id'], results['text']))
    return drawn


def test_draws_every_sentence_uniformly():
    np.random.seed(0)
    drawn = _draw(SampleSentence(), 600)
    pairs = {(s['sent_id'], s['sent']) for s in SENTENCES}
    # text and sent_id always come from the same sentence.
    assert set(drawn) == pairs
    counts = np.array([drawn.count(pair) for pair in sorted(pairs)])
    assert counts.min() > 150


def test_draws_are_reproducible_with_a_seed():
    np.random.seed(3)
    first = _draw(SampleSentence(), 20)
    np.random.seed(3)
    assert _draw(SampleSentence(), 20) == first
    assert len(set(first)) > 1


def test_test_item_passes_through():
    results = dict(
        ref_id=3, sentences=[SENTENCES[1]], text='the red one', sent_id=11)
    np.random.seed(0)
    for _ in range(20):
        out = SampleSentence()(dict(results))
        assert (out['text'], out['sent_id']) == ('the red one', 11)


def test_no_sentence_names_the_ref():
    with pytest.raises(ValueError, match='Ref 42 '):
        SampleSentence()(dict(ref_id=42, img_path='a.jpg', sentences=[]))
