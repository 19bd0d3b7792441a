"""A test-only hook that kills the training process, as a crash would."""
import os

from mmengine.hooks import Hook

from mmrefseg.registry import HOOKS


@HOOKS.register_module(name='TestOnlyCrashHook', force=True)
class CrashHook(Hook):
    """Ends the process with ``os._exit`` after iteration ``crash_iter``.

    No cleanup, no exception handling, no final checkpoint: what remains in
    the work_dir is what an interrupted run leaves.
    """

    priority = 'LOWEST'

    def __init__(self, crash_iter: int):
        self.crash_iter = crash_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.crash_iter:
            os._exit(17)
