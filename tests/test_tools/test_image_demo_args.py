import importlib.util
import os.path as osp

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
