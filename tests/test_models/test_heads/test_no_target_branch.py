"""The heads' no-target branch (GRES): shapes, losses, inference, off."""
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.models.decode_heads import EMPTY_MASK_LOGIT
from mmrefseg.registry import MODELS
from tests.helpers import forced_no_target

C, TEXT = 32, 24


def _cris_head(no_target=True):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='VLDecoderHead',
            in_channels=C,
            text_channels=TEXT,
            num_layers=1,
            num_heads=4,
            feedforward_channels=64,
            proj_channels=8,
            no_target_classifier=dict(
                type='NoTargetClassifier', in_channels=C,
                hidden_channels=16) if no_target else None))


def _aligner_head(no_target=True):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='VisionLanguageAlignerHead',
            memory='words',
            kernel_source='sentence',
            sentence_channels=TEXT,
            in_channels=C,
            num_layers=1,
            num_heads=4,
            feedforward_channels=64,
            mask_channels=8,
            no_target_classifier=dict(
                type='NoTargetClassifier',
                in_channels=C,
                sentence_channels=TEXT,
                hidden_channels=16) if no_target else None))


def _feats(batch=3):
    torch.manual_seed(1)
    return dict(
        img_feats=(torch.randn(batch, 8, 8, 8), ),
        global_img=None,
        fused=torch.randn(batch, C, 4, 4),
        word_feats=torch.randn(batch, 5, C),
        pad_mask=torch.zeros(batch, 5, dtype=torch.bool),
        sentence_feat=torch.randn(batch, TEXT))


def _samples(no_target_flags, size=16, with_flag=True):
    samples = []
    for flag in no_target_flags:
        gt = torch.zeros(1, size, size)
        if not flag:
            gt[0, 2:9, 3:12] = 1
        sample = SegDataSample(
            metainfo=dict(no_target=flag) if with_flag else {})
        sample.gt_sem_seg = PixelData(data=gt)
        samples.append(sample)
    return samples


def test_branch_shapes_and_losses():
    for head in (_cris_head(), _aligner_head()):
        feats = _feats()
        head.eval()
        with torch.no_grad():
            logits, no_target_logits = head.forward_with_no_target(feats)
            # forward() keeps its contract: the mask logits alone, the same.
            assert torch.equal(head(feats), logits)
        assert logits.shape == (3, 1, 16, 16)
        assert no_target_logits.shape == (3, )
        head.train()
        losses = head.loss(feats, _samples([True, False, True]), None)
        assert set(losses) == {
            'loss_mask', 'loss_no_target', 'acc_no_target', 'iou_seg'
        }
        for value in losses.values():
            assert torch.isfinite(value)
        (losses['loss_mask'] + losses['loss_no_target']).backward()
        assert all(p.grad is not None
                   for p in head.no_target_classifier.parameters())


def test_labels_fall_back_to_empty_masks():
    head = _cris_head()
    labels = head.no_target_labels(
        _samples([True, False, True], with_flag=False))
    assert labels.tolist() == [True, False, True]


def test_no_target_empties_the_mask():
    head = _cris_head().eval()
    feats = _feats()
    with torch.no_grad():
        plain = head(feats)
        with forced_no_target(head, [True, False, False]):
            logits, no_target = head.predict_with_no_target(feats, [{}] * 3)
    assert no_target.tolist() == [True, False, False]
    assert torch.all(logits[0] == EMPTY_MASK_LOGIT)
    assert torch.all(logits[0].sigmoid() == 0)
    assert torch.equal(logits[1:], plain[1:])
    with torch.no_grad():
        # All targeted now: predict() gives the plain logits.
        assert torch.equal(head.predict(feats, [{}] * 3), plain)


def test_switched_off_is_the_head_of_before():
    for build in (_cris_head, _aligner_head):
        off, on = build(no_target=False), build(no_target=True)
        assert not off.with_no_target and on.with_no_target
        assert not any('no_target' in key for key in off.state_dict())
        extra = set(on.state_dict()) - set(off.state_dict())
        assert extra and all(
            key.startswith('no_target_classifier.') for key in extra)
        off.eval()
        feats = _feats()
        with torch.no_grad():
            logits, decision = off.predict_with_no_target(feats, [{}] * 3)
            assert decision is None
            assert torch.equal(logits, off(feats))
        losses = off.loss(feats, _samples([False, False, False]), None)
        assert set(losses) == {'loss_mask', 'iou_seg'}


def test_logged_iou_counts_correct_empty_masks():
    head = _cris_head()
    logits = torch.full((2, 1, 4, 4), -10.0)
    target = torch.zeros(2, 1, 4, 4)
    target[1, 0, :2, :2] = 1
    # Sample 0: nothing predicted, nothing there (IoU 1); sample 1: missed.
    assert head.batch_iou(logits, target, 0.35).item() == 0.5
