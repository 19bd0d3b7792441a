"""tools/deployment/pytorch2onnx.py: export, check, refusals."""
import importlib.util
import os.path as osp
import re

import pytest

from mmrefseg.deploy import config_input_shape
from mmrefseg.utils import load_config
from .conftest import REPO, TOY_CONFIGS

TOOL = osp.join(REPO, 'tools', 'deployment', 'pytorch2onnx.py')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('pytorch2onnx', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exports_and_reports_the_check(tool, tmp_path, capsys):
    out = str(tmp_path / 'cris.onnx')
    with pytest.warns(UserWarning, match='random weights'):
        tool.main([
            TOY_CONFIGS['cris'], '--random-weights', '--out', out,
            '--dynamic-batch', '--shape', '96', '128'
        ])
    assert osp.isfile(out)
    printed = capsys.readouterr().out
    assert 'input 96x128, batch dynamic' in printed
    assert re.search(r'\d+\.\d MiB', printed)
    diff = float(re.search(r'max \|logit diff\| (\S+),', printed).group(1))
    assert diff <= 1e-4
    assert re.search(r'mask pixels differing \d+ / \d+', printed)


def test_refuses_to_overwrite(tool, tmp_path, capsys):
    out = tmp_path / 'model.onnx'
    out.write_bytes(b'keep me')
    with pytest.raises(SystemExit):
        tool.main([TOY_CONFIGS['cris'], '--random-weights', '--out', str(out)])
    assert 'refusing to overwrite' in capsys.readouterr().err
    assert out.read_bytes() == b'keep me'


@pytest.mark.parametrize('args, message', [
    ([], 'CHECKPOINT or --random-weights'),
    (['absent.pth'], "'absent.pth' not found"),
    (['--random-weights', '--out', 'model.pt'], 'must end with .onnx'),
])
def test_argument_errors(tool, tmp_path, capsys, args, message):
    if '--out' not in args:
        args = args + ['--out', str(tmp_path / 'model.onnx')]
    with pytest.raises(SystemExit):
        tool.main([TOY_CONFIGS['cris']] + args)
    assert message in capsys.readouterr().err


def test_input_shape_comes_from_the_test_pipeline():
    assert config_input_shape(load_config(TOY_CONFIGS['cris'])) == (128, 128)
    refcoco = osp.join(REPO, 'configs', 'cris', 'cris_r50_refcoco.py')
    assert config_input_shape(load_config(refcoco)) == (416, 416)
