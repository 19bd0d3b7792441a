import pytest
import torch
from open_clip.tokenizer import SimpleTokenizer

from mmrefseg.models.text_encoders import CLIPTextEncoder
from mmrefseg.models.utils import save_clip_torchscript
from mmrefseg.registry import MODELS
from tests.helpers import TINY_CLIP_TEXT, tiny_clip_state_dict

SOT, EOT = 49406, 49407


@pytest.fixture(scope='module')
def tiny_encoder():
    torch.manual_seed(0)
    return CLIPTextEncoder(context_length=8, **TINY_CLIP_TEXT).eval()


def test_full_size_shapes_and_pad_mask():
    encoder = MODELS.build(
        dict(type='CLIPTextEncoder', context_length=17,
             embed_dim=1024)).eval()
    with torch.no_grad():
        out = encoder(['the man on the left', ''])
    assert out['word_feats'].shape == (2, 17, 512)
    assert out['sentence_feat'].shape == (2, 1024)
    ids = encoder.tokenize(['the man on the left', ''])
    # SOT + 5 words + EOT; the empty sentence is SOT + EOT
    assert out['pad_mask'].tolist() == [[False] * 7 + [True] * 10,
                                        [False] * 2 + [True] * 15]
    assert ids[1, :2].tolist() == [SOT, EOT]


def test_tokenize_pads_and_truncates_keeping_eot(tiny_encoder):
    bpe = SimpleTokenizer()
    long_text = 'the tall man in a red shirt standing next to the car'
    words = bpe.encode(long_text)
    assert len(words) > 6
    ids = tiny_encoder.tokenize(['a dog', long_text])
    assert ids.dtype == torch.long and ids.shape == (2, 8)
    assert ids[0].tolist() == [SOT] + bpe.encode('a dog') + [EOT, 0, 0, 0, 0]
    # cut to 8 tokens, the last one replaced by EOT (CRIS's truncate=True)
    assert ids[1].tolist() == [SOT] + words[:6] + [EOT]


def test_unusual_sentences_do_not_crash(tiny_encoder):
    texts = ['', '   ', 'café à gauche 左边的狗 🐶', 'x' * 500,
             'word ' * 100]
    with torch.no_grad():
        out = tiny_encoder(texts)
    assert out['word_feats'].shape == (5, 8, 32)
    assert torch.isfinite(out['sentence_feat']).all()
    ids = tiny_encoder.tokenize(texts)
    assert (ids.argmax(-1) == (ids == EOT).int().argmax(-1)).all()
    with pytest.raises(TypeError, match=r'texts\[1\]'):
        tiny_encoder.tokenize(['ok', None])


def test_sentence_feature_is_projected_eot_token(tiny_encoder):
    ids = tiny_encoder.tokenize(['a dog', 'the cat on the sofa'])
    with torch.no_grad():
        out = tiny_encoder.forward_tokens(ids)
    eot = ids.argmax(-1)
    expected = out['word_feats'][torch.arange(2), eot] \
        @ tiny_encoder.text.text_projection
    torch.testing.assert_close(out['sentence_feat'], expected)
    assert eot.tolist() == [3, 6]
    assert out['pad_mask'].equal(ids == 0)


def test_attention_is_causal(tiny_encoder):
    ids = tiny_encoder.tokenize(['a dog on the left'])
    changed = ids.clone()
    changed[0, 3] = 1000
    with torch.no_grad():
        words = tiny_encoder.forward_tokens(ids)['word_feats']
        words_changed = tiny_encoder.forward_tokens(changed)['word_feats']
    torch.testing.assert_close(words[:, :3], words_changed[:, :3])
    assert not torch.allclose(words[:, 3:], words_changed[:, 3:])


def test_token_length_must_match(tiny_encoder):
    with pytest.raises(ValueError, match='context_length=8'):
        tiny_encoder.forward_tokens(torch.zeros(1, 9, dtype=torch.long))


def _assert_text_loaded(encoder, clip, context_length):
    own = encoder.text.state_dict()
    for key, value in own.items():
        expected = clip[key]
        if key == 'positional_embedding':
            expected = expected[:context_length]
        torch.testing.assert_close(value, expected, msg=key)


def test_loads_openai_archive_and_slices_positions(tmp_path):
    clip = tiny_clip_state_dict(context_length=20)
    path = tmp_path / 'clip.pt'
    save_clip_torchscript(clip, path)
    encoder = CLIPTextEncoder(
        context_length=8, pretrained=str(path), **TINY_CLIP_TEXT)
    encoder.init_weights()
    _assert_text_loaded(encoder, clip, 8)


def test_loads_open_clip_checkpoint(tmp_path):
    clip = tiny_clip_state_dict(context_length=20)
    path = tmp_path / 'open_clip.pt'
    torch.save({'state_dict': {'module.' + k: v for k, v in clip.items()}},
               path)
    encoder = CLIPTextEncoder(
        context_length=8, pretrained=str(path), **TINY_CLIP_TEXT)
    encoder.init_weights()
    _assert_text_loaded(encoder, clip, 8)


def test_checkpoint_errors(tmp_path):
    clip = tiny_clip_state_dict(context_length=6)
    short = tmp_path / 'short.pt'
    torch.save(clip, short)
    encoder = CLIPTextEncoder(
        context_length=8, pretrained=str(short), **TINY_CLIP_TEXT)
    with pytest.raises(ValueError, match='6 positions'):
        encoder.init_weights()
    image_only = tmp_path / 'image_only.pt'
    torch.save({k: v for k, v in clip.items() if k.startswith('visual.')},
               image_only)
    encoder = CLIPTextEncoder(
        context_length=8, pretrained=str(image_only), **TINY_CLIP_TEXT)
    with pytest.raises(KeyError, match='token_embedding'):
        encoder.init_weights()
    encoder = CLIPTextEncoder(
        context_length=8, pretrained='openai', **TINY_CLIP_TEXT)
    with pytest.raises(FileNotFoundError, match='never downloads'):
        encoder.init_weights()
