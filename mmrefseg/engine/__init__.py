from .checkpoint_compat import register_checkpoint_safe_globals
from .fileio import AtomicLocalBackend
from .hooks import (AtomicCheckpointHook, EpochSeedHook, NonFiniteLossHook,
                    ReferVisualizationHook)
from .optimizers import CPUAmpOptimWrapper

# mmengine loads checkpoints with torch.load's weights_only default: make its
# own checkpoints loadable as soon as mmrefseg's engine is imported.
register_checkpoint_safe_globals()

__all__ = [
    'AtomicLocalBackend', 'AtomicCheckpointHook', 'EpochSeedHook',
    'NonFiniteLossHook', 'ReferVisualizationHook', 'CPUAmpOptimWrapper',
    'register_checkpoint_safe_globals'
]
