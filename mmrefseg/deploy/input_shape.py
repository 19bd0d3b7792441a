"""The network input size a config's test pipeline produces."""
from typing import Tuple

from mmengine.config import Config

__all__ = ['config_input_shape']


def config_input_shape(cfg: Config) -> Tuple[int, int]:
    """(H, W) of the first resize of ``cfg``'s test pipeline.

    Args:
        cfg (Config): A full config with ``test_dataloader``.

    Returns:
        tuple[int, int]: The ``scale`` of its first transform that has one
        (``LetterboxResize``, ``ReferResize``), (w, h) in mmcv's order,
        returned as (H, W).
    """
    try:
        pipeline = cfg.test_dataloader.dataset.pipeline
    except AttributeError as error:
        raise KeyError(
            'The config has no test_dataloader.dataset.pipeline '
            'to read the input size from; give it explicitly') from error
    for transform in pipeline:
        scale = transform.get('scale')
        if isinstance(scale, int):
            return scale, scale
        if scale is not None:
            width, height = scale
            return int(height), int(width)
    raise KeyError('No transform of the test pipeline has a `scale`; give '
                   'the input size explicitly')
