"""The plumbing shared by referring-segmentation heads."""
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmrefseg.registry import MODELS

__all__ = ['BaseReferHead', 'EMPTY_MASK_LOGIT']

# The mask logit of a sample declared no-target: sigmoid() is 0 in float32
# and float16, so the mask is empty at any threshold.
EMPTY_MASK_LOGIT = -100.0


class BaseReferHead(BaseModule, metaclass=ABCMeta):
    """Base class of heads that map a VL feature dict to one mask logit map.

    A subclass implements :meth:`forward` (VL feature dict -> (B, 1, h, w)
    logits); this class builds the losses and implements :meth:`loss` and
    :meth:`predict`. The ground truth is resized to the logits (nearest, as
    the CRIS reference), never the reverse.

    No-target branch (GRES, gRefCOCO), off by default: with
    ``no_target_classifier`` (e.g. ``dict(type='NoTargetClassifier',
    in_channels=512)``) the head also predicts, per sample, that the sentence
    refers to nothing. It reads the pixel features of
    :meth:`forward_for_no_target` (the neck output ``feats['fused']`` by
    default, a subclass may hand over its decoder's output) and the mask
    logits; its loss (``loss_no_target``) is added to the mask loss, for
    which an empty ground-truth mask is a valid target. At inference
    (:meth:`predict_with_no_target`) a no-target sample gets the mask logit
    ``EMPTY_MASK_LOGIT`` everywhere (an empty mask) and the segmentor sets
    its ``pred_no_target``. Off, the head has no extra parameters and its
    outputs are unchanged.

    Args:
        loss_decode (dict | Sequence[dict]): Loss config(s); every loss is
            called as ``loss(logits, target)`` with two (B, 1, h, w) tensors
            and reports under its ``loss_name`` (losses sharing a name are
            summed). Defaults to ``dict(type='TextPixelContrastiveLoss')``.
        no_target_classifier (dict, optional): Config of the no-target
            branch (a ``NoTargetClassifier``). Defaults to None (off).
        init_cfg (dict | list[dict], optional): Defaults to None.
    """

    def __init__(self,
                 loss_decode: Union[dict, Sequence[dict]] = dict(
                     type='TextPixelContrastiveLoss'),
                 no_target_classifier: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        # None registers nothing: without the branch the state dict is the
        # same as a head built before the branch existed.
        self.no_target_classifier = MODELS.build(
            no_target_classifier) if no_target_classifier else None
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

    @property
    def with_no_target(self) -> bool:
        """bool: Whether the head has a no-target branch."""
        return self.no_target_classifier is not None

    def forward_for_no_target(self,
                              feats: Dict[str, Tensor]) -> Tuple[Tensor, ...]:
        """Mask logits and the pixel features the no-target branch reads.

        Returns:
            tuple[Tensor, Tensor]: logits (B, 1, h, w) as :meth:`forward`,
            and (B, C, H, W) features: ``feats['fused']`` (the neck output),
            or the last backbone map without a neck. A subclass may override
            this to hand over its decoder's output from the same pass.
        """
        pixels = feats.get('fused')
        if pixels is None:
            pixels = feats['img_feats'][-1]
        return self.forward(feats), pixels

    def forward_with_no_target(
            self, feats: Dict[str, Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """Mask logits (B, 1, h, w) and no-target logits (B, ) (None without
        the branch)."""
        if not self.with_no_target:
            return self.forward(feats), None
        logits, pixels = self.forward_for_no_target(feats)
        no_target_logits = self.no_target_classifier(
            pixels, logits, feats.get('sentence_feat'))
        return logits, no_target_logits

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
        if not self.with_no_target:
            return self.loss_by_feat(
                self.forward(feats), data_samples, train_cfg)
        logits, no_target_logits = self.forward_with_no_target(feats)
        losses = self.loss_by_feat(logits, data_samples, train_cfg)
        no_target = self.no_target_labels(data_samples)
        classifier = self.no_target_classifier
        losses[classifier.loss_name] = classifier.loss(
            no_target_logits, no_target)
        losses['acc_no_target'] = (classifier.decide(
            no_target_logits.detach()) == no_target.to(
                no_target_logits.device)).float().mean()
        return losses

    def predict(self,
                feats: Dict[str, Tensor],
                batch_img_metas: List[dict],
                test_cfg: Optional[dict] = None) -> Tensor:
        """Mask logits (B, 1, h, w); the segmentor post-processes them.
        With the no-target branch, a no-target sample's logits are
        ``EMPTY_MASK_LOGIT``."""
        return self.predict_with_no_target(feats, batch_img_metas,
                                           test_cfg)[0]

    def predict_with_no_target(
            self,
            feats: Dict[str, Tensor],
            batch_img_metas: List[dict],
            test_cfg: Optional[dict] = None
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Mask logits (B, 1, h, w) and the no-target decisions.

        Returns:
            tuple[Tensor, Tensor | None]: The logits, ``EMPTY_MASK_LOGIT``
            for samples declared no-target, and (B, ) bool decisions (None
            without the branch).
        """
        logits, no_target_logits = self.forward_with_no_target(feats)
        if no_target_logits is None:
            return logits, None
        no_target = self.no_target_classifier.decide(no_target_logits)
        logits = logits.masked_fill(no_target[:, None, None, None],
                                    EMPTY_MASK_LOGIT)
        return logits, no_target

    @staticmethod
    def no_target_labels(data_samples: list) -> Tensor:
        """(B, ) bool: each sample's ``no_target`` metainfo, or, where it is
        missing, whether its ground-truth mask is empty."""
        labels = []
        for sample in data_samples:
            no_target = sample.metainfo.get('no_target')
            if no_target is None:
                no_target = not bool((sample.gt_sem_seg.data > 0).any())
            labels.append(bool(no_target))
        return torch.tensor(labels)

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
        ``target > 0.5``, at the logits' resolution (for logging). An empty
        prediction of an empty target (a no-target sample) scores 1."""
        pred = logits.sigmoid().flatten(1) > threshold
        gt = target.flatten(1) > 0.5
        inter = (pred & gt).sum(1).float()
        union = (pred | gt).sum(1).float()
        iou = torch.where(union > 0, inter / union.clamp(min=1),
                          torch.ones_like(union))
        return iou.mean()
