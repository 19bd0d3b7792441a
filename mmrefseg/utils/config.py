"""Loading configs for the APIs and tools."""
import copy
from pathlib import Path
from typing import Optional, Union

from mmengine.config import Config, ConfigDict

__all__ = ['load_config']


def load_config(config: Union[str, Path, Config, ConfigDict],
                cfg_options: Optional[dict] = None) -> Config:
    """A private copy of a config, overrides merged.

    Args:
        config (str | Path | Config | ConfigDict): File or object.
        cfg_options (dict, optional): Overrides. Defaults to None.

    Returns:
        Config: The copy, with a ``model``.
    """
    if isinstance(config, (str, Path)):
        config = Config.fromfile(str(config))
    elif isinstance(config, ConfigDict):
        config = Config(copy.deepcopy(config.to_dict()))
    elif isinstance(config, Config):
        config = copy.deepcopy(config)
    else:
        raise TypeError('config must be a file name or a Config, got '
                        f'{type(config).__name__}')
    if cfg_options:
        config.merge_from_dict(cfg_options)
    if 'model' not in config:
        raise KeyError(f'The config {config.filename} has no "model"')
    return config
