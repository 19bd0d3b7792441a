"""LAVT's SimpleDecoding head and its 2-class cross-entropy."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.models.decode_heads import LAVTSimpleDecodingHead
from mmrefseg.models.losses import TwoClassCrossEntropyLoss


def _feats(batch=2, size=32):
    return dict(img_feats=tuple(
        torch.randn(batch, c, size // s, size // s)
        for c, s in ((8, 4), (16, 8), (32, 16), (64, 32))))


def _head():
    torch.manual_seed(0)
    head = LAVTSimpleDecodingHead(in_channels=(8, 16, 32, 64), channels=32)
    head.init_weights()
    return head.eval()


def test_logit_is_the_upsampled_class_margin():
    head, feats = _head(), _feats()
    classes = head.forward_class_logits(feats)
    assert classes.shape == (2, 2, 8, 8)
    logits = head(feats)
    assert logits.shape == (2, 1, 32, 32)
    # the reference: bilinear (corners aligned) to the input, then argmax
    upsampled = F.interpolate(classes, size=(32, 32), mode='bilinear',
                              align_corners=True)
    torch.testing.assert_close(logits, upsampled[:, 1:] - upsampled[:, :1])
    assert torch.equal(logits > 0, upsampled.argmax(1, keepdim=True) == 1)


def test_loss_is_the_reference_weighted_cross_entropy():
    head, feats = _head(), _feats()
    head.train()
    target = (torch.rand(2, 1, 32, 32) > 0.6).float()
    samples = []
    for mask in target:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=mask)
        samples.append(sample)
    losses = head.loss(feats, samples, dict(threshold=0.5))
    classes = F.interpolate(head.forward_class_logits(feats), size=(32, 32),
                            mode='bilinear', align_corners=True)
    expected = F.cross_entropy(classes, target[:, 0].long(),
                               weight=torch.tensor([0.9, 1.1]))
    torch.testing.assert_close(losses['loss_mask'], expected)
    assert 0 <= losses['iou_seg'] <= 1


def test_two_class_loss_binarises_soft_targets_and_checks_shapes():
    loss = TwoClassCrossEntropyLoss(class_weight=(1.0, 3.0))
    logits = torch.randn(1, 1, 4, 4)
    soft = torch.rand(1, 1, 4, 4)
    torch.testing.assert_close(loss(logits, soft),
                               loss(logits, (soft > 0.5).float()))
    with pytest.raises(ValueError, match='(B, 1, H, W)'):
        loss(torch.randn(1, 2, 4, 4), torch.rand(1, 2, 4, 4))
    with pytest.raises(ValueError, match='class_weight'):
        TwoClassCrossEntropyLoss(class_weight=(1.0, ))


def test_head_needs_four_maps():
    with pytest.raises(ValueError, match='four'):
        LAVTSimpleDecodingHead(in_channels=(8, 16, 32))
    with pytest.raises(ValueError, match='four maps'):
        _head()(dict(img_feats=_feats()['img_feats'][1:]))
