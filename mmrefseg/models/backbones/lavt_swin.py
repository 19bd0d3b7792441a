"""LAVT's image encoder: a Swin Transformer that reads the sentence.

Each of the four Swin stages ends with a pixel-word attention module (PWAM)
and a language gate (LWG), before the patch merging:

    x = blocks(x)                     # Swin blocks of the stage
    f = PWAM(x, words, word_mask)     # the stage's output, after norm{i}
    x = x + LWG(f)                    # LWG(f) = tanh-gate(f) * f
    x = downsample(x)                 # into the next stage

The last stage's gate feeds nothing: it is built (frozen) but not run.
The Swin parts are MMSegmentation's (through :class:`SwinAttnPool` without
its attention pool, for the checkpoint loading); with the official Swin
weights converted they compute what the reference's blocks compute.
"""
from typing import Dict, Optional, Sequence, Union

import torch.nn as nn
from mmseg.models.backbones.swin import WindowMSA
from torch import Tensor

from mmrefseg.registry import MODELS
from ..layers.language_gate import LanguageGate
from ..layers.pixel_word_attention import PixelWordAttention
from .swin_attn_pool import SwinAttnPool

__all__ = ['LAVTSwin']


@MODELS.register_module()
class LAVTSwin(SwinAttnPool):
    """Swin Transformer with language-aware stages (LAVT, CVPR 2022).

    A text-conditioned backbone: its attribute ``with_text`` is True, so
    :class:`ReferSegmentor` calls it as ``backbone(images, text)`` with the
    text encoder's output (one image per sentence).

    Defaults are LAVT's Swin-B: window 12, the ImageNet-22k 384x384
    checkpoint, drop path 0.3, the four stages returned (strides 4, 8, 16,
    32; 128, 256, 512, 1024 channels), BERT-base words (768 channels), one
    PWAM head per stage. Weights: as :class:`SwinAttnPool`
    (``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` with the official
    file or an mmseg-style Swin state dict); the PWAMs, the gates and the
    output norms the checkpoint lacks are initialised as the reference does.

    Args:
        language_channels (int): Channels of the word features. Defaults to
            768.
        fusion_num_heads (int | Sequence[int]): PWAM heads per stage (the
            reference's ``--mha``). Defaults to 1.
        fusion_dropout (float): PWAM dropout (``--fusion_drop``). Defaults to
            0.0.
        pretrain_img_size, embed_dims, depths, num_heads, window_size,
        out_indices, drop_path_rate, **kwargs: passed to mmseg's
            ``SwinTransformer``. Defaults to Swin-B, 384, window 12,
            out_indices (0, 1, 2, 3), drop_path_rate 0.3.
        init_cfg (dict, optional): ``Pretrained`` with a local ``checkpoint``
            or None (random). Defaults to None.
    """

    with_text = True

    def __init__(self,
                 language_channels: int = 768,
                 fusion_num_heads: Union[int, Sequence[int]] = 1,
                 fusion_dropout: float = 0.0,
                 pretrain_img_size: int = 384,
                 embed_dims: int = 128,
                 depths: Sequence[int] = (2, 2, 18, 2),
                 num_heads: Sequence[int] = (4, 8, 16, 32),
                 window_size: int = 12,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 drop_path_rate: float = 0.3,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if kwargs.pop('with_global', False):
            raise ValueError('LAVTSwin has no global feature (with_global)')
        super().__init__(
            with_global=False,
            pretrain_img_size=pretrain_img_size,
            embed_dims=embed_dims,
            depths=depths,
            num_heads=num_heads,
            window_size=window_size,
            out_indices=out_indices,
            drop_path_rate=drop_path_rate,
            init_cfg=init_cfg,
            **kwargs)
        num_stages = len(depths)
        if isinstance(fusion_num_heads, int):
            fusion_num_heads = (fusion_num_heads, ) * num_stages
        if len(fusion_num_heads) != num_stages:
            raise ValueError(f'LAVTSwin: fusion_num_heads={fusion_num_heads} '
                             f'needs one value per stage ({num_stages})')
        self.pixel_word_attns = nn.ModuleList(
            PixelWordAttention(
                self.num_features[i],
                language_channels,
                num_heads=fusion_num_heads[i],
                dropout=fusion_dropout) for i in range(num_stages))
        self.language_gates = nn.ModuleList(
            LanguageGate(self.num_features[i]) for i in range(num_stages))
        # The last stage's gated features go nowhere (no patch merging
        # follows; the stage returns the PWAM output): the reference builds
        # that gate and never trains it (its DDP finds it unused). It is
        # kept, frozen, so that checkpoints and parameter counts match, and
        # not computed.
        self.language_gates[-1].requires_grad_(False)

    def init_weights(self) -> None:
        """Swin random or from the checkpoint (see :class:`SwinAttnPool`);
        the gates truncated normal and the PWAMs PyTorch's default, as the
        reference. A random Swin also gets its relative-position tables
        truncated normal, as the reference (mmseg's Swin leaves them zero)."""
        super().init_weights()
        if self.init_cfg is None:
            for module in self.modules():
                if isinstance(module, WindowMSA):
                    module.init_weights()
        for gate in self.language_gates:
            gate.init_weights()
        for attn in self.pixel_word_attns:
            attn.reset_parameters()

    def forward(self, x: Tensor, text: Dict[str, Tensor]) -> tuple:
        """Encode images guided by their sentences.

        Args:
            x (Tensor): (B, 3, H, W) images, one per sentence.
            text (dict[str, Tensor]): The text encoder's output for the B
                sentences: ``word_feats`` (B, L, language_channels) and
                ``pad_mask`` (B, L), True at padding.

        Returns:
            tuple[Tensor]: the PWAM outputs of ``out_indices``, each after its
            LayerNorm (Swin-B: (B, 128, H/4, W/4), ..., (B, 1024, H/32,
            W/32)).
        """
        words = text['word_feats']
        word_mask = ~text['pad_mask']
        x, hw_shape = self.patch_embed(x)
        x = self.drop_after_pos(x)
        outs = []
        for i, stage in enumerate(self.stages):
            for block in stage.blocks:
                x = block(x, hw_shape)
            fused = self.pixel_word_attns[i](x, words, word_mask)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(fused)
                outs.append(
                    out.view(-1, *hw_shape, self.num_features[i]).permute(
                        0, 3, 1, 2).contiguous())
            if stage.downsample is not None:
                x = x + self.language_gates[i](fused)
                x, hw_shape = stage.downsample(x, hw_shape)
        return tuple(outs)
