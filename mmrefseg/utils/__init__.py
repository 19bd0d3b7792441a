from .config import load_config
from .dist_utils import setup_distributed, teardown_distributed
from .geometry import restore_original_size
from .setup_env import register_all_modules

__all__ = [
    'load_config', 'setup_distributed', 'teardown_distributed',
    'register_all_modules', 'restore_original_size'
]
