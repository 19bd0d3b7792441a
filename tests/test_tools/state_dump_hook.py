"""A test-only hook that saves the state a (resumed) run starts training
with."""
import torch
from mmengine.hooks import Hook

from mmrefseg.registry import HOOKS


@HOOKS.register_module(name='TestOnlyStateDumpHook', force=True)
class StateDumpHook(Hook):
    """Writes the model, optimizer and scheduler states to ``path`` in
    ``before_train``, i.e. after ``--resume`` has loaded the checkpoint."""

    priority = 'LOWEST'

    def __init__(self, path: str):
        self.path = path

    def before_train(self, runner):
        schedulers = runner.param_schedulers or []
        torch.save(
            dict(
                state_dict=runner.model.state_dict(),
                optimizer=runner.optim_wrapper.state_dict(),
                param_schedulers=[s.state_dict() for s in schedulers],
                epoch=runner.epoch,
                iter=runner.iter), self.path)
