"""LAVT's loss: cross-entropy over (background, object) with class weights."""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmrefseg.registry import MODELS

__all__ = ['TwoClassCrossEntropyLoss']


@MODELS.register_module()
class TwoClassCrossEntropyLoss(nn.Module):
    """Weighted 2-class cross-entropy on a one-channel mask logit.

    The logit is the object's class logit minus the background's. Softmax
    cross-entropy only depends on that difference, so the loss is computed
    as ``F.cross_entropy`` on the two logits (0, logit): the same value as
    LAVT's ``cross_entropy(output, target, weight=[0.9, 1.1])`` on its two
    channels, averaged over the pixels weighted by their class weight.

    Args:
        class_weight (Sequence[float]): Weights of background and object.
            Defaults to (0.9, 1.1) (LAVT's).
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Key of the loss in the loss dict; it must start
            with ``loss_`` to be back-propagated. Defaults to 'loss_mask'.
    """

    def __init__(self,
                 class_weight: Sequence[float] = (0.9, 1.1),
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_mask') -> None:
        super().__init__()
        if len(class_weight) != 2:
            raise ValueError('TwoClassCrossEntropyLoss: class_weight needs '
                             '(background, object) weights, got '
                             f'{class_weight}')
        self.register_buffer(
            'class_weight',
            torch.tensor(class_weight, dtype=torch.float32),
            persistent=False)
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, logits: Tensor, target: Tensor, **kwargs) -> Tensor:
        """Computes the loss in float32.

        Args:
            logits (Tensor): (B, 1, H, W) object-minus-background logits.
            target (Tensor): (B, 1, H, W) mask in [0, 1]; pixels above 0.5
                are the object (a soft, resized mask becomes the nearest
                binary one).

        Returns:
            Tensor: The scalar loss.
        """
        if logits.shape != target.shape or logits.dim() != 4 or \
                logits.shape[1] != 1:
            raise ValueError(f'{type(self).__name__}: logits '
                             f'{tuple(logits.shape)} and target '
                             f'{tuple(target.shape)} must both be '
                             '(B, 1, H, W)')
        logits = logits.float()
        class_logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
        labels = (target[:, 0] > 0.5).long()
        loss = F.cross_entropy(
            class_logits, labels, weight=self.class_weight.to(logits.device))
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        """str: Name of the loss item in the loss dict."""
        return self._loss_name
