"""Seed every epoch from the run's seed, so that a resumed run repeats it."""
import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmrefseg.registry import HOOKS

__all__ = ['EpochSeedHook', 'epoch_seed']


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A 32-bit seed that depends on the run's seed, the epoch and the rank.

    Args:
        seed (int): The run's seed (``runner.seed``).
        epoch (int): The epoch about to start, from 0.
        rank (int): The process rank, or 0 for one seed on every rank.
            Defaults to 0.

    Returns:
        int: A seed in [0, 2**32).
    """
    sequence = np.random.SeedSequence([seed % 2**32, epoch, rank])
    return int(sequence.generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Re-seed Python, NumPy and torch (CPU and CUDA) before each epoch.

    mmengine seeds the random generators once, when the runner starts, and
    a checkpoint does not carry their states: a run resumed at epoch ``k``
    draws different dropout masks, data-loader worker seeds and sampled
    sentences from the run that was never interrupted. Seeding each epoch
    from ``(runner.seed, epoch)`` makes every epoch's draws independent of
    the history, so an interrupted run that resumes from its last epoch
    checkpoint repeats the uninterrupted one (``runner.seed`` itself is
    restored from the checkpoint). The train sampler's shuffling seed is
    taken from ``runner.seed`` as well, for the same reason.

    Data-loader workers must then be started per epoch
    (``persistent_workers=False`` in the train dataloader) and seeded from
    the seed torch gives each of them (``worker_init_fn=dict(
    type='seed_worker_from_torch')``): they draw their seeds from the
    generator re-seeded here.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if sampler is not None and hasattr(sampler, 'seed'):
            sampler.seed = runner.seed % 2**31

    def before_train_epoch(self, runner) -> None:
        diff_rank_seed = runner._randomness_cfg.get('diff_rank_seed', False)
        seed = epoch_seed(runner.seed, runner.epoch,
                          get_rank() if diff_rank_seed else 0)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # every CUDA device too
