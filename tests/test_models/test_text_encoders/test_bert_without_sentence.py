"""BertTextEncoder(use_sentence=False): EAVL's "global text feature off"
builds no sentence projection, and the model around it runs without one."""
import pytest
import torch

from mmrefseg.registry import MODELS
from mmrefseg.utils import register_all_modules
from tests.helpers import TINY_BERT_CFG, write_tiny_bert_vocab

register_all_modules()
TEXTS = ['the man on the left', 'a red car']


@pytest.fixture(scope='module')
def vocab_file(tmp_path_factory):
    return write_tiny_bert_vocab(tmp_path_factory.mktemp('bert') / 'vocab.txt')


def _encoder(vocab_file, **kwargs):
    torch.manual_seed(0)
    encoder = MODELS.build(
        dict(
            type='BertTextEncoder',
            bert_cfg=TINY_BERT_CFG,
            vocab_file=vocab_file,
            word_len=8,
            word_dim=24,
            sentence_dim=20,
            **kwargs))
    encoder.init_weights()
    return encoder.eval()


def test_no_sentence_projection_same_words(vocab_file):
    full = _encoder(vocab_file)
    words_only = _encoder(vocab_file, use_sentence=False)
    assert not hasattr(words_only, 'sentence_proj')
    assert set(full.state_dict()) - set(words_only.state_dict()) == {
        'sentence_proj.weight', 'sentence_proj.bias'
    }
    # the default keeps the sentence feature
    assert full(TEXTS)['sentence_feat'].shape == (2, 20)
    words_only.load_state_dict(full.state_dict(), strict=False)
    with torch.no_grad():
        out, ref = words_only(TEXTS), full(TEXTS)
    assert out['sentence_feat'] is None
    torch.testing.assert_close(out['word_feats'], ref['word_feats'])
    assert torch.equal(out['pad_mask'], ref['pad_mask'])


def test_sentence_kernel_needs_the_sentence():
    head = MODELS.build(
        dict(
            type='VisionLanguageAlignerHead',
            memory='words',
            kernel_source='sentence',
            in_channels=16,
            sentence_channels=8,
            num_layers=1,
            num_heads=2,
            feedforward_channels=32,
            mask_channels=8))
    feats = dict(
        fused=torch.randn(2, 16, 4, 4),
        word_feats=torch.randn(2, 5, 16),
        pad_mask=torch.zeros(2, 5, dtype=torch.bool),
        sentence_feat=None)
    with pytest.raises(KeyError, match='use_sentence=True'):
        head(feats)
