"""CRIS built from the shipped configs has the paper's parameter count."""
import os.path as osp

import pytest
from mmengine.config import Config

from mmrefseg.registry import MODELS
from mmrefseg.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
# The reference keeps CLIP's 77 text positions (it reads only word_len = 17)
# and CLIP's logit_scale; mmrefseg stores neither.
REFERENCE_ONLY = (77 - 17) * 512 + 1


@pytest.mark.parametrize('arch, parts', [
    ('r50', dict(backbone=40416096, text_encoder=63659520, neck=24142336,
                 decode_head=18600449)),
    ('r101', dict(backbone=57309536, text_encoder=63397376, neck=23093760,
                  decode_head=17420289)),
])
def test_cris_parameter_count(arch, parts):
    register_all_modules()
    config = osp.join(REPO, 'configs', '_base_', 'models', f'cris_{arch}.py')
    model = MODELS.build(Config.fromfile(config).model)
    counts = {
        name: sum(p.numel() for p in getattr(model, name).parameters())
        for name in parts
    }
    assert counts == parts
    total = sum(p.numel() for p in model.parameters())
    assert total == sum(parts.values())
    if arch == 'r50':  # paper, Table 1: 146.85 M
        assert round((total + REFERENCE_ONLY) / 1e6, 2) == 146.85
