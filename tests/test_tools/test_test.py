"""tools/test.py: metrics, --out, --show-dir, and refusals."""
import json
import os
import os.path as osp

import mmcv
import pytest
from pycocotools import mask as mask_utils

from .conftest import python_tool
from .test_train import load_tool

NUM_VAL_SENTENCES = 13  # val split of the generated data (one image)


@pytest.fixture(scope='module')
def test_tool():
    return load_tool('test')


@pytest.fixture(scope='module')
def test_run(tool_config, trained_checkpoint, tmp_path_factory):
    """One tools/test.py run with --out and --show-dir."""
    _, checkpoint = trained_checkpoint
    root = tmp_path_factory.mktemp('test_run')
    out, show_dir = str(root / 'results.json'), str(root / 'pictures')
    # A low threshold gives non-empty masks after one epoch of training.
    python_tool('test.py', tool_config, checkpoint, '--work-dir',
                str(root / 'work_dir'), '--out', out, '--show-dir', show_dir,
                '--cfg-options', 'model.test_cfg.threshold=0.01')
    with open(out) as f:
        return json.load(f), show_dir


def test_out_holds_metrics_and_one_mask_per_sentence(test_run, tool_config):
    results, _ = test_run
    assert results['config'] == osp.abspath(tool_config)
    metrics, predictions = results['metrics'], results['predictions']
    assert set(metrics) == {
        'oIoU', 'mIoU', 'Pr@0.5', 'Pr@0.6', 'Pr@0.7', 'Pr@0.8', 'Pr@0.9'
    }
    assert len(predictions) == NUM_VAL_SENTENCES
    assert len({(p['image_id'], p['sent_id'])
                for p in predictions}) == NUM_VAL_SENTENCES
    ious = []
    for record in predictions:
        mask = mask_utils.decode(
            dict(size=record['pred_mask']['size'],
                 counts=record['pred_mask']['counts'].encode()))
        height, width = mmcv.imread(record['img_path']).shape[:2]
        assert mask.shape == (height, width)
        assert isinstance(record['text'], str) and record['text']
        ious.append(record['iou'])
    assert any(mask_utils.area(
        dict(size=p['pred_mask']['size'],
             counts=p['pred_mask']['counts'].encode())) > 0
               for p in predictions)
    # The records' IoUs are the ones the metric averaged.
    assert metrics['mIoU'] == pytest.approx(100 * sum(ious) / len(ious))


def test_show_dir_has_one_picture_per_sentence(test_run):
    results, show_dir = test_run
    expected = {
        f"{p['image_id']}_{p['sent_id']}.jpg"
        for p in results['predictions']
    }
    # Several sentences of one image: named by image, they would overwrite.
    assert len({p['image_id'] for p in results['predictions']}) < len(expected)
    assert set(os.listdir(show_dir)) == expected
    for record in results['predictions']:
        name = f"{record['image_id']}_{record['sent_id']}.jpg"
        picture = mmcv.imread(osp.join(show_dir, name))
        assert picture.shape == mmcv.imread(record['img_path']).shape


def test_existing_out_is_not_overwritten(test_tool, tool_config,
                                         trained_checkpoint, tmp_path):
    _, checkpoint = trained_checkpoint
    out = tmp_path / 'results.json'
    out.write_text('keep me')
    with pytest.raises(SystemExit, match='already exists'):
        test_tool.main([tool_config, checkpoint, '--out', str(out)])
    assert out.read_text() == 'keep me'


def test_non_empty_show_dir_is_refused(test_tool, tool_config,
                                       trained_checkpoint, tmp_path):
    _, checkpoint = trained_checkpoint
    (tmp_path / 'old.jpg').write_bytes(b'')
    with pytest.raises(SystemExit, match='not empty'):
        test_tool.main(
            [tool_config, checkpoint, '--show-dir',
             str(tmp_path)])


@pytest.mark.parametrize('bad_argument, message', [
    ('checkpoint', r'checkpoint ".*missing\.pth" does not exist'),
    ('config', r'config file ".*missing\.py" does not exist'),
    ('out', r'must end with one of \.pkl'),
])
def test_bad_paths_are_reported(test_tool, tool_config, trained_checkpoint,
                                tmp_path, bad_argument, message):
    _, checkpoint = trained_checkpoint
    args = dict(config=tool_config, checkpoint=checkpoint, out=None)
    args[bad_argument] = str(tmp_path / dict(
        checkpoint='missing.pth', config='missing.py',
        out='results.txt')[bad_argument])
    argv = [args['config'], args['checkpoint']]
    if args['out']:
        argv += ['--out', args['out']]
    with pytest.raises(SystemExit, match=message):
        test_tool.main(argv)


def _decoded_masks(results):
    return [
        mask_utils.decode(
            dict(size=p['pred_mask']['size'],
                 counts=p['pred_mask']['counts'].encode()))
        for p in results['predictions']
    ]


@pytest.fixture(scope='module')
def exported_model(tool_config, trained_checkpoint, tmp_path_factory):
    """The trained tiny CRIS exported by tools/deployment/pytorch2onnx.py."""
    _, checkpoint = trained_checkpoint
    out = str(tmp_path_factory.mktemp('exported') / 'cris_tiny.onnx')
    python_tool('deployment/pytorch2onnx.py', tool_config, checkpoint,
                '--out', out, '--shape', '64', '64')
    return out


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_exported_model_gives_the_pytorch_masks_and_metrics(
        backend, test_run, exported_model, tool_config, tmp_path):
    out = str(tmp_path / 'results.json')
    proc = python_tool('test.py', tool_config, exported_model, '--backend',
                       backend, '--work-dir', str(tmp_path / 'work_dir'),
                       '--out', out, '--cfg-options',
                       'model.test_cfg.threshold=0.01')
    if backend == 'openvino':
        # The precision is set, never left to OpenVINO, and logged.
        assert 'in f32 (requested fp32)' in proc.stdout + proc.stderr
    with open(out) as f:
        deployed = json.load(f)
    expected, _ = test_run
    assert [(p['image_id'], p['sent_id']) for p in deployed['predictions']] \
        == [(p['image_id'], p['sent_id']) for p in expected['predictions']]
    differing = sum(
        int((mask != reference).sum()) for mask, reference in zip(
            _decoded_masks(deployed), _decoded_masks(expected)))
    total = sum(mask.size for mask in _decoded_masks(expected))
    assert differing <= 1e-3 * total
    for key, value in expected['metrics'].items():
        assert deployed['metrics'][key] == pytest.approx(value, abs=0.1)


def test_out_masks_are_the_loaded_checkpoints_predictions(
        test_run, tool_config, trained_checkpoint):
    """The masks tools/test.py writes equal direct inference of the same
    checkpoint, sentence by sentence, and differ from those of the model
    without it (so the check could see the checkpoint being ignored)."""
    import warnings

    from mmrefseg.apis import (NO_INFERENCE_TRANSFORMS, inference_model,
                               init_model)
    _, checkpoint = trained_checkpoint
    options = {'model.test_cfg.threshold': 0.01}
    model = init_model(
        tool_config,
        checkpoint,
        cfg_options=options,
        inference_cfg=NO_INFERENCE_TRANSFORMS)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random weights, on purpose
        untrained = init_model(
            tool_config,
            cfg_options=options,
            inference_cfg=NO_INFERENCE_TRANSFORMS)
    results, _ = test_run
    differing_from_untrained = 0
    for record, written in zip(results['predictions'],
                               _decoded_masks(results)):
        direct = inference_model(model, record['img_path'], record['text'])
        assert direct.mask.shape == written.shape
        mismatched = int((direct.mask != written.astype(bool)).sum())
        assert mismatched <= 1e-3 * written.size, (record['sent_id'],
                                                   mismatched)
        other = inference_model(untrained, record['img_path'],
                                record['text'])
        differing_from_untrained += int((other.mask != direct.mask).sum())
    total = sum(mask.size for mask in _decoded_masks(results))
    assert differing_from_untrained > 0.01 * total


def _constant_checkpoint(source, path, logit):
    """``source`` with the projector's text kernel zeroed and its bias set to
    ``logit``: every pixel of every sentence gets that logit."""
    import torch
    checkpoint = torch.load(source, map_location='cpu', weights_only=False)
    state = checkpoint['state_dict']
    state['decode_head.proj.txt.weight'].zero_()
    state['decode_head.proj.txt.bias'].zero_()
    state['decode_head.proj.txt.bias'][-1] = logit
    torch.save(dict(meta=checkpoint.get('meta', {}), state_dict=state), path)
    return str(path)


def test_different_checkpoints_give_their_own_masks_and_metrics(
        tool_config, trained_checkpoint, tmp_path):
    """A checkpoint that says 'everything' and one that says 'nothing': the
    written masks are full and empty, and the metrics follow them."""
    _, checkpoint = trained_checkpoint
    outputs = {}
    for name, logit in (('everything', 20.0), ('nothing', -20.0)):
        weights = _constant_checkpoint(checkpoint, tmp_path / f'{name}.pth',
                                       logit)
        out = str(tmp_path / f'{name}.json')
        python_tool('test.py', tool_config, weights, '--work-dir',
                    str(tmp_path / name), '--out', out)
        with open(out) as f:
            outputs[name] = json.load(f)
    everything, nothing = outputs['everything'], outputs['nothing']
    assert all(mask.all() for mask in _decoded_masks(everything))
    assert not any(mask.any() for mask in _decoded_masks(nothing))
    assert everything['checkpoint'].endswith('everything.pth')
    # Predicting every pixel: each IoU is the object's share of its image.
    ious = [record['iou'] for record in everything['predictions']]
    assert all(0 < iou < 1 for iou in ious)
    assert everything['metrics']['mIoU'] == pytest.approx(
        100 * sum(ious) / len(ious))
    assert 0 < everything['metrics']['oIoU'] < 100
    assert nothing['metrics']['mIoU'] == 0
    assert nothing['metrics']['oIoU'] == 0
