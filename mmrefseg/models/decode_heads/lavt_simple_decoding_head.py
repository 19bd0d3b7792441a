"""LAVT's decoder: top-down fusion of the four language-aware maps."""
from typing import Dict, Optional, Sequence, Tuple, Union

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

    No-target branch (GRES), off by default (see ``BaseReferHead``): with
    ``no_target_classifier`` the head also predicts that the sentence refers
    to nothing. The classifier reads the decoder's last map (the output of
    the stride-4 fusion, ``channels`` wide, before the 1x1 classifier: the
    features the mask is read from, as ``VLDecoderHead`` hands over its
    decoder's output), the mask logits and a sentence vector: the text
    encoder's ``sentence_feat`` when it gives one, otherwise (LAVT's BERT is
    built with ``use_sentence=False``) the mean of the word features over
    the real tokens ([CLS] and [SEP] included, padding excluded), which adds
    no parameters. For LAVT Swin-B: ``in_channels=512``,
    ``sentence_channels=768``. Off, the head, its state dict and its logits
    are those of the head without the branch.

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
        no_target_classifier (dict, optional): The no-target branch (GRES),
            e.g. ``dict(type='NoTargetClassifier', in_channels=512,
            sentence_channels=768)``; ``in_channels`` is ``channels``.
            Defaults to None (off).
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (128, 256, 512, 1024),
                 channels: int = 512,
                 scale_factor: int = 4,
                 norm_cfg: dict = dict(type='BN'),
                 loss_decode: Union[dict, Sequence[dict]] = dict(
                     type='TwoClassCrossEntropyLoss'),
                 no_target_classifier: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            loss_decode=loss_decode,
            no_target_classifier=no_target_classifier,
            init_cfg=init_cfg)
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

    def decode(self, feats: Dict[str, Tensor]) -> Tensor:
        """The decoder's last map (B, channels, H/4, W/4), before the 1x1
        classifier.

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
        return self.fuse_c1(self._up_cat(x, c1))

    def forward_class_logits(self, feats: Dict[str, Tensor]) -> Tensor:
        """(background, object) logits (B, 2, H/4, W/4).

        Args:
            feats (dict[str, Tensor]): The VL feature dict; reads
                ``img_feats``, the maps at strides 4, 8, 16, 32.
        """
        return self.conv_seg(self.decode(feats))

    def _mask_logits(self, class_logits: Tensor) -> Tensor:
        """Object minus background, upsampled by ``scale_factor``."""
        logits = class_logits[:, 1:] - class_logits[:, :1]
        if self.scale_factor != 1:
            height, width = logits.shape[-2:]
            logits = F.interpolate(
                logits,
                size=(height * self.scale_factor, width * self.scale_factor),
                mode='bilinear',
                align_corners=True)
        return logits

    def forward(self, feats: Dict[str, Tensor]) -> Tensor:
        """VL feature dict -> object-minus-background logits (B, 1, h, w),
        h = ``scale_factor`` * H/4."""
        return self._mask_logits(self.forward_class_logits(feats))

    def forward_for_no_target(self,
                              feats: Dict[str, Tensor]) -> Tuple[Tensor, ...]:
        """Mask logits as :meth:`forward` and the decoder's last map
        (B, channels, H/4, W/4) from the same pass, which the no-target
        branch reads."""
        pixels = self.decode(feats)
        return self._mask_logits(self.conv_seg(pixels)), pixels

    @staticmethod
    def pool_words(word_feats: Tensor,
                   pad_mask: Optional[Tensor] = None) -> Tensor:
        """Mean of the word features (B, L, C) over the real tokens
        (``pad_mask`` (B, L) True at padding; None: all tokens) -> (B, C)."""
        if pad_mask is None:
            return word_feats.mean(1)
        keep = (~pad_mask).to(word_feats.dtype).unsqueeze(-1)
        return (word_feats * keep).sum(1) / keep.sum(1).clamp(min=1)

    def forward_with_no_target(
            self, feats: Dict[str, Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """Mask logits (B, 1, h, w) and no-target logits (B, ) (None without
        the branch). Without a text encoder's ``sentence_feat``, a classifier
        built with ``sentence_channels`` reads :meth:`pool_words` of
        ``feats['word_feats']``."""
        if (self.with_no_target
                and self.no_target_classifier.sentence_channels is not None
                and feats.get('sentence_feat') is None
                and feats.get('word_feats') is not None):
            feats = dict(
                feats,
                sentence_feat=self.pool_words(feats['word_feats'],
                                              feats.get('pad_mask')))
        return super().forward_with_no_target(feats)
