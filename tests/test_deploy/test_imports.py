"""Importing mmrefseg needs no runtime; models never import deploy."""
import ast
import glob
import os.path as osp

from mmrefseg.registry import MODELS
from .conftest import REPO

RUNTIMES = ('onnxruntime', 'openvino', 'onnx')


def _imports(path, top_level_only):
    """Absolute module names (relative ones with their dots) imported."""
    with open(path) as f:
        tree = ast.parse(f.read())
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield '.' * node.level + (node.module or '')


def test_models_never_import_deploy():
    for path in glob.glob(
            osp.join(REPO, 'mmrefseg', 'models', '**', '*.py'),
            recursive=True):
        for module in _imports(path, top_level_only=False):
            assert 'deploy' not in module.split('.'), (path, module)


def test_runtimes_are_imported_only_by_backends():
    for path in glob.glob(
            osp.join(REPO, 'mmrefseg', 'deploy', '**', '*.py'),
            recursive=True):
        for module in _imports(path, top_level_only=True):
            assert module.split('.')[0] not in RUNTIMES, (path, module)


def test_register_all_modules_registers_the_deployed_segmentor():
    # tests/conftest.py ran register_all_modules.
    assert MODELS.get('DeployedReferSegmentor') is not None
