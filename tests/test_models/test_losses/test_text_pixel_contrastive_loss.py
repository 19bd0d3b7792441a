import math

import pytest
import torch

from mmrefseg.models.losses import TextPixelContrastiveLoss
from mmrefseg.registry import MODELS


def test_value_against_hand_computation():
    logits = torch.tensor([[[[2.0, -1.0], [0.0, 3.0]]]])
    target = torch.tensor([[[[1.0, 0.0], [0.5, 0.2]]]])

    def bce(x, t):
        p = 1 / (1 + math.exp(-x))
        return -(t * math.log(p) + (1 - t) * math.log(1 - p))

    expected = (bce(2.0, 1.0) + bce(-1.0, 0.0) + bce(0.0, 0.5) +
                bce(3.0, 0.2)) / 4
    loss = TextPixelContrastiveLoss()(logits, target)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    weighted = TextPixelContrastiveLoss(loss_weight=0.5)(logits, target)
    assert weighted.item() == pytest.approx(expected / 2, rel=1e-6)


def test_built_from_config_with_name():
    loss = MODELS.build(
        dict(type='TextPixelContrastiveLoss', loss_name='loss_align'))
    assert loss.loss_name == 'loss_align'
    assert TextPixelContrastiveLoss().loss_name == 'loss_mask'


def test_half_precision_logits_give_float32_loss_and_grad():
    logits = torch.randn(2, 1, 8, 8).half().requires_grad_()
    target = (torch.rand(2, 1, 8, 8) > 0.5).to(torch.uint8)
    loss = TextPixelContrastiveLoss()(logits, target)
    assert loss.dtype == torch.float32
    loss.backward()
    assert logits.grad.dtype == torch.float16


def test_shape_mismatch():
    with pytest.raises(ValueError, match='same shape'):
        TextPixelContrastiveLoss()(torch.zeros(1, 1, 4, 4),
                                   torch.zeros(1, 1, 8, 8))
