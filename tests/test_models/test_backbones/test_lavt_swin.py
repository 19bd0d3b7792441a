"""LAVTSwin: a Swin whose stages read the sentence."""
import pytest
import torch

from mmrefseg.models.backbones import LAVTSwin

TINY = dict(
    language_channels=12,
    pretrain_img_size=64,
    embed_dims=8,
    depths=(2, 1, 1, 1),
    num_heads=(1, 1, 2, 2),
    window_size=4,
    drop_path_rate=0.0)


def _text(batch=2, length=5, channels=12, real=(3, 5)):
    pad = torch.arange(length)[None] >= torch.tensor(real)[:, None]
    return dict(word_feats=torch.randn(batch, length, channels),
                pad_mask=pad)


def _model(**kwargs):
    torch.manual_seed(0)
    model = LAVTSwin(**dict(TINY, **kwargs))
    model.init_weights()
    return model.eval()


def test_four_language_aware_maps():
    model = _model()
    assert model.with_text and not model.with_global
    text = _text()
    outs = model(torch.randn(2, 3, 64, 64), text)
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 16), (2, 16, 8, 8),
                                              (2, 32, 4, 4), (2, 64, 2, 2)]
    # the sentence changes every map; padded words change none
    other = dict(text, word_feats=text['word_feats'] + 1)
    padded = dict(text, word_feats=text['word_feats'].clone())
    padded['word_feats'][0, 3:] += 5
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        base = model(images, text)
        for a, b, c in zip(base, model(images, other),
                           model(images, padded)):
            assert not torch.allclose(a, b)
            torch.testing.assert_close(a, c)


def test_out_indices_and_frozen_last_gate():
    model = _model(out_indices=(1, 2, 3))
    outs = model(torch.randn(1, 3, 64, 64), _text(batch=1, real=(5, )))
    assert [o.shape[1] for o in outs] == [16, 32, 64]
    # the last gate feeds nothing: kept for the checkpoint, never trained
    assert not any(p.requires_grad
                   for p in model.language_gates[-1].parameters())
    assert all(p.requires_grad for p in model.language_gates[0].parameters())


def test_random_init_as_the_reference():
    model = _model()
    table = model.stages[0].blocks[0].attn.w_msa.relative_position_bias_table
    assert table.abs().sum() > 0  # truncated normal, not mmseg's zeros
    assert model.language_gates[0].fc1.weight.std() < 0.03  # trunc. normal
    # the PWAM keeps PyTorch's default Linear init (uniform, +-1/sqrt(fan))
    weight = model.pixel_word_attns[0].key_proj.weight
    assert weight.abs().max() <= 12**-0.5 and weight.std() > 0.1


def test_bad_arguments():
    with pytest.raises(ValueError, match='fusion_num_heads'):
        LAVTSwin(**dict(TINY, fusion_num_heads=(1, 1)))
    with pytest.raises(ValueError, match='with_global'):
        LAVTSwin(**dict(TINY, with_global=True))
