"""tools/model_converters/cris2mmrefseg.py: the command line.

The conversion itself is tested with its package module in
tests/test_utils/test_checkpoint_conversion/test_cris_conversion*.py.
"""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mmrefseg.registry import MODELS
from mmrefseg.utils.checkpoint_conversion import cris
from tests.helpers import (cris_reference_checkpoint,
                                                 write_tiny_cris_config)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool():
    path = osp.join(REPO, 'tools', 'model_converters', 'cris2mmrefseg.py')
    spec = importlib.util.spec_from_file_location('cris2mmrefseg', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    return write_tiny_cris_config(tmp_path_factory.mktemp('configs'))


@pytest.fixture(scope='module')
def model_shapes(tiny_config):
    return cris.model_shapes_from_config(tiny_config)


def test_the_tool_is_the_package_module():
    for name in ('main', 'parse_args', 'convert_checkpoint',
                 'convert_state_dict', 'map_reference_key',
                 'model_shapes_from_config', 'load_reference_checkpoint'):
        assert getattr(tool, name) is getattr(cris, name), name


def test_cli_writes_loadable_mmengine_checkpoint(tmp_path, tiny_config,
                                                  model_shapes, capsys):
    src, dst = tmp_path / 'best_model.pth', tmp_path / 'out' / 'cris.pth'
    checkpoint = cris_reference_checkpoint(model_shapes,
                                           cris.map_reference_key)
    torch.save(checkpoint, src)
    assert tool.main([str(src), str(dst), '--config', tiny_config]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "dropped backbone.logit_scale: CLIP's contrastive temperature; "
        'CRIS never uses it',
        'cut backbone.positional_embedding from 20 to 8 positions '
        '(word_len; CRIS never reads the others)',
        f'saved {dst}',
    ]
    saved = torch.load(dst, weights_only=True)
    assert set(saved) == {'meta', 'state_dict'}
    assert saved['meta']['converted_from'] == 'best_model.pth'
    assert saved['meta']['reference_epoch'] == 50
    model = MODELS.build(Config.fromfile(tiny_config).model)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    torch.testing.assert_close(
        model.decode_head.proj.vis[1].bn.running_mean,
        checkpoint['state_dict']['module.proj.vis.1.1.running_mean'])
    # an existing file is kept unless --force
    with pytest.raises(FileExistsError, match='--force'):
        tool.main([str(src), str(dst), '--config', tiny_config])
    assert tool.main(
        [str(src), str(dst), '--config', tiny_config, '--force']) == 0


def test_cli_writes_nothing_when_incomplete(tmp_path, tiny_config,
                                            model_shapes, capsys):
    checkpoint = cris_reference_checkpoint(model_shapes,
                                           cris.map_reference_key)
    del checkpoint['state_dict']['module.decoder.norm.bias']
    src, dst = tmp_path / 'partial.pth', tmp_path / 'cris.pth'
    torch.save(checkpoint, src)
    assert tool.main([str(src), str(dst), '--config', tiny_config]) == 1
    assert not dst.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary file left
    captured = capsys.readouterr()
    assert 'decode_head.decoder.norm.bias' in captured.out
    assert 'NOT written' in captured.err


def test_unreadable_source_is_named(tmp_path, tiny_config):
    bad = tmp_path / 'notes.pth'
    bad.write_text('not a checkpoint')
    with pytest.raises(ValueError, match='notes.pth'):
        tool.main([str(bad), str(tmp_path / 'x.pth'), '--config',
                   tiny_config])
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        tool.main([str(tmp_path / 'missing.pth'),
                   str(tmp_path / 'x.pth'), '--config', tiny_config])
