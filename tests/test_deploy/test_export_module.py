"""ReferExportModule computes ReferSegmentor._forward from token tensors."""
import pytest
import torch
from torch import nn

from mmrefseg.deploy import (ReferExportModule, token_input_names,
                             tokenize_texts)
from tests.helpers import FakeTextEncoder
from .conftest import FAMILIES, preprocessed

TEXTS = [
    'the dog', 'the tall man in the blue shirt standing on the left '
    'next to the small red car'
]


def test_token_input_names_follow_forward_tokens(exports):
    clip = exports.model('cris')[0].text_encoder
    bert = exports.model('eavl-swin')[0].text_encoder
    assert token_input_names(clip) == ('token_ids', )
    assert token_input_names(bert) == ('token_ids', 'attention_mask')
    assert token_input_names(FakeTextEncoder()) == ('token_ids', )
    with pytest.raises(TypeError, match='forward_tokens'):
        token_input_names(nn.Linear(2, 2))


def test_tokenize_texts_is_the_encoders_own(exports):
    clip = exports.model('cris')[0].text_encoder
    assert torch.equal(
        tokenize_texts(clip, TEXTS)['token_ids'], clip.tokenize(TEXTS))
    bert = exports.model('eavl-swin')[0].text_encoder
    tokens = tokenize_texts(bert, TEXTS)
    encoded = bert._encode(TEXTS)
    assert torch.equal(tokens['token_ids'], encoded['input_ids'])
    assert torch.equal(tokens['attention_mask'], encoded['attention_mask'])
    # One sentence padded, one cut to word_len.
    assert tokens['attention_mask'][0, -1] == 0
    assert tokens['attention_mask'][1].all()


@pytest.mark.parametrize('family', FAMILIES)
@pytest.mark.parametrize('shared_image', [True, False])
def test_export_module_equals_tensor_mode(exports, odd_image, family,
                                          shared_image):
    model, cfg = exports.model(family)
    inputs, samples = preprocessed(model, cfg, odd_image, TEXTS)
    if not shared_image:
        inputs = torch.cat([inputs, inputs.flip(-1)])
    module = ReferExportModule(model)
    tokens = tokenize_texts(model.text_encoder, TEXTS)
    with torch.no_grad():
        expected = model._forward(inputs, samples)
        logits = module(inputs, *tokens.values())
    assert logits.shape == expected.shape
    torch.testing.assert_close(logits, expected, rtol=0, atol=0)
