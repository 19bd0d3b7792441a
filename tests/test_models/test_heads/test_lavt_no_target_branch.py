"""LAVT's SimpleDecoding head with the no-target branch (GRES): shapes,
losses, the sentence vector it reads, inference, and the switch off."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.models.decode_heads import EMPTY_MASK_LOGIT
from mmrefseg.registry import MODELS
from mmrefseg.utils import register_all_modules
from tests.helpers import forced_no_target

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
MAPS = (8, 16, 32, 64)  # channels at strides 4, 8, 16, 32
C, WORDS, L, SIZE = 32, 12, 5, 32


def _head(no_target=True, sentence=True):
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='LAVTSimpleDecodingHead',
            in_channels=MAPS,
            channels=C,
            no_target_classifier=dict(
                type='NoTargetClassifier',
                in_channels=C,
                sentence_channels=WORDS if sentence else None,
                hidden_channels=16) if no_target else None))
    head.init_weights()
    return head


def _feats(batch=3, real_words=(5, 3, 1)):
    """LAVT's VL feature dict: no neck, BERT words unprojected, no sentence
    feature (``use_sentence=False``)."""
    torch.manual_seed(1)
    pad_mask = torch.ones(batch, L, dtype=torch.bool)
    for i, n in enumerate(real_words[:batch]):
        pad_mask[i, :n] = False
    return dict(
        img_feats=tuple(
            torch.randn(batch, c, SIZE // s, SIZE // s)
            for c, s in zip(MAPS, (4, 8, 16, 32))),
        global_img=None,
        word_feats=torch.randn(batch, L, WORDS),
        pad_mask=pad_mask,
        sentence_feat=None,
        fused=None)


def _samples(no_target_flags):
    samples = []
    for flag in no_target_flags:
        gt = torch.zeros(1, SIZE, SIZE)
        if not flag:
            gt[0, 2:19, 3:22] = 1
        sample = SegDataSample(metainfo=dict(no_target=flag))
        sample.gt_sem_seg = PixelData(data=gt)
        samples.append(sample)
    return samples


def test_branch_shapes_and_losses():
    head, feats = _head().eval(), _feats()
    with torch.no_grad():
        logits, no_target_logits = head.forward_with_no_target(feats)
        # forward() keeps its contract: the mask logits alone, the same.
        assert torch.equal(head(feats), logits)
        pixels = head.forward_for_no_target(feats)[1]
    assert logits.shape == (3, 1, SIZE, SIZE)
    assert no_target_logits.shape == (3, )
    # the classifier reads the decoder's last map, before the classifier
    assert pixels.shape == (3, C, SIZE // 4, SIZE // 4)
    head.train()
    losses = head.loss(feats, _samples([True, False, True]), None)
    assert set(losses) == {
        'loss_mask', 'loss_no_target', 'acc_no_target', 'iou_seg'
    }
    for value in losses.values():
        assert torch.isfinite(value)
    (losses['loss_mask'] + losses['loss_no_target']).backward()
    for name, param in head.named_parameters():
        assert param.grad is not None, name


def _classifier_inputs(head, feats):
    """The (pixels, mask logits, sentence) the classifier is called with."""
    seen = []
    handle = head.no_target_classifier.register_forward_hook(
        lambda module, args, out: seen.append(args))
    with torch.no_grad():
        head.forward_with_no_target(feats)
    handle.remove()
    return seen[0]


def test_sentence_vector_is_the_mean_of_the_real_words():
    head, feats = _head().eval(), _feats()
    _, _, sentence = _classifier_inputs(head, feats)
    real = ~feats['pad_mask']
    expected = torch.stack([
        words[keep].mean(0) for words, keep in zip(feats['word_feats'], real)
    ])
    torch.testing.assert_close(sentence, expected)
    # padding words do not change the decision
    changed = dict(feats, word_feats=feats['word_feats'].clone())
    changed['word_feats'][feats['pad_mask']] = 1e3
    with torch.no_grad():
        before = head.forward_with_no_target(feats)[1]
        after = head.forward_with_no_target(changed)[1]
    torch.testing.assert_close(before, after)
    # a text encoder's own sentence feature is read as it is
    own = torch.randn(3, WORDS)
    _, _, sentence = _classifier_inputs(head, dict(feats, sentence_feat=own))
    assert sentence is own
    # without sentence_channels the classifier gets no sentence
    plain = _head(sentence=False).eval()
    _, _, sentence = _classifier_inputs(plain, feats)
    assert sentence is None


def test_no_target_empties_the_mask():
    head, feats = _head().eval(), _feats()
    with torch.no_grad():
        plain = head(feats)
        with forced_no_target(head, [False, True, False]):
            logits, no_target = head.predict_with_no_target(feats, [{}] * 3)
    assert no_target.tolist() == [False, True, False]
    assert torch.all(logits[1] == EMPTY_MASK_LOGIT)
    assert torch.equal(logits[0], plain[0])
    assert torch.equal(logits[2], plain[2])


# The head of configs/_base_/models/lavt_swinb.py at tiny widths, as built
# before the branch existed: these keys, in this order.
HEAD_KEYS = [
    f'{block}.{i}.{name}' for block in ('fuse_c3', 'fuse_c2', 'fuse_c1')
    for i in (0, 1)
    for name in ('conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean',
                 'bn.running_var', 'bn.num_batches_tracked')
] + ['conv_seg.weight', 'conv_seg.bias']


def test_switched_off_is_the_head_of_before():
    off, on = _head(no_target=False), _head(no_target=True)
    default = MODELS.build(
        dict(type='LAVTSimpleDecodingHead', in_channels=MAPS, channels=C))
    assert list(off.state_dict()) == list(default.state_dict()) == HEAD_KEYS
    assert not off.with_no_target and on.with_no_target
    extra = set(on.state_dict()) - set(off.state_dict())
    assert extra and all(
        key.startswith('no_target_classifier.') for key in extra)
    assert set(on.state_dict()) - extra == set(HEAD_KEYS)
    # the same weights give the same masks with the branch on or off
    on.load_state_dict(off.state_dict(), strict=False)
    off.eval()
    on.eval()
    feats = _feats()
    with torch.no_grad():
        logits, decision = off.predict_with_no_target(feats, [{}] * 3)
        assert decision is None
        assert torch.equal(logits, off(feats))
        assert torch.equal(on(feats), logits)
    off.train()
    losses = off.loss(feats, _samples([False, False, False]), None)
    assert set(losses) == {'loss_mask', 'iou_seg'}


def _toy_lavt(no_target):
    """configs/toy/lavt_tiny_refer-toy.py's model, optionally with the
    branch (decoder width 64, BERT width 64)."""
    register_all_modules()
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'toy', 'lavt_tiny_refer-toy.py'))
    if no_target:
        cfg.model.decode_head.no_target_classifier = dict(
            type='NoTargetClassifier',
            in_channels=cfg.model.decode_head.channels,
            sentence_channels=cfg.width,
            hidden_channels=16)
    torch.manual_seed(0)
    return MODELS.build(cfg.model), cfg.img_size


def _toy_samples(size, no_target_flags):
    samples = []
    for i, flag in enumerate(no_target_flags):
        sample = SegDataSample(
            metainfo=dict(
                text=('a red circle', 'the blue square on the left')[i % 2],
                img_shape=(size, size),
                ori_shape=(size, size),
                scale_factor=(1.0, 1.0),
                pad_offset=(0, 0),
                no_target=flag))
        gt = torch.zeros(1, size, size)
        if not flag:
            gt[0, 10:40, 20:70] = 1
        sample.gt_sem_seg = PixelData(data=gt)
        samples.append(sample)
    return samples


def test_lavt_segmentor_sets_pred_no_target_and_trains_every_part():
    on, size = _toy_lavt(no_target=True)
    off, _ = _toy_lavt(no_target=False)
    # the same model without the branch, whose keys are off's
    extra = set(on.state_dict()) - set(off.state_dict())
    assert extra and all(
        key.startswith('decode_head.no_target_classifier.') for key in extra)
    # Every trainable parameter gets a gradient from a batch with a
    # no-target sentence (DDP without find_unused_parameters).
    on.train()
    image = torch.randn(2, 3, size, size)
    loss, _ = on.parse_losses(
        on.loss(image, _toy_samples(size, [True, False])))
    loss.backward()
    missing = [
        n for n, p in on.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert not missing
    # The classifier answers "no target" for every sample: empty masks.
    on.eval()
    on.decode_head.no_target_classifier.mlp[-1].bias.data.fill_(10.0)
    with torch.no_grad():
        results = on.predict(image, _toy_samples(size, [False, False]))
    for result in results:
        assert result.pred_no_target is True
        assert not result.pred_sem_seg.data.any()
    # Off: no pred_no_target, the metric then reads the mask.
    off.eval()
    with torch.no_grad():
        results = off.predict(image[:1], _toy_samples(size, [False]))
    assert 'pred_no_target' not in results[0]
