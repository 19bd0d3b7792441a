import logging

import pytest

from mmrefseg.apis import check_sentences
from mmrefseg.models.text_encoders.clip_text_encoder import CLIPTextEncoder
from tests.helpers import logged_messages


@pytest.fixture
def warnings_logged():
    with logged_messages(level=logging.WARNING) as messages:
        yield messages


@pytest.fixture(scope='module')
def encoder():
    return CLIPTextEncoder(
        context_length=8, width=32, heads=2, layers=1, embed_dim=16)


def test_too_long_sentence_is_reported(encoder, warnings_logged):
    texts = ['the red circle', 'the very small red circle next to the big '
             'blue square on the left']
    assert check_sentences(texts, encoder, 8) == texts
    assert len(warnings_logged) == 1
    assert 'Sentence 1' in warnings_logged[0]
    assert 'word_len=8' in warnings_logged[0]
    # what the tokenizer does with it: cut to 8 tokens, EOT last
    ids = encoder.tokenize(texts)
    assert (ids[1] != 0).all() and ids[1, -1] == ids[1].max()


def test_non_ascii_is_tokenised(encoder, warnings_logged):
    texts = ['le cercle à gauche', '左边的红色圆圈', '☺']
    # byte-level BPE: each CJK character costs up to three tokens
    check_sentences(texts, encoder, 32)
    assert warnings_logged == []
    counts = encoder.count_tokens(texts)
    assert all(count > 2 for count in counts)  # more than SOT and EOT


@pytest.mark.parametrize('texts,error,match', [
    ('', ValueError, 'Sentence 0 is empty'),
    (['ok', ' \t'], ValueError, 'Sentence 1 is empty'),
    ([], ValueError, 'non-empty list'),
    (['ok', 3], TypeError, 'Sentence 1 is a int'),
])
def test_bad_sentences(texts, error, match):
    with pytest.raises(error, match=match):
        check_sentences(texts)
