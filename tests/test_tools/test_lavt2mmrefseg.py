"""tools/model_converters/lavt2mmrefseg.py: the command line.

The conversion itself is tested with its package module in
tests/test_utils/test_checkpoint_conversion/test_lavt_conversion.py.
"""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mmrefseg.registry import MODELS
from mmrefseg.utils.checkpoint_conversion import lavt
from tests.helpers import (lavt_reference_checkpoint,
                                                 write_tiny_lavt_config)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool():
    path = osp.join(REPO, 'tools', 'model_converters', 'lavt2mmrefseg.py')
    spec = importlib.util.spec_from_file_location('lavt2mmrefseg', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def test_the_tool_is_the_package_module():
    for name in ('main', 'parse_args', 'convert_checkpoint',
                 'convert_state_dicts', 'map_reference_entry',
                 'model_state_from_config', 'load_reference_checkpoint'):
        assert getattr(tool, name) is getattr(lavt, name), name


def test_cli_writes_a_loadable_file(tmp_path):
    tiny_config = write_tiny_lavt_config(tmp_path)
    src, dst = str(tmp_path / 'lavt.pth'), str(tmp_path / 'out.pth')
    torch.save(lavt_reference_checkpoint(), src)
    assert tool.main([src, dst, '--config', tiny_config]) == 0
    model = MODELS.build(Config.fromfile(tiny_config).model)
    checkpoint = load_checkpoint(model, dst, strict=True)
    assert checkpoint['meta']['reference_epoch'] == 39
    with pytest.raises(FileExistsError):
        tool.main([src, dst, '--config', tiny_config])
    torch.save(dict(model={}, bert_model={}), src)
    assert tool.main([src, str(tmp_path / 'no.pth'), '--config',
                      tiny_config]) == 1
    assert not osp.exists(tmp_path / 'no.pth')
