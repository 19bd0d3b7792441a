"""The web demo as a module, and a tiny random-weight EAVL checkpoint."""
import importlib.util
import os.path as osp

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: A toy model whose head makes per-query masks, so that the page shows all
#: it can show.
EAVL_TOY = osp.join(REPO, 'configs', 'toy', 'eavl_tiny_refer-toy.py')


@pytest.fixture(scope='package')
def web_demo():
    """``demo/web_demo.py`` imported as a module."""
    spec = importlib.util.spec_from_file_location(
        'web_demo', osp.join(REPO, 'demo', 'web_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='package')
def eavl_checkpoint(tmp_path_factory):
    """A checkpoint of the tiny EAVL with seeded random weights."""
    from mmrefseg.apis import NO_INFERENCE_TRANSFORMS, init_model
    torch.manual_seed(0)
    # Without the inference transforms: folded BN would leave the state dict.
    model = init_model(EAVL_TOY, inference_cfg=NO_INFERENCE_TRANSFORMS)
    path = tmp_path_factory.mktemp('web_demo') / 'eavl_tiny_random.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)
