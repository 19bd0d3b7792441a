import importlib.util
import os.path as osp

import mmcv
import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def demo():
    spec = importlib.util.spec_from_file_location(
        'image_demo', osp.join(REPO, 'demo', 'image_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_positionals_split(demo):
    assert demo.split_positionals(['a.jpg', 'red one', 'cfg.py']) == (
        'a.jpg', ['red one'], 'cfg.py', None)
    assert demo.split_positionals(
        ['a.jpg', 'red one', 'left one', 'cfg.py', 'w.pth']) == (
            'a.jpg', ['red one', 'left one'], 'cfg.py', 'w.pth')
    # A sentence that ends in .py stays a sentence.
    assert demo.split_positionals(['a.jpg', 'open main.py', 'cfg.py']) == (
        'a.jpg', ['open main.py'], 'cfg.py', None)
    assert demo.split_positionals(
        ['a.jpg', 'open main.py', 'cfg.py', 'w.pth']) == (
            'a.jpg', ['open main.py'], 'cfg.py', 'w.pth')
    for bad in (['a.jpg', 'cfg.py'], ['a.jpg', 'red one', 'w.pth'],
                ['a.jpg', 'red', 'cfg.py', 'w.pth', 'x.pth']):
        with pytest.raises(ValueError, match='CONFIG'):
            demo.split_positionals(bad)


def test_output_files(demo):
    assert demo.output_files('out.png', 1) == ['out.png']
    assert demo.output_files('dir/out.png', 3) == [
        'dir/out_0.png', 'dir/out_1.png', 'dir/out_2.png'
    ]


def test_missing_files_are_named(demo, capsys):
    with pytest.raises(SystemExit):
        demo.parse_args(['missing.jpg', 'red one', 'configs/toy/'
                         'cris_tiny_refer-toy.py'])
    assert 'image file not found: missing.jpg' in capsys.readouterr().err


def test_bad_input_is_refused_before_the_model_is_built(demo, capsys,
                                                        tmp_path):
    config = osp.join(REPO, 'configs/toy/cris_tiny_refer-toy.py')
    not_an_image = tmp_path / 'notes.jpg'
    not_an_image.write_text('not an image')
    with pytest.raises(SystemExit):
        demo.parse_args([str(not_an_image), 'red one', config])
    assert f'cannot decode the image file {not_an_image}' in \
        capsys.readouterr().err

    image = tmp_path / 'image.png'
    mmcv.imwrite(np.zeros((8, 6, 3), np.uint8), str(image))
    with pytest.raises(SystemExit):
        demo.parse_args([str(image), 'red one', '  ', config])
    assert "Sentence 1 is empty ('  ')" in capsys.readouterr().err

    args = demo.parse_args([str(image), 'red one', config])
    assert args.image.shape == (8, 6, 3)
