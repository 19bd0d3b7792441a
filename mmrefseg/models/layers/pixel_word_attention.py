"""LAVT's pixel-word attention module (PWAM)."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmrefseg.registry import MODELS

__all__ = ['PixelWordAttention']

# The reference pushes the logits of padded words down by this constant (not
# -inf), so that the softmax matches it in every case.
_PAD_LOGIT = -1e4


@MODELS.register_module()
class PixelWordAttention(BaseModule):
    """Every pixel gathers the words it attends to (LAVT, paper eq. 1-4).

    1. Queries from the pixels, keys and values from the words: ``q =
       IN(W_q x)``, ``k = W_k l``, ``v = W_v l`` (IN: instance norm over the
       pixels of each channel, no affine), padded words zeroed.
    2. ``a = softmax(q k^T / sqrt(C))`` over the words, padded words pushed
       to -1e4 first. The scale is the full width C, even with several heads,
       as the reference.
    3. The language feature of each pixel: ``g = IN(W_o (a v))``.
    4. The output: ``GELU(W_m (GELU(W_v' x) * g))``, dropout after each GELU.

    The reference's 1x1 ``Conv1d`` layers are ``nn.Linear`` here (the same
    product; its weights convert by dropping the last dimension), initialised
    as PyTorch initialises both (:meth:`reset_parameters`).

    Args:
        embed_dims (int): C, channels of the pixels, the keys, the values and
            the output.
        language_channels (int): Channels of the word features.
        num_heads (int): Attention heads; must divide ``embed_dims``.
            Defaults to 1 (the reference's default).
        dropout (float): Dropout after the two GELUs. Defaults to 0.0.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 language_channels: int,
                 num_heads: int = 1,
                 dropout: float = 0.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'PixelWordAttention: num_heads={num_heads} '
                             f'does not divide embed_dims={embed_dims}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.vis_proj = nn.Linear(embed_dims, embed_dims)
        self.query_proj = nn.Linear(embed_dims, embed_dims)
        self.key_proj = nn.Linear(language_channels, embed_dims)
        self.value_proj = nn.Linear(language_channels, embed_dims)
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        self.mm_proj = nn.Linear(embed_dims, embed_dims)
        self.dropout = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        """PyTorch's default init of Linear (and Conv1d) layers, which the
        reference keeps: its Swin init only visits Linear and LayerNorm."""
        for layer in self.children():
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    @staticmethod
    def _instance_norm(x: Tensor) -> Tensor:
        """Normalise each channel of (B, N, C) over the N pixels."""
        return F.instance_norm(x.transpose(1, 2)).transpose(1, 2)

    def language_features(self, x: Tensor, words: Tensor,
                          word_mask: Tensor) -> Tensor:
        """Steps 1-3: the words each pixel attends to.

        Args:
            x (Tensor): (B, N, C) pixels.
            words (Tensor): (B, L, C_l) word features.
            word_mask (Tensor): (B, L), 1 (True) at real words.

        Returns:
            Tensor: (B, N, C).
        """
        batch, num_pixels, channels = x.shape
        heads = self.num_heads
        mask = word_mask.to(x.dtype)
        query = self._instance_norm(self.query_proj(x))
        key = self.key_proj(words) * mask[..., None]
        value = self.value_proj(words) * mask[..., None]
        query = query.view(batch, num_pixels, heads, -1).transpose(1, 2)
        key = key.view(batch, -1, heads, channels // heads).transpose(1, 2)
        value = value.view(batch, -1, heads, channels // heads).transpose(1, 2)
        bias = ((1 - mask) * _PAD_LOGIT)[:, None, None, :]
        out = F.scaled_dot_product_attention(
            query, key, value, attn_mask=bias, scale=channels**-0.5)
        out = out.transpose(1, 2).reshape(batch, num_pixels, channels)
        return self._instance_norm(self.out_proj(out))

    def forward(self, x: Tensor, words: Tensor, word_mask: Tensor) -> Tensor:
        """Fuse the words into the pixels.

        Args:
            x (Tensor): (B, N, C) pixels (N = H * W).
            words (Tensor): (B, L, C_l) word features.
            word_mask (Tensor): (B, L), 1 (True) at real words, 0 (False) at
                padding.

        Returns:
            Tensor: (B, N, C) the multi-modal features.
        """
        vis = self.dropout(F.gelu(self.vis_proj(x)))
        lang = self.language_features(x, words, word_mask)
        return self.dropout(F.gelu(self.mm_proj(vis * lang)))
