"""The web demo's checks, results and examples, without a browser."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmseg.structures import SegDataSample

from mmrefseg.apis import inference_model, init_model
from tests.helpers import make_refer_data
from .conftest import EAVL_TOY

CRIS_TOY = EAVL_TOY.replace('eavl_tiny', 'cris_tiny')


def test_sentences_are_the_non_blank_lines(web_demo):
    assert web_demo.parse_sentences(' green one \n\n  black\n', 8) == [
        'green one', 'black'
    ]


@pytest.mark.parametrize('text', ['', '   ', '\n \n', None])
def test_no_sentence_is_refused_with_a_message(web_demo, text):
    with pytest.raises(web_demo.InputError, match='at least one sentence'):
        web_demo.parse_sentences(text, 8)


def test_too_many_sentences_are_refused_with_a_message(web_demo):
    text = '\n'.join(f'shape {i}' for i in range(9))
    with pytest.raises(web_demo.InputError,
                       match='9 sentences given.*at most 8'):
        web_demo.parse_sentences(text, 8)
    assert len(web_demo.parse_sentences(text, 9)) == 9


def test_nothing_uploaded_asks_for_an_image(web_demo):
    for payload in (None, {}, dict(path=None)):
        with pytest.raises(web_demo.InputError, match='Upload an image'):
            web_demo.uploaded_path(payload)
    assert web_demo.uploaded_path(
        dict(path='/tmp/x/abc.png', orig_name='cat.png')) == ('/tmp/x/abc.png',
                                                               'cat.png')


def test_an_image_is_read_as_rgb(web_demo, tmp_path):
    bgr = np.zeros((20, 30, 3), np.uint8)
    bgr[..., 2] = 255  # red
    path = str(tmp_path / 'red.png')
    cv2.imwrite(path, bgr)
    rgb = web_demo.read_image(path, 'red.png')
    assert rgb.shape == (20, 30, 3)
    assert (rgb[..., 0] == 255).all() and (rgb[..., 2] == 0).all()


def test_a_file_that_is_not_an_image_gets_a_message(web_demo, tmp_path):
    path = tmp_path / 'notes.png'
    path.write_text('not an image')
    with pytest.raises(web_demo.InputError,
                       match='"holiday.png" is not an image'):
        web_demo.read_image(str(path), 'holiday.png')


def test_a_huge_image_gets_a_message(web_demo, tmp_path, monkeypatch):
    path = str(tmp_path / 'big.png')
    cv2.imwrite(path, np.zeros((20, 30, 3), np.uint8))
    monkeypatch.setattr(web_demo, 'MAX_IMAGE_PIXELS', 500)
    with pytest.raises(web_demo.InputError, match='30 x 20 pixels'):
        web_demo.read_image(path, 'big.png')


def test_rle_round_trip(web_demo):
    mask = np.random.default_rng(0).random((17, 23)) > 0.6
    rle = web_demo.encode_rle(mask)
    assert rle['size'] == [17, 23]
    json.dumps(rle)  # JSON-safe
    np.testing.assert_array_equal(web_demo.decode_rle(rle), mask)


def test_no_target_verdict_is_read_when_the_model_gives_one(web_demo):
    class Prediction:
        data_sample = SegDataSample()

    assert web_demo.no_target_verdict(Prediction) is None
    Prediction.data_sample.pred_no_target = torch.tensor([True])
    assert web_demo.no_target_verdict(Prediction) is True
    Prediction.data_sample.pred_no_target = torch.tensor(False)
    assert web_demo.no_target_verdict(Prediction) is False


def test_examples_come_from_refer_data(web_demo, tmp_path):
    data_root = make_refer_data(tmp_path / 'refer', num_images=8)
    examples = web_demo.load_examples(data_root, max_examples=3)
    assert 1 <= len(examples) <= 3
    for image_path, text in examples:
        assert osp.isfile(image_path)
        assert len(text.splitlines()) == 2
    with pytest.raises(FileNotFoundError, match='refs\\(unc\\).p'):
        web_demo.load_examples(str(tmp_path / 'nothing'))


def test_examples_are_generated_without_a_data_folder(web_demo, tmp_path):
    examples = web_demo.prepare_examples(
        str(tmp_path / 'missing'), str(tmp_path))
    assert examples and all(
        path.startswith(str(tmp_path)) for path, _ in examples)


@pytest.fixture(scope='module')
def image_path(tmp_path_factory):
    data_root = make_refer_data(
        tmp_path_factory.mktemp('refer'), num_images=4)
    return osp.join(data_root, 'images', 'train2014',
                    'COCO_train2014_000000000001.jpg')


def test_segment_shows_inference_models_masks(web_demo, eavl_checkpoint,
                                              image_path, tmp_path):
    model = init_model(EAVL_TOY, eavl_checkpoint)
    demo = web_demo.WebDemo(model, out_dir=str(tmp_path))
    result = demo.segment(
        dict(path=image_path, orig_name='shapes.jpg'), 'green one\nblack')
    expected = inference_model(model, image_path, ['green one', 'black'],
                               with_query_masks=True)
    assert [caption for _, caption in result.overlays] == [
        f'{pred.text} | score {pred.score:.3f}' for pred in expected
    ]
    record = json.load(open(demo.write_record(result.record)))
    assert record['image'] == 'shapes.jpg'
    for entry, pred, (overlay, _) in zip(record['sentences'], expected,
                                         result.overlays):
        np.testing.assert_array_equal(
            web_demo.decode_rle(entry['mask_rle']), pred.mask)
        assert overlay.shape == pred.mask.shape + (3, )
        assert len(entry['queries']) == len(pred.query_scores)
        assert entry['no_target'] is None
    # One mosaic per sentence, a tile per query.
    assert len(result.query_mosaics) == 2
    assert set(record['latency_ms']) == {'inference', 'drawing', 'total'}
    assert 'ms' in result.summary()


def test_segment_without_query_masks(web_demo, image_path, tmp_path):
    torch.manual_seed(0)
    demo = web_demo.WebDemo(init_model(CRIS_TOY), out_dir=str(tmp_path))
    result = demo.segment(image_path, 'the red circle')
    assert len(result.overlays) == 1
    assert result.query_mosaics == []
    assert result.record['sentences'][0]['queries'] is None


def test_old_result_files_are_removed(web_demo, tmp_path):
    torch.manual_seed(0)
    demo = web_demo.WebDemo(init_model(CRIS_TOY), out_dir=str(tmp_path))
    paths = [demo.write_record(dict(n=i)) for i in range(demo.KEEP_FILES + 2)]
    assert not osp.exists(paths[0]) and not osp.exists(paths[1])
    assert all(osp.exists(path) for path in paths[2:])


def test_missing_files_are_named(web_demo, tmp_path, capsys):
    with pytest.raises(SystemExit):
        web_demo.parse_args([CRIS_TOY, str(tmp_path / 'none.pth')])
    assert 'checkpoint file not found' in capsys.readouterr().err


def test_a_gres_models_verdict_is_shown(web_demo, image_path, tmp_path):
    """A model with a no-target branch: its verdict per sentence."""
    config = osp.join(osp.dirname(EAVL_TOY), '..', 'gres',
                      'cris_tiny_grefcoco-toy.py')
    torch.manual_seed(0)
    model = init_model(config)
    demo = web_demo.WebDemo(model, out_dir=str(tmp_path))
    result = demo.segment(image_path, 'green one\nblack')
    expected = inference_model(model, image_path, ['green one', 'black'])
    for entry, pred in zip(result.record['sentences'], expected):
        assert entry['no_target'] is pred.data_sample.pred_no_target
        if entry['no_target']:
            assert entry['area'] == 0
            assert f'("{pred.text}"): no object matches it' in \
                result.summary()
        else:
            assert 'refers to the masked region' in result.summary()
