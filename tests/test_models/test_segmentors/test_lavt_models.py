"""LAVT in the ReferSegmentor: the reference's size, and a backbone that
reads the sentence."""
import os.path as osp

import torch
from mmengine.config import Config
from mmseg.structures import SegDataSample

from mmrefseg.registry import MODELS
from mmrefseg.utils import register_all_modules
from tests.helpers import write_tiny_bert_vocab

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
BERT_BASE_NO_POOLER = 108891648


def test_lavt_swinb_has_the_reference_parameter_count(tmp_path):
    """The public code builds 227.7 M parameters, 118.8 M without BERT."""
    register_all_modules()
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models', 'lavt_swinb.py'))
    # BERT-base's sizes (random weights; the vocabulary has 30522 entries)
    cfg.model.text_encoder.update(
        pretrained=None,
        bert_cfg=dict(vocab_size=30522),
        vocab_file=write_tiny_bert_vocab(tmp_path / 'vocab.txt'))
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    count = {
        name: sum(p.numel() for p in getattr(model, name).parameters())
        for name in ('backbone', 'text_encoder', 'decode_head')
    }
    assert count['text_encoder'] == BERT_BASE_NO_POOLER
    assert count == dict(
        backbone=98196856, text_encoder=108891648, decode_head=20651010)
    total = sum(count.values())
    assert round(total / 1e6, 1) == 227.7
    assert round((total - BERT_BASE_NO_POOLER) / 1e6, 1) == 118.8


def test_one_image_many_sentences_equals_the_batch(tmp_path):
    """A text-conditioned backbone sees the image once per sentence."""
    register_all_modules()
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'toy', 'lavt_tiny_refer-toy.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    texts = ['the red circle on the left', 'blue square']
    samples = [
        SegDataSample(metainfo=dict(text=t, img_shape=(64, 64)))
        for t in texts
    ]
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        shared = model(image, samples, mode='tensor')
        batch = model(image.expand(2, -1, -1, -1), samples, mode='tensor')
        first = model(image, samples[:1], mode='tensor')
    assert shared.shape == (2, 1, 64, 64)
    torch.testing.assert_close(shared, batch)
    torch.testing.assert_close(shared[:1], first, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(shared[0], shared[1])
