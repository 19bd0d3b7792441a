from .grefer_dataset import GReferDataset
from .refer_dataset import ReferDataset
from .transforms import *  # noqa: F401,F403
from .worker_seeding import seed_worker_from_torch

__all__ = ['GReferDataset', 'ReferDataset', 'seed_worker_from_torch']
