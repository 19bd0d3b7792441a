"""The plumbing shared by referring-segmentation heads."""
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmrefseg.registry import MODELS

__all__ = ['BaseReferHead']


class BaseReferHead(BaseModule, metaclass=ABCMeta):
    """Base class of heads that map a VL feature dict to one mask logit map.

    A subclass implements :meth:`forward` (VL feature dict -> (B, 1, h, w)
    logits); this class builds the losses and implements :meth:`loss` and
    :meth:`predict`. The ground truth is resized to the logits (nearest, as
    the CRIS reference), never the reverse.

    Args:
        loss_decode (dict | Sequence[dict]): Loss config(s); every loss is
            called as ``loss(logits, target)`` with two (B, 1, h, w) tensors
            and reports under its ``loss_name`` (losses sharing a name are
            summed). Defaults to ``dict(type='TextPixelContrastiveLoss')``.
        init_cfg (dict | list[dict], optional): Defaults to None.
    """

    def __init__(self,
                 loss_decode: Union[dict, Sequence[dict]] = dict(
                     type='TextPixelContrastiveLoss'),
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(loss_decode, dict):
            self.loss_decode = MODELS.build(loss_decode)
        elif isinstance(loss_decode, (list, tuple)):
            self.loss_decode = nn.ModuleList(
                MODELS.build(cfg) for cfg in loss_decode)
        else:
            raise TypeError('loss_decode must be a dict or a list of dicts, '
                            f'got {type(loss_decode).__name__}')

    @abstractmethod
    def forward(self, feats: Dict[str, Tensor]) -> Tensor:
        """VL feature dict -> mask logits (B, 1, h, w)."""

    def loss(self,
             feats: Dict[str, Tensor],
             data_samples: list,
             train_cfg: Optional[dict] = None) -> Dict[str, Tensor]:
        """Computes the losses of one batch.

        Args:
            feats (dict[str, Tensor]): The VL feature dict.
            data_samples (list[:obj:`SegDataSample`]): With ``gt_sem_seg``
                (1, H, W) at the network input size, values in [0, 1].
            train_cfg (dict, optional): ``threshold`` (probability above
                which a pixel counts as foreground for the logged training
                IoU ``iou_seg``). Defaults to None (0.35).

        Returns:
            dict[str, Tensor]: The losses and ``iou_seg``.
        """
        logits = self.forward(feats)
        return self.loss_by_feat(logits, data_samples, train_cfg)

    def predict(self,
                feats: Dict[str, Tensor],
                batch_img_metas: List[dict],
                test_cfg: Optional[dict] = None) -> Tensor:
        """Mask logits (B, 1, h, w); the segmentor post-processes them."""
        return self.forward(feats)

    @staticmethod
    def stack_targets(data_samples: list, logits: Tensor) -> Tensor:
        """Batches the masks and resizes them to the logits (nearest).

        Args:
            data_samples (list[:obj:`SegDataSample`]): With ``gt_sem_seg``.
            logits (Tensor): (B, 1, h, w).

        Returns:
            Tensor: (B, 1, h, w) float32 on the device of ``logits``.
        """
        masks = []
        for i, sample in enumerate(data_samples):
            if 'gt_sem_seg' not in sample:
                raise KeyError(f'data sample {i} '
                               f"({sample.metainfo.get('img_path')}) has no "
                               'gt_sem_seg, which the loss needs')
            mask = sample.gt_sem_seg.data
            if mask.dim() != 3 or mask.shape[0] != 1:
                raise ValueError(f'data sample {i}: gt_sem_seg must be '
                                 f'(1, H, W), got {tuple(mask.shape)}')
            masks.append(mask)
        target = torch.stack(masks).to(logits.device, torch.float32)
        if target.shape[-2:] != logits.shape[-2:]:
            target = F.interpolate(
                target, size=logits.shape[-2:], mode='nearest')
        return target

    def loss_by_feat(self,
                     logits: Tensor,
                     data_samples: list,
                     train_cfg: Optional[dict] = None) -> Dict[str, Tensor]:
        """Losses of given logits (B, 1, h, w); see :meth:`loss`."""
        target = self.stack_targets(data_samples, logits)
        losses = dict()
        modules = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        for module in modules:
            value = module(logits, target)
            name = module.loss_name
            losses[name] = losses[name] + value if name in losses else value
        threshold = (train_cfg or {}).get('threshold', 0.35)
        losses['iou_seg'] = self.batch_iou(logits.detach(), target, threshold)
        return losses

    @staticmethod
    def batch_iou(logits: Tensor, target: Tensor, threshold: float) -> Tensor:
        """Mean per-sample IoU of ``sigmoid(logits) > threshold`` against
        ``target > 0.5``, at the logits' resolution (for logging)."""
        pred = logits.sigmoid().flatten(1) > threshold
        gt = target.flatten(1) > 0.5
        inter = (pred & gt).sum(1).float()
        union = (pred | gt).sum(1).float()
        return (inter / union.clamp(min=1)).mean()
