"""The no-target branch of a referring head (GRES, gRefCOCO)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmrefseg.registry import MODELS

__all__ = ['NoTargetClassifier']

# Mask statistics fed to the classifier: the largest logit (scaled), the
# mean probability and the share of pixels above probability 0.5.
_NUM_MASK_STATS = 3
_LOGIT_SCALE = 10.0


@MODELS.register_module()
class NoTargetClassifier(BaseModule):
    """Predicts that a sentence refers to nothing in the image.

    From the head's pixel features (B, C, H, W) and its mask logits
    (B, 1, h, w) it builds one vector per sample: the mean of the pixel
    features, their mean weighted by the predicted mask (so that the
    classifier sees what the head found), three statistics of the mask
    logits (the largest logit / 10, clamped to [-2, 2]; the mean probability;
    the share of pixels above 0.5) and, with ``sentence_channels``, the
    sentence feature. A two-layer MLP maps it to one logit: positive means
    "no target". The mask logits enter detached, so that this branch's loss
    does not reshape the masks; the pixel features are not detached.

    The branch's loss is a sigmoid binary cross-entropy against the data
    samples' ``no_target`` (:meth:`loss`), its decision ``sigmoid(logit) >
    threshold`` (:meth:`decide`).

    Args:
        in_channels (int): C of the pixel features.
        sentence_channels (int, optional): C_s of the sentence feature
            (B, C_s) to add to the input; None leaves it out. Defaults to
            None.
        hidden_channels (int): Width of the MLP. Defaults to 256.
        threshold (float): Probability above which a sample is declared
            no-target. Defaults to 0.5.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Key of the loss in the head's loss dict. Defaults to
            'loss_no_target'.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 sentence_channels: Optional[int] = None,
                 hidden_channels: int = 256,
                 threshold: float = 0.5,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_no_target',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f'threshold must lie in (0, 1), got {threshold}')
        if not loss_name.startswith('loss_'):
            raise ValueError('loss_name must start with "loss_" to be '
                             f'back-propagated, got {loss_name!r}')
        self.in_channels = in_channels
        self.sentence_channels = sentence_channels
        self.threshold = threshold
        self.loss_weight = loss_weight
        self.loss_name = loss_name
        num_inputs = 2 * in_channels + _NUM_MASK_STATS + (
            sentence_channels or 0)
        self.mlp = nn.Sequential(
            nn.Linear(num_inputs, hidden_channels), nn.ReLU(inplace=True),
            nn.Linear(hidden_channels, 1))

    def forward(self,
                pixels: Tensor,
                mask_logits: Tensor,
                sentence_feat: Optional[Tensor] = None) -> Tensor:
        """No-target logits.

        Args:
            pixels (Tensor): (B, C, H, W) pixel features.
            mask_logits (Tensor): (B, 1, h, w) the head's mask logits.
            sentence_feat (Tensor, optional): (B, C_s), needed when built
                with ``sentence_channels``.

        Returns:
            Tensor: (B, ) logits, positive for "no target".
        """
        if pixels.dim() != 4 or pixels.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects pixel features '
                             f'(B, {self.in_channels}, H, W), got '
                             f'{tuple(pixels.shape)}')
        logits = mask_logits.detach().float()
        probs = logits.sigmoid()
        weights = F.interpolate(
            probs, size=pixels.shape[-2:], mode='bilinear',
            align_corners=False).flatten(1)
        flat = pixels.flatten(2).float()  # (B, C, HW)
        mean = flat.mean(-1)
        weighted = torch.einsum('bcn,bn->bc', flat, weights) / weights.sum(
            1, keepdim=True).clamp(min=1e-6)
        stats = torch.stack([
            (logits.flatten(1).amax(1) / _LOGIT_SCALE).clamp(-2, 2),
            probs.flatten(1).mean(1), (probs.flatten(1) > 0.5).float().mean(1)
        ], 1)
        inputs = [mean, weighted, stats]
        if self.sentence_channels is not None:
            if sentence_feat is None:
                raise KeyError(f'{type(self).__name__} was built with '
                               'sentence_channels and needs the sentence '
                               'feature')
            inputs.append(sentence_feat.float())
        features = torch.cat(inputs, 1).to(self.mlp[0].weight.dtype)
        return self.mlp(features).squeeze(1)

    def loss(self, logits: Tensor, no_target: Tensor) -> Tensor:
        """Weighted sigmoid binary cross-entropy, mean over the batch.

        Args:
            logits (Tensor): (B, ) from :meth:`forward`.
            no_target (Tensor): (B, ) bool or {0, 1}, the ground truth.

        Returns:
            Tensor: The scalar loss.
        """
        return self.loss_weight * F.binary_cross_entropy_with_logits(
            logits.float(), no_target.to(logits.device, torch.float32))

    def decide(self, logits: Tensor) -> Tensor:
        """(B, ) bool: True where the sample is declared no-target."""
        return logits.float().sigmoid() > self.threshold
