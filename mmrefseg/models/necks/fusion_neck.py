"""CRIS's multi-modal fusion neck (EAVL's Fusion Neck is the same module).

Every "conv" of the reference is ``Sequential(Conv2d, BN, ReLU)``; here it is
an mmcv ``ConvModule`` (``conv``, ``bn``), so reference checkpoints convert by
a rename of keys (:mod:`mmrefseg.utils.checkpoint_conversion.cris`).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmrefseg.registry import MODELS
from ..layers.coord_conv import CoordConvModule
from ..layers.single_sample_batch_norm import SingleSampleBatchNorm1d

__all__ = ['FusionNeck']

@MODELS.register_module()
class FusionNeck(BaseModule):
    """Fuses C3, C4, C5 and the sentence feature into one stride-16 map.

    1. ``f5 = norm_layer(f1_v_proj(C5) * txt_proj(s))`` (the sentence gates
       the channels of C5), stride 32;
    2. ``f4 = f2_cat([f2_v_proj(C4), up(f5)])``, stride 16;
    3. ``f3 = f3_cat([avgpool2(f3_v_proj(C3)), f4])``, stride 16;
    4. ``aggr([f4_proj3(f3), f4_proj4(f4), up(f4_proj5(f5))])``;
    5. ``coordconv``: coordinates appended, conv3x3, conv3x3.

    With ``use_sentence=False`` step 1 is ``norm_layer(f1_v_proj(C5))``: no
    text gating, and no ``txt_proj`` is built (so that no parameter goes
    without a gradient under DDP). This serves EAVL's dense vision features
    (the multi-query generator's own neck) and its "global text feature off"
    ablation (the main neck).

    Args:
        in_channels (Sequence[int]): Channels of C3, C4, C5. Defaults to
            (512, 1024, 1024) (CLIP RN50; RN101: (512, 1024, 512)).
        out_channels (Sequence[int]): The three widths of the neck
            (``fpn_out`` of the reference); the output has
            ``out_channels[1]`` channels. Defaults to (256, 512, 1024).
        sentence_channels (int, optional): Channels of the sentence feature
            projected by ``txt_proj``. Defaults to None
            (``in_channels[2]``, as the reference).
        use_sentence (bool): Whether the sentence feature gates C5.
            Defaults to True.
        norm_cfg (dict): Norm of every conv and of ``txt_proj`` (``'BN'``
            becomes :class:`SingleSampleBatchNorm1d` there). Defaults to
            ``dict(type='BN')``.
        act_cfg (dict): Activation. Defaults to ``dict(type='ReLU')``.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024, 1024),
                 out_channels: Sequence[int] = (256, 512, 1024),
                 sentence_channels: Optional[int] = None,
                 use_sentence: bool = True,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != 3 or len(out_channels) != 3:
            raise ValueError('FusionNeck needs three in_channels and three '
                             f'out_channels, got {in_channels} and '
                             f'{out_channels}')
        in3, in4, in5 = in_channels
        out3, out4, out5 = out_channels
        if sentence_channels is None:
            sentence_channels = in5
        self.in_channels = tuple(in_channels)
        self.out_channels = out4
        self.use_sentence = use_sentence

        def conv(cin, cout, kernel_size):
            return ConvModule(
                cin,
                cout,
                kernel_size,
                padding=kernel_size // 2,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)

        if use_sentence:
            vector_norm_cfg = dict(norm_cfg)
            if vector_norm_cfg['type'] in ('BN', 'BN1d'):
                # The reference's BatchNorm1d, which also trains on the
                # batch of one that an epoch may end with.
                vector_norm_cfg['type'] = SingleSampleBatchNorm1d
            self.txt_proj = nn.Sequential(
                nn.Linear(sentence_channels, out5, bias=False),
                build_norm_layer(vector_norm_cfg, out5)[1],
                build_activation_layer(act_cfg))

        self.f1_v_proj = conv(in5, out5, 1)
        self.norm_layer = nn.Sequential(
            build_norm_layer(norm_cfg, out5)[1],
            build_activation_layer(act_cfg))
        self.f2_v_proj = conv(in4, out4, 3)
        self.f2_cat = conv(out5 + out4, out4, 1)
        self.f3_v_proj = conv(in3, out3, 3)
        self.f3_cat = conv(out3 + out4, out4, 1)
        self.f4_proj5 = conv(out5, out4, 3)
        self.f4_proj4 = conv(out4, out4, 3)
        self.f4_proj3 = conv(out4, out4, 3)
        self.aggr = conv(3 * out4, out4, 1)
        self.coordconv = nn.Sequential(
            CoordConvModule(
                out4, out4, 3, padding=1, norm_cfg=norm_cfg,
                act_cfg=act_cfg), conv(out4, out4, 3))

    @staticmethod
    def _upsample_to(x: Tensor, like: Tensor) -> Tensor:
        # Equal to the reference's scale_factor=2 whenever the sizes double,
        # and still aligned when the input is not a multiple of 32.
        return F.interpolate(
            x, size=like.shape[-2:], mode='bilinear', align_corners=False)

    def forward(self,
                img_feats: Tuple[Tensor, Tensor, Tensor],
                sentence_feat: Optional[Tensor] = None) -> Tensor:
        """Fuses the visual pyramid with the sentence.

        Args:
            img_feats (tuple[Tensor]): C3 (B, in_channels[0], H/8, W/8),
                C4 (B, in_channels[1], H/16, W/16),
                C5 (B, in_channels[2], H/32, W/32).
            sentence_feat (Tensor, optional): (B, sentence_channels);
                required when ``use_sentence``, ignored otherwise.
                Defaults to None.

        Returns:
            Tensor: (B, out_channels[1], H/16, W/16).
        """
        if len(img_feats) != 3:
            raise ValueError('FusionNeck expects (C3, C4, C5), got '
                             f'{len(img_feats)} feature maps')
        c3, c4, c5 = img_feats
        for name, feat, channels in zip(('C3', 'C4', 'C5'), img_feats,
                                        self.in_channels):
            if feat.dim() != 4 or feat.shape[1] != channels:
                raise ValueError(f'FusionNeck: {name} must be (B, {channels}, '
                                 f'H, W), got {tuple(feat.shape)}')

        f5 = self.f1_v_proj(c5)
        if self.use_sentence:
            if sentence_feat is None:
                raise ValueError('FusionNeck(use_sentence=True) needs the '
                                 'sentence feature, got None')
            f5 = f5 * self.txt_proj(sentence_feat)[:, :, None, None]
        f5 = self.norm_layer(f5)

        f4 = self._concat_conv(self.f2_cat, [self.f2_v_proj(c4)], f5)

        f3 = F.avg_pool2d(self.f3_v_proj(c3), 2)
        f3 = self.f3_cat(torch.cat([f3, f4], dim=1))

        fq = self._concat_conv(self.aggr,
                               [self.f4_proj3(f3),
                                self.f4_proj4(f4)], self.f4_proj5(f5))
        return self.coordconv(fq)

    def _concat_conv(self, conv: nn.Module, parts: List[Tensor],
                     low: Tensor) -> Tensor:
        """``conv(cat([*parts, upsample(low)]))``."""
        return conv(
            torch.cat([*parts, self._upsample_to(low, parts[0])], dim=1))
