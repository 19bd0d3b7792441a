"""Seed each data-loader worker's Python and NumPy generators from torch's."""
import random

import numpy as np
import torch
from mmengine.registry import FUNCTIONS

__all__ = ['seed_worker_from_torch']


@FUNCTIONS.register_module()
def seed_worker_from_torch(worker_id: int) -> None:
    """``worker_init_fn`` giving NumPy and ``random`` the worker's torch seed.

    torch seeds each worker with ``base_seed + worker_id``, ``base_seed``
    drawn from the main process's generator when the epoch's iterator is
    created: with :class:`~mmrefseg.engine.hooks.EpochSeedHook`, a function
    of the run's seed and the epoch. mmengine's default instead seeds every
    worker identically in every epoch.

    Args:
        worker_id (int): The worker's index (unused: torch's seed has it).
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
