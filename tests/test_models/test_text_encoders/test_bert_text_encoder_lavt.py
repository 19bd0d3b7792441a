"""BertTextEncoder's LAVT options: raw hidden states, LAVT's truncation."""
import pytest
import torch

from mmrefseg.models.text_encoders import BertTextEncoder
from tests.helpers import TINY_BERT_CFG, write_tiny_bert_vocab

CLS, SEP = 2, 3  # ids in the tiny vocabulary


@pytest.fixture
def vocab(tmp_path):
    return write_tiny_bert_vocab(tmp_path / 'vocab.txt')


def _encoder(vocab, **kwargs):
    torch.manual_seed(0)
    encoder = BertTextEncoder(
        bert_cfg=TINY_BERT_CFG, vocab_file=vocab, word_len=5, **kwargs)
    encoder.init_weights()
    return encoder.eval()


def test_truncation_keeps_or_cuts_the_sep(vocab):
    text = ['the tall man on the left']  # 6 words + [CLS] + [SEP]
    kept = _encoder(vocab).token_inputs(text)
    cut = _encoder(vocab, keep_sep_when_truncating=False).token_inputs(text)
    assert kept['token_ids'][0, 0] == CLS and kept['token_ids'][0, -1] == SEP
    # LAVT: [CLS] the tall man on -- the [SEP] is cut with the rest
    assert torch.equal(cut['token_ids'][0, :4], kept['token_ids'][0, :4])
    assert cut['token_ids'][0, -1] != SEP and SEP not in cut['token_ids']
    assert cut['attention_mask'].all()
    short = _encoder(vocab, keep_sep_when_truncating=False).token_inputs(
        ['red car', ''])
    for name in ('token_ids', 'attention_mask'):
        assert torch.equal(short[name],
                           _encoder(vocab).token_inputs(['red car',
                                                         ''])[name])


def test_word_dim_none_returns_the_hidden_states(vocab):
    encoder = _encoder(vocab, word_dim=None, use_sentence=False)
    assert encoder.word_proj is None
    assert not hasattr(encoder, 'sentence_proj')
    out = encoder(['the red car'])
    hidden = encoder.bert(
        input_ids=encoder.tokenize(['the red car']),
        attention_mask=(~out['pad_mask']).long()).last_hidden_state
    torch.testing.assert_close(out['word_feats'], hidden)
    assert out['sentence_feat'] is None
    assert out['pad_mask'].tolist() == [[False] * 5]
