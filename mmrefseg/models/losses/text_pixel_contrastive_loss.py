"""CRIS's text-to-pixel contrastive loss."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmrefseg.registry import MODELS

__all__ = ['TextPixelContrastiveLoss']


@MODELS.register_module()
class TextPixelContrastiveLoss(nn.Module):
    """Sigmoid binary cross-entropy between pixel logits and the mask.

    Each logit is the similarity of a pixel embedding with the sentence's
    kernel; the loss pulls the pixels of the referred object towards the
    sentence and pushes the others away (paper eq. 9-10). As the reference
    implementation, it is averaged over all pixels of the batch and accepts
    a soft target in [0, 1]. Computed in float32, so it is safe under AMP.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Key of the loss in the loss dict; it must start
            with ``loss_`` to be back-propagated. Defaults to 'loss_mask'.
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_mask'):
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, logits: Tensor, target: Tensor, **kwargs) -> Tensor:
        """Computes the loss.

        Args:
            logits (Tensor): (B, 1, H, W) mask logits (any shape works).
            target (Tensor): Same shape as ``logits``, in [0, 1].

        Returns:
            Tensor: The scalar loss.
        """
        if logits.shape != target.shape:
            raise ValueError(f'{type(self).__name__}: logits '
                             f'{tuple(logits.shape)} and target '
                             f'{tuple(target.shape)} must have the same shape')
        loss = F.binary_cross_entropy_with_logits(logits.float(),
                                                  target.float())
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        """str: Name of the loss item in the loss dict."""
        return self._loss_name
