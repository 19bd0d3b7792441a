"""Build a deployed referring segmentor from a config and a backend file."""
from pathlib import Path
from typing import Optional, Union

from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

from mmrefseg.registry import MODELS
from mmrefseg.utils import load_config
from .deployed_segmentor import DeployedReferSegmentor

__all__ = ['build_deployed_model']


def build_deployed_model(
        config: Union[str, Path, Config, ConfigDict],
        backend_file: str,
        backend: str,
        precision: str = 'fp32',
        device: str = 'cpu',
        num_threads: Optional[int] = None,
        cfg_options: Optional[dict] = None) -> DeployedReferSegmentor:
    """A :class:`DeployedReferSegmentor` for inference.

    Args:
        config (str | Path | Config): The config of the exported model.
        backend_file (str): Its exported graph.
        backend (str): 'onnxruntime' or 'openvino'.
        precision (str): 'fp32', or 'bf16' with openvino. Defaults to
            'fp32'.
        device (str): The backend's device. Defaults to 'cpu'.
        num_threads (int, optional): The backend's intra-op threads.
            Defaults to None.
        cfg_options (dict, optional): Overrides merged into the config.
            Defaults to None.

    Returns:
        DeployedReferSegmentor: In eval mode, with ``.cfg`` (the config).
    """
    from mmrefseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    config = load_config(config, cfg_options)
    config.model.train_cfg = None
    init_default_scope(config.get('default_scope', 'mmrefseg'))
    model = MODELS.build(
        dict(
            type='DeployedReferSegmentor',
            model=config.model,
            backend=backend,
            backend_file=str(backend_file),
            precision=precision,
            device=device,
            num_threads=num_threads))
    model.cfg = config
    return model.eval()
