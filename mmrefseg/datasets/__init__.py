from .refer_dataset import ReferDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['ReferDataset']
