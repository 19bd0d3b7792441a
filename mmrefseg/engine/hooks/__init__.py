from .atomic_checkpoint_hook import AtomicCheckpointHook
from .epoch_seed_hook import EpochSeedHook, epoch_seed
from .non_finite_loss_hook import NonFiniteLossHook
from .refer_visualization_hook import ReferVisualizationHook

__all__ = [
    'AtomicCheckpointHook', 'EpochSeedHook', 'epoch_seed',
    'NonFiniteLossHook', 'ReferVisualizationHook'
]
