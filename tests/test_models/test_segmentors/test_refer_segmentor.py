import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import tests.helpers  # noqa: F401  (registers the TestOnly fakes)
from mmrefseg.datasets.transforms.letterbox import LetterboxResize
from mmrefseg.registry import MODELS
from mmrefseg.utils import register_all_modules
from tests.helpers import TINY_CLIP_RESNET, TINY_CLIP_TEXT

SIZE = 64


def _model_cfg(global_channels=None, **kwargs):
    cfg = dict(
        type='ReferSegmentor',
        backbone=dict(
            type='TestOnlyFakeReferBackbone',
            out_channels=(8, 12, 16),
            global_channels=global_channels),
        text_encoder=dict(
            type='TestOnlyFakeTextEncoder',
            word_len=6,
            word_channels=32,
            sentence_channels=24),
        neck=dict(
            type='FusionNeck',
            in_channels=(8, 12, 16),
            out_channels=(8, 32, 16),
            sentence_channels=24),
        decode_head=dict(
            type='VLDecoderHead',
            in_channels=32,
            text_channels=24,
            num_layers=1,
            num_heads=4,
            feedforward_channels=64,
            proj_channels=8),
        test_cfg=dict(threshold=0.35, upsample_mode='bicubic'))
    cfg.update(kwargs)
    return cfg


def _sample(text, ori_shape, gt=None):
    geometry = LetterboxResize(scale=(SIZE, SIZE)).geometry(*ori_shape)
    geometry.pop('matrix')
    sample = SegDataSample(
        metainfo=dict(
            text=text,
            img_path=f'{text}.jpg',
            ori_shape=ori_shape,
            img_shape=(SIZE, SIZE),
            **geometry))
    if gt is not None:
        sample.gt_sem_seg = PixelData(data=gt)
    return sample


def test_loss_trains_every_part():
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg()).train()
    samples = [
        _sample('the man on the left', (30, 60),
                torch.rand(1, SIZE, SIZE)),
        _sample('red car', (50, 40), torch.rand(1, SIZE, SIZE))
    ]
    losses = model(torch.randn(2, 3, SIZE, SIZE), samples, mode='loss')
    assert set(losses) == {'decode.loss_mask', 'decode.iou_seg'}
    losses['decode.loss_mask'].backward()
    for part in ('backbone', 'text_encoder', 'neck', 'decode_head'):
        grads = [p.grad for p in getattr(model, part).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), part


def test_predict_at_original_size_without_gt():
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg()).eval()
    samples = [_sample('a dog', (30, 60)), _sample('the cup', (70, 35))]
    with torch.no_grad():
        results = model(torch.randn(2, 3, SIZE, SIZE), samples, mode='predict')
        logits = model(torch.randn(2, 3, SIZE, SIZE), samples, mode='tensor')
    assert logits.shape == (2, 1, SIZE // 4, SIZE // 4)
    for result, shape in zip(results, [(30, 60), (70, 35)]):
        prob, pred = result.seg_logits.data, result.pred_sem_seg.data
        assert prob.shape == pred.shape == (1, *shape)
        assert pred.dtype == torch.int64
        assert 0 <= prob.min() and prob.max() <= 1
        assert torch.equal(pred, (prob > 0.35).long())


@pytest.mark.parametrize('batch_width', [SIZE, SIZE + 8])
def test_predict_undoes_the_letterbox(batch_width):
    """Foreground: the left half of the original image. In the 64x64 input
    (a 30x60 image scaled by 16/15, 16 rows of padding above and below) that
    is rows 16-48, columns 0-32. The padding bands and the data
    preprocessor's extra columns are set to foreground too: a prediction
    that did not crop them away would show foreground on the right half."""
    model = MODELS.build(_model_cfg(test_cfg=dict(threshold=0.5))).eval()
    logits = torch.full((1, 1, SIZE, batch_width), -10.)
    logits[..., :16, :] = 10.
    logits[..., 48:, :] = 10.
    logits[..., :, SIZE:] = 10.
    logits[..., 16:48, :32] = 10.
    model.decode_head.predict_with_no_target = (
        lambda feats, metas, cfg: (logits, None))
    sample = _sample('left half', (30, 60))
    assert sample.pad_offset == (16.0, 0.0)
    with torch.no_grad():
        result = model.predict(
            torch.randn(1, 3, SIZE, batch_width), [sample])[0]
    pred = result.pred_sem_seg.data[0]
    assert pred.shape == (30, 60)
    assert (pred[:, :29] == 1).all()
    assert (pred[:, 31:] == 0).all()


def test_global_feature_is_split_off():
    model = MODELS.build(_model_cfg(global_channels=7)).eval()
    with torch.no_grad():
        feats = model.extract_feat(
            torch.randn(2, 3, SIZE, SIZE),
            [_sample('a', (10, 10)), _sample('b c', (10, 10))])
    assert len(feats['img_feats']) == 3
    assert feats['global_img'].shape == (2, 7)
    assert feats['fused'].shape == (2, 32, 4, 4)
    assert feats['pad_mask'].shape == feats['word_feats'].shape[:2]
    with torch.no_grad():
        no_global = MODELS.build(_model_cfg()).eval().extract_feat(
            torch.randn(1, 3, SIZE, SIZE), [_sample('a', (10, 10))])
    assert no_global['global_img'] is None


def test_train_and_test_step_through_the_data_preprocessor():
    register_all_modules()  # as the runner: mmseg's preprocessor resolves
    torch.manual_seed(0)
    model = MODELS.build(
        _model_cfg(
            data_preprocessor=dict(
                type='SegDataPreProcessor',
                mean=[122.8, 116.7, 104.1],
                std=[68.5, 66.6, 70.3],
                bgr_to_rgb=True,
                size=(SIZE, SIZE))))
    images = [torch.randint(0, 256, (3, SIZE, SIZE), dtype=torch.uint8)
              for _ in range(2)]
    train_data = dict(
        inputs=images,
        data_samples=[
            _sample('left man', (30, 60), torch.rand(1, SIZE, SIZE)),
            _sample('blue sky', (40, 40), torch.rand(1, SIZE, SIZE))
        ])
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.decode_head.proj.txt.weight.detach().clone()
    log_vars = model.train_step(train_data, wrapper)
    assert 'loss' in log_vars and torch.isfinite(log_vars['loss'])
    assert not torch.equal(before, model.decode_head.proj.txt.weight)

    model.eval()
    test_data = dict(
        inputs=images,
        data_samples=[_sample('left man', (30, 60)),
                      _sample('blue sky', (40, 40))])
    results = model.test_step(test_data)
    assert [r.pred_sem_seg.data.shape for r in results] == [(1, 30, 60),
                                                          (1, 40, 40)]


def test_with_the_clip_encoders():
    torch.manual_seed(0)
    cfg = _model_cfg(
        backbone=dict(type='CLIPResNet', **TINY_CLIP_RESNET),
        text_encoder=dict(type='CLIPTextEncoder', context_length=8,
                          **TINY_CLIP_TEXT),
        neck=dict(
            type='FusionNeck',
            in_channels=(64, 128, 64),
            out_channels=(16, 32, 64),
            sentence_channels=64),
        decode_head=dict(
            type='VLDecoderHead',
            in_channels=32,
            text_channels=64,
            num_layers=1,
            num_heads=4,
            feedforward_channels=64,
            proj_channels=8))
    model = MODELS.build(cfg)
    samples = [
        _sample('the giraffe on the right', (30, 60),
                torch.rand(1, SIZE, SIZE)),
        _sample('zebra', (60, 30), torch.rand(1, SIZE, SIZE))
    ]
    losses = model.loss(torch.randn(2, 3, SIZE, SIZE), samples)
    assert torch.isfinite(losses['decode.loss_mask'])
    model.eval()
    with torch.no_grad():
        results = model.predict(torch.randn(2, 3, SIZE, SIZE), samples)
    assert results[1].pred_sem_seg.data.shape == (1, 60, 30)


def test_errors():
    model = MODELS.build(_model_cfg())
    with pytest.raises(KeyError, match="no 'text' metainfo"):
        model.extract_feat(
            torch.randn(1, 3, SIZE, SIZE), [SegDataSample(metainfo={})])
    with pytest.raises(ValueError, match='needs data_samples'):
        model(torch.randn(1, 3, SIZE, SIZE), None, mode='tensor')
    with pytest.raises(NotImplementedError):
        model.aug_test(None, None)


def test_no_target_branch_sets_pred_no_target():
    register_all_modules()
    cfg = _model_cfg()
    cfg['decode_head']['no_target_classifier'] = dict(
        type='NoTargetClassifier', in_channels=32, hidden_channels=8)
    model = MODELS.build(cfg).eval()
    # The classifier answers "no target" for every sample.
    model.decode_head.no_target_classifier.mlp[-1].bias.data.fill_(10.0)
    samples = [_sample('a', (40, 50)), _sample('b', (30, 30))]
    with torch.no_grad():
        results = model.predict(torch.randn(2, 3, SIZE, SIZE), samples)
    for result in results:
        assert result.pred_no_target is True
        assert not result.pred_sem_seg.data.any()
    # Off: no pred_no_target, the metric then reads the mask.
    off = MODELS.build(_model_cfg()).eval()
    with torch.no_grad():
        results = off.predict(
            torch.randn(1, 3, SIZE, SIZE), [_sample('a', (40, 50))])
    assert 'pred_no_target' not in results[0]
