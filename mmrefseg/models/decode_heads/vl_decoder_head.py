"""CRIS's head: vision-language decoder, then text-to-pixel projector."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmrefseg.registry import MODELS
from ..layers.positional_encoding import (sinusoidal_position_1d,
                                          sinusoidal_position_2d)
from ..layers.text_pixel_projector import TextPixelProjector
from ..layers.vl_transformer_decoder import VLTransformerDecoder
from .base_refer_head import BaseReferHead

__all__ = ['VLDecoderHead']


@MODELS.register_module()
class VLDecoderHead(BaseReferHead):
    """The CRIS vision-language decoder and projector.

    The fused map attends to itself and to the words (fixed sinusoidal
    positions: 2-D for pixels, 1-D for words; padding words masked), then a
    kernel predicted from the sentence feature convolves the upsampled pixel
    embeddings. Submodules ``decoder`` and ``proj`` carry the reference's
    ``decoder.*`` and ``proj.*`` parameters (see ``TextPixelProjector`` and
    ``MaskFeatureUpsampler`` for the ``proj.vis`` index mapping).

    Reads ``feats['fused']`` (B, C, H, W), ``feats['word_feats']`` (B, L, C),
    ``feats['pad_mask']`` (B, L) bool and ``feats['sentence_feat']``
    (B, C_s).

    Args:
        in_channels (int): C, of the fused map and of the words. Defaults to
            512.
        text_channels (int): C_s of the sentence feature (CLIP RN50: 1024,
            RN101: 512). Defaults to 1024.
        num_layers (int): Decoder layers. Defaults to 3.
        num_heads (int): Attention heads. Defaults to 8.
        feedforward_channels (int): FFN width. Defaults to 2048.
        dropout (float): Decoder dropout. Defaults to 0.1.
        fused_attention (bool): ``F.scaled_dot_product_attention`` in the
            decoder: faster, but converted reference checkpoints then match
            the reference's logits only to ~2e-4 instead of exactly.
            Defaults to False.
        proj_channels (int): Channels of the pixel embeddings. Defaults to
            256.
        kernel_size (int): Size of the sentence kernel. Defaults to 3.
        num_upsamples (int): 2x upsamplings of the projector. Defaults to 2
            (logits at 1/4 of the input).
        norm_cfg (dict): Norm of the projector convs. Defaults to
            ``dict(type='BN')``.
        act_cfg (dict): Activation of the projector convs. Defaults to
            ``dict(type='ReLU')``.
        loss_decode (dict | Sequence[dict]): Loss(es). Defaults to
            ``dict(type='TextPixelContrastiveLoss')``.
        no_target_classifier (dict, optional): The no-target branch (GRES),
            e.g. ``dict(type='NoTargetClassifier', in_channels=512)``; it
            reads the decoder's output (see ``BaseReferHead``). Defaults to
            None (off).
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 512,
                 text_channels: int = 1024,
                 num_layers: int = 3,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 dropout: float = 0.1,
                 fused_attention: bool = False,
                 proj_channels: int = 256,
                 kernel_size: int = 3,
                 num_upsamples: int = 2,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 loss_decode: Union[dict, Sequence[dict]] = dict(
                     type='TextPixelContrastiveLoss'),
                 no_target_classifier: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            loss_decode=loss_decode,
            no_target_classifier=no_target_classifier,
            init_cfg=init_cfg)
        self.in_channels = in_channels
        self.decoder = VLTransformerDecoder(
            num_layers=num_layers,
            embed_dims=in_channels,
            num_heads=num_heads,
            feedforward_channels=feedforward_channels,
            dropout=dropout,
            fused_attention=fused_attention)
        self.proj = TextPixelProjector(
            in_channels=in_channels,
            text_channels=text_channels,
            channels=proj_channels,
            kernel_size=kernel_size,
            num_upsamples=num_upsamples,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)

    def decode(self, fused: Tensor, word_feats: Tensor,
               pad_mask: Optional[Tensor]) -> Tensor:
        """Runs the decoder on a fused map.

        Args:
            fused (Tensor): (B, C, H, W).
            word_feats (Tensor): (B, L, C).
            pad_mask (Tensor, optional): (B, L) bool, True at padding.

        Returns:
            Tensor: (B, C, H, W).
        """
        batch, channels, height, width = fused.shape
        pixel_pos = sinusoidal_position_2d(height, width, channels,
                                           fused.device, torch.float32)
        word_pos = sinusoidal_position_1d(word_feats.shape[1],
                                          word_feats.shape[2],
                                          word_feats.device, torch.float32)
        pixels = self.decoder(
            fused.flatten(2).transpose(1, 2),
            word_feats,
            query_pos=pixel_pos,
            memory_pos=word_pos,
            memory_padding_mask=pad_mask)
        return pixels.transpose(1, 2).reshape(batch, channels, height, width)

    def forward(self, feats: Dict[str, Tensor]) -> Tensor:
        """VL feature dict -> mask logits (B, 1, 4H, 4W) for a (H, W) fused
        map."""
        return self.forward_for_no_target(feats)[0]

    def forward_for_no_target(self,
                              feats: Dict[str, Tensor]) -> Tuple[Tensor, ...]:
        """Mask logits (B, 1, 4H, 4W) and the decoder's output (B, C, H, W),
        which the no-target branch reads."""
        for key in ('fused', 'word_feats', 'sentence_feat'):
            if feats.get(key) is None:
                raise KeyError(f'VLDecoderHead needs feats[{key!r}]')
        pixels = self.decode(feats['fused'], feats['word_feats'],
                             feats.get('pad_mask'))
        return self.proj(pixels, feats['sentence_feat']), pixels
