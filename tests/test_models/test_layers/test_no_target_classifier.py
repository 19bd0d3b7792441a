import pytest
import torch

from mmrefseg.models.layers import NoTargetClassifier
from mmrefseg.registry import MODELS


def test_shapes_and_registry():
    classifier = MODELS.build(
        dict(type='NoTargetClassifier', in_channels=8, hidden_channels=16))
    logits = classifier(torch.randn(3, 8, 4, 4), torch.randn(3, 1, 16, 16))
    assert logits.shape == (3, )
    with_sentence = NoTargetClassifier(8, sentence_channels=5)
    assert with_sentence(
        torch.randn(2, 8, 4, 4), torch.randn(2, 1, 8, 8),
        torch.randn(2, 5)).shape == (2, )
    with pytest.raises(KeyError, match='sentence'):
        with_sentence(torch.randn(2, 8, 4, 4), torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r'\(B, 8, H, W\)'):
        classifier(torch.randn(2, 6, 4, 4), torch.randn(2, 1, 8, 8))


def test_mask_logits_enter_detached_pixels_do_not():
    classifier = NoTargetClassifier(4, hidden_channels=8)
    pixels = torch.randn(2, 4, 3, 3, requires_grad=True)
    masks = torch.randn(2, 1, 6, 6, requires_grad=True)
    classifier.loss(classifier(pixels, masks),
                    torch.tensor([True, False])).backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0
    assert masks.grad is None


def test_loss_and_decision():
    classifier = NoTargetClassifier(4, threshold=0.7, loss_weight=2.0)
    logits = torch.tensor([0.0, 3.0, -3.0])
    labels = torch.tensor([True, True, False])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, labels.float())
    assert classifier.loss(logits, labels) == pytest.approx(
        2 * expected.item())
    # sigmoid(0) = 0.5 < 0.7: targeted; sigmoid(3) = 0.95: no target.
    assert classifier.decide(logits).tolist() == [False, True, False]
    with pytest.raises(ValueError, match='threshold'):
        NoTargetClassifier(4, threshold=1.0)
