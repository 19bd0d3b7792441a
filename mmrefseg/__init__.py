from .utils import register_all_modules
from .version import __version__

__all__ = ['__version__', 'register_all_modules']
