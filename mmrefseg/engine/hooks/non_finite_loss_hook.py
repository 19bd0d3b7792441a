"""Stop training at the first NaN or infinite loss, saying where."""
from typing import Dict, List, Optional

import torch
from mmengine.dist import all_reduce, get_rank
from mmengine.hooks import Hook

from mmrefseg.registry import HOOKS

__all__ = ['NonFiniteLossHook']

#: Metainfo keys that identify a training sample in the error message.
SAMPLE_KEYS = ('ref_id', 'sent_id', 'image_id', 'img_path')


def _describe_samples(data_batch: Optional[dict]) -> List[str]:
    samples = (data_batch or {}).get('data_samples') or []
    described = []
    for sample in samples:
        metainfo = getattr(sample, 'metainfo', {})
        described.append(', '.join(f'{key}={metainfo[key]}'
                                   for key in SAMPLE_KEYS if key in metainfo))
    return described


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise ``FloatingPointError`` when a training loss is NaN or infinite.

    Without it a run goes on training on NaN weights and overwrites its
    checkpoints with them. The check runs after each iteration's update,
    before any hook that could save a checkpoint (this hook's priority is
    ``VERY_HIGH``), so every checkpoint on disk stays finite and
    ``--resume`` continues from the last one. The message names the epoch,
    the iteration, the non-finite losses and each sample of the batch
    (``ref_id``, ``sent_id``, ``image_id``, ``img_path``). In distributed
    training every rank stops at the same iteration; the message comes from
    the ranks whose loss was not finite.
    """

    priority = 'VERY_HIGH'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[Dict[str, torch.Tensor]] = None
                         ) -> None:
        bad = {
            name: float(value)
            for name, value in (outputs or {}).items()
            if 'loss' in name and not torch.isfinite(
                torch.as_tensor(value, dtype=torch.float32)).all()
        }
        flag = torch.tensor([float(bool(bad))])
        all_reduce(flag, op='sum')
        if flag.item() == 0:
            return
        if not bad:
            raise FloatingPointError(
                'Non-finite loss on another rank at epoch '
                f'{runner.epoch + 1}, iteration {runner.iter + 1}: stopping '
                'with it.')
        losses = ', '.join(f'{name}={value}' for name, value in bad.items())
        samples = '\n  '.join(_describe_samples(data_batch)) or '(unknown)'
        raise FloatingPointError(
            f'Non-finite loss at epoch {runner.epoch + 1}, iteration '
            f'{runner.iter + 1} (batch {batch_idx + 1} of the epoch, rank '
            f'{get_rank()}): {losses}. The batch:\n  {samples}\n'
            'The checkpoints already written are finite: resume from the '
            'last one with --resume after fixing the cause (learning rate, '
            'data, AMP).')
