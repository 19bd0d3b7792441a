"""LAVT's decoder: top-down fusion of the four language-aware maps."""
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor

from mmrefseg.registry import MODELS
from .base_refer_head import BaseReferHead

__all__ = ['LAVTSimpleDecodingHead']


@MODELS.register_module()
class LAVTSimpleDecodingHead(BaseReferHead):
    """LAVT's ``SimpleDecoding`` as a referring head.

    From the stride-32 map down: upsample (bilinear, corners aligned) to the
    next map, concatenate, two 3x3 conv + BN + ReLU; after the stride-4 map,
    a 1x1 conv to the two class logits (background, object). They are
    upsampled by ``scale_factor`` (bilinear, corners aligned) to the input
    size, where the reference computes its loss and takes the argmax.

    :meth:`forward` returns the object logit minus the background logit, one
    channel: its sigmoid is the softmax probability of the object, and
    ``sigmoid > 0.5`` is the reference's argmax, ties included (use
    ``test_cfg.threshold=0.5``). :meth:`forward_class_logits` gives the two
    logits at stride 4, as the reference's classifier.

    Args:
        in_channels (Sequence[int]): Channels of the maps at strides 4, 8,
            16, 32. Defaults to (128, 256, 512, 1024) (Swin-B).
        channels (int): Width of the fusion convs. Defaults to 512 (the
            reference: half the stride-32 channels).
        scale_factor (int): Upsampling of the logits from the stride-4 map.
            Defaults to 4 (the input size for inputs padded to a multiple of
            32).
        norm_cfg (dict): Norm of the fusion convs. Defaults to
            ``dict(type='BN')``.
        loss_decode (dict | Sequence[dict]): Loss(es). Defaults to
            ``dict(type='TwoClassCrossEntropyLoss')`` (LAVT's).
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (128, 256, 512, 1024),
                 channels: int = 512,
                 scale_factor: int = 4,
                 norm_cfg: dict = dict(type='BN'),
                 loss_decode: Union[dict, Sequence[dict]] = dict(
                     type='TwoClassCrossEntropyLoss'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(loss_decode=loss_decode, init_cfg=init_cfg)
        if len(in_channels) != 4:
            raise ValueError('LAVTSimpleDecodingHead needs the channels of '
                             f'four maps, got in_channels={in_channels}')
        self.in_channels = tuple(in_channels)
        self.scale_factor = scale_factor

        def fuse(cin: int) -> nn.Sequential:
            return nn.Sequential(
                ConvModule(cin, channels, 3, padding=1, norm_cfg=norm_cfg),
                ConvModule(channels, channels, 3, padding=1,
                           norm_cfg=norm_cfg))

        c1, c2, c3, c4 = in_channels
        self.fuse_c3 = fuse(c4 + c3)
        self.fuse_c2 = fuse(channels + c2)
        self.fuse_c1 = fuse(channels + c1)
        self.conv_seg = nn.Conv2d(channels, 2, 1)

    def init_weights(self) -> None:
        """PyTorch's default init of every conv, as the reference (mmcv's
        ConvModule would use Kaiming normal); BN weights 1, biases 0."""
        super().init_weights()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()

    @staticmethod
    def _up_cat(x: Tensor, skip: Tensor) -> Tensor:
        # the reference upsamples only when the map is smaller
        if x.shape[-2] < skip.shape[-2] or x.shape[-1] < skip.shape[-1]:
            x = F.interpolate(
                x, size=skip.shape[-2:], mode='bilinear', align_corners=True)
        return torch.cat([x, skip], dim=1)

    def forward_class_logits(self, feats: Dict[str, Tensor]) -> Tensor:
        """(background, object) logits (B, 2, H/4, W/4).

        Args:
            feats (dict[str, Tensor]): The VL feature dict; reads
                ``img_feats``, the maps at strides 4, 8, 16, 32.
        """
        img_feats = feats['img_feats']
        if len(img_feats) != 4:
            raise ValueError('LAVTSimpleDecodingHead needs four maps '
                             f"(strides 4-32), got {len(img_feats)}")
        c1, c2, c3, c4 = img_feats
        x = self.fuse_c3(self._up_cat(c4, c3))
        x = self.fuse_c2(self._up_cat(x, c2))
        x = self.fuse_c1(self._up_cat(x, c1))
        return self.conv_seg(x)

    def forward(self, feats: Dict[str, Tensor]) -> Tensor:
        """VL feature dict -> object-minus-background logits (B, 1, h, w),
        h = ``scale_factor`` * H/4."""
        logits = self.forward_class_logits(feats)
        logits = logits[:, 1:] - logits[:, :1]
        if self.scale_factor != 1:
            height, width = logits.shape[-2:]
            logits = F.interpolate(
                logits,
                size=(height * self.scale_factor, width * self.scale_factor),
                mode='bilinear',
                align_corners=True)
        return logits
