"""CRIS's projector: text-to-pixel alignment by a sentence-predicted kernel."""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from .dynamic_conv import DynamicConv2d
from .mask_feature_upsampler import MaskFeatureUpsampler

__all__ = ['TextPixelProjector']

class TextPixelProjector(nn.Module):
    """Upsampled pixel features convolved with a kernel made from the text.

    ``vis`` (a :class:`MaskFeatureUpsampler`) maps the decoder output to the
    pixel embeddings z_v; ``txt`` (Linear) maps the sentence feature to one
    ``C_k x K x K`` kernel plus a bias, z_t; the logits are the per-sample
    convolution of z_v with z_t. Submodule names follow the reference's
    ``proj`` (``proj.vis.*``, ``proj.txt.*``).

    Args:
        in_channels (int): Channels of the decoder output. Defaults to 512.
        text_channels (int): Channels of the sentence feature (CLIP RN50:
            1024, RN101: 512). Defaults to 1024.
        channels (int): Channels C_k of the pixel embeddings. Defaults to
            256.
        kernel_size (int): K. Defaults to 3.
        num_upsamples (int): 2x upsamplings of the visual branch. Defaults
            to 2 (stride 16 -> 4).
        norm_cfg (dict): Norm of the visual branch. Defaults to
            ``dict(type='BN')``.
        act_cfg (dict): Activation of the visual branch. Defaults to
            ``dict(type='ReLU')``.
    """

    def __init__(self,
                 in_channels: int = 512,
                 text_channels: int = 1024,
                 channels: int = 256,
                 kernel_size: int = 3,
                 num_upsamples: int = 2,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU')):
        super().__init__()
        self.vis = MaskFeatureUpsampler(
            in_channels,
            channels,
            num_upsamples=num_upsamples,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.dynamic_conv = DynamicConv2d(channels, kernel_size)
        self.txt = nn.Linear(text_channels, self.dynamic_conv.num_params)

    def forward(self, pixel_feats: Tensor, sentence_feat: Tensor) -> Tensor:
        """Computes the mask logits.

        Args:
            pixel_feats (Tensor): (B, C, H, W), the decoder output.
            sentence_feat (Tensor): (B, C_s).

        Returns:
            Tensor: (B, 1, H * 2**num_upsamples, W * 2**num_upsamples).
        """
        kernels = self.txt(sentence_feat).unsqueeze(1)
        return self.dynamic_conv(self.vis(pixel_feats), kernels)
