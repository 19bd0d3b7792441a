"""Upsampling of decoder pixel features to mask features (stride 16 -> 4,
or 16 / 2 ** num_upsamples).

CRIS's projector (its ``proj.vis``) and EAVL's multi-mask generator both
turn the decoder output into the features that the language-predicted kernels
convolve: ``num_upsamples`` times (bilinear 2x, conv3x3 + norm + act), then a
plain conv1x1 with bias.
"""
from typing import Optional

import torch.nn as nn
from mmcv.cnn import ConvModule

__all__ = ['MaskFeatureUpsampler']


class MaskFeatureUpsampler(nn.Sequential):
    """Stride-16 pixel features -> stride-4 mask features (stride
    ``16 / 2 ** num_upsamples``: one upsampling gives stride 8, EAVL's
    literal "2x upsampling and convolution").

    Layout (Sequential indices, as the CRIS reference's ``proj.vis``) for the
    default two upsamplings: ``0`` Upsample, ``1`` ConvModule
    (``in_channels -> in_channels``), ``2`` Upsample, ``3`` ConvModule
    (``in_channels -> out_channels``), ``4`` Conv2d 1x1
    (``out_channels -> out_channels``, bias). Inside a ConvModule the
    reference's ``.0`` (conv) is ``.conv`` and ``.1`` (BN) is ``.bn``.

    Args:
        in_channels (int): Input channels. Defaults to 512.
        out_channels (int): Output channels C_k. Defaults to 256.
        num_upsamples (int): Number of 2x upsamplings (each followed by a
            conv3x3); the last one changes the channels. Defaults to 2.
        norm_cfg (dict): Norm of the conv3x3 layers. Defaults to
            ``dict(type='BN')``.
        act_cfg (dict): Activation of the conv3x3 layers. Defaults to
            ``dict(type='ReLU')``.
        upsample_mode (str): Interpolation of the upsamplings. Defaults to
            'bilinear' (align_corners=False, as the reference).
    """

    def __init__(self,
                 in_channels: int = 512,
                 out_channels: int = 256,
                 num_upsamples: int = 2,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 upsample_mode: str = 'bilinear'):
        if num_upsamples < 1:
            raise ValueError(
                f'num_upsamples must be >= 1, got {num_upsamples}')
        align_corners = False if upsample_mode in ('linear', 'bilinear',
                                                   'bicubic',
                                                   'trilinear') else None
        layers = []
        for i in range(num_upsamples):
            conv_out = out_channels if i == num_upsamples - 1 else in_channels
            layers.append(
                nn.Upsample(
                    scale_factor=2,
                    mode=upsample_mode,
                    align_corners=align_corners))
            layers.append(
                ConvModule(
                    in_channels,
                    conv_out,
                    3,
                    padding=1,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg))
        layers.append(nn.Conv2d(out_channels, out_channels, 1))
        super().__init__(*layers)
        self.in_channels = in_channels
        self.out_channels = out_channels
