from .atomic_local_backend import (AtomicLocalBackend,
                                   save_checkpoint_atomically,
                                   write_atomically)

__all__ = [
    'AtomicLocalBackend', 'save_checkpoint_atomically', 'write_atomically'
]
