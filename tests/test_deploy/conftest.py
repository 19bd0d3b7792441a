"""Tiny random-weight models of each family, exported once per session."""
import os.path as osp

import numpy as np
import pytest
import torch

from mmrefseg.apis import ReferInferencePipeline
from mmrefseg.deploy import export_onnx
from mmrefseg.utils import load_config
from mmrefseg.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: Family -> tiny config: CLIP + CRIS head, CLIP + aligner (words and
#: queries as memory), Swin + BERT + aligner.
TOY_CONFIGS = {
    family: osp.join(REPO, 'configs', 'toy', f'{family}_tiny_refer-toy.py')
    for family in ('cris', 'cris-aligner', 'eavl', 'eavl-swin')
}
FAMILIES = tuple(TOY_CONFIGS)
#: The toy configs' letterbox size.
INPUT_SHAPE = (128, 128)


def build_tiny_model(family: str):
    """(model, cfg): the toy model with seeded random weights, eval mode."""
    cfg = load_config(TOY_CONFIGS[family])
    cfg.model.train_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.cfg = cfg
    return model.eval(), cfg


class Exports:
    """Models and their ONNX files, each built and exported once."""

    def __init__(self, root):
        self.root = root
        self.models = {}
        self.files = {}

    def model(self, family: str):
        if family not in self.models:
            self.models[family] = build_tiny_model(family)
        return self.models[family]

    def onnx(self, family: str, dynamic_batch: bool = True) -> str:
        key = family, dynamic_batch
        if key not in self.files:
            model, _ = self.model(family)
            suffix = 'dynamic' if dynamic_batch else 'static'
            self.files[key] = export_onnx(
                model,
                str(self.root / f'{family}_{suffix}.onnx'),
                input_shape=INPUT_SHAPE,
                dynamic_batch=dynamic_batch)
        return self.files[key]


@pytest.fixture(scope='package', autouse=True)
def one_thread():
    """The tiny models gain nothing from threads, and a busy 2-core machine
    slows spinning thread pools down many times over."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='package')
def exports(tmp_path_factory):
    return Exports(tmp_path_factory.mktemp('onnx'))


@pytest.fixture(scope='package')
def odd_image():
    """A non-square BGR image: the letterbox must be undone exactly."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(75, 111, 3), dtype=np.uint8)


def preprocessed(model, cfg, image, texts):
    """(inputs (1, 3, H, W), one data sample per sentence)."""
    inputs, sample = ReferInferencePipeline(cfg)(image, texts[0])
    data = model.data_preprocessor(
        dict(inputs=[inputs], data_samples=[sample]), False)
    samples = []
    for text in texts:
        copied = data['data_samples'][0].clone()
        copied.set_metainfo(dict(text=text))
        samples.append(copied)
    return data['inputs'], samples
