"""The CRIS vision-language transformer decoder, batch first, on SDPA.

Pixels attend to themselves, then to a memory sequence (CRIS: the words;
EAVL: its generated queries, the words, or both), then pass an FFN. Every
sub-layer is pre-norm and its output is normalised again before the residual
sum (``self_attn_norm``, ``cross_attn_norm``, and the ``LayerNorm`` inside
``ffn``), exactly as the reference.

The attention modules keep ``nn.MultiheadAttention``'s parameter layout
(``in_proj_weight`` (3C, C), ``in_proj_bias`` (3C), ``out_proj``) and the layer
keeps the reference names, so reference weights load unchanged, while the
computation goes through ``F.scaled_dot_product_attention`` (fused kernels,
no attention-weight tensor materialised).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

__all__ = [
    'SDPAMultiheadAttention', 'VLTransformerDecoderLayer',
    'VLTransformerDecoder'
]


def _with_pos(x: Tensor, pos: Optional[Tensor]) -> Tensor:
    return x if pos is None else x + pos.to(x.dtype)


class SDPAMultiheadAttention(nn.Module):
    """Multi-head attention with ``nn.MultiheadAttention``'s parameters.

    Args:
        embed_dims (int): Channels C of queries, keys and values.
        num_heads (int): Number of heads; must divide ``embed_dims``.
        dropout (float): Dropout on the attention weights, applied in
            training only. Defaults to 0.0.
    """

    def __init__(self, embed_dims: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by '
                             f'num_heads={num_heads}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dims,
                                                       embed_dims))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dims))
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        self._reset_parameters()

    def _reset_parameters(self):
        # The initialisation of nn.MultiheadAttention.
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def _split_heads(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, -1).transpose(1, 2)

    def forward(self,
                query: Tensor,
                key: Tensor,
                value: Tensor,
                key_padding_mask: Optional[Tensor] = None) -> Tensor:
        """Attends ``query`` to ``key``/``value``.

        Args:
            query (Tensor): (B, Nq, C).
            key (Tensor): (B, Nk, C).
            value (Tensor): (B, Nk, C).
            key_padding_mask (Tensor, optional): (B, Nk) bool, True where a
                key is padding and must receive no attention. Defaults to
                None.

        Returns:
            Tensor: (B, Nq, C).
        """
        dims = self.embed_dims
        weight, bias = self.in_proj_weight, self.in_proj_bias
        if query is key:
            q, k = F.linear(query, weight[:2 * dims],
                            bias[:2 * dims]).chunk(2, dim=-1)
        else:
            q = F.linear(query, weight[:dims], bias[:dims])
            k = F.linear(key, weight[dims:2 * dims], bias[dims:2 * dims])
        v = F.linear(value, weight[2 * dims:], bias[2 * dims:])

        attn_mask = None
        if key_padding_mask is not None:
            # SDPA's boolean mask marks the keys that MAY be attended.
            attn_mask = ~key_padding_mask.bool()[:, None, None, :]
        out = F.scaled_dot_product_attention(
            self._split_heads(q),
            self._split_heads(k),
            self._split_heads(v),
            attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0)
        batch, _, length, _ = out.shape
        out = out.transpose(1, 2).reshape(batch, length, dims)
        return self.out_proj(out)


class VLTransformerDecoderLayer(nn.Module):
    """One pre-norm decoder layer: self-attention, cross-attention, FFN.

    Parameter names follow the CRIS reference (``self_attn``,
    ``multihead_attn``, ``self_attn_norm``, ``cross_attn_norm``,
    ``norm1/2/3``, ``ffn.0`` Linear, ``ffn.3`` LayerNorm, ``ffn.4`` Linear).

    Args:
        embed_dims (int): Channels C. Defaults to 512.
        num_heads (int): Attention heads. Defaults to 8.
        feedforward_channels (int): FFN hidden channels. Defaults to 2048.
        dropout (float): Dropout on attention weights, in the FFN and on each
            residual branch. Defaults to 0.1.
    """

    def __init__(self,
                 embed_dims: int = 512,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 dropout: float = 0.1):
        super().__init__()
        self.self_attn_norm = nn.LayerNorm(embed_dims)
        self.cross_attn_norm = nn.LayerNorm(embed_dims)
        self.self_attn = SDPAMultiheadAttention(embed_dims, num_heads,
                                                dropout)
        self.multihead_attn = SDPAMultiheadAttention(embed_dims, num_heads,
                                                     dropout)
        self.ffn = nn.Sequential(
            nn.Linear(embed_dims, feedforward_channels), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.LayerNorm(feedforward_channels),
            nn.Linear(feedforward_channels, embed_dims))
        self.norm1 = nn.LayerNorm(embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.norm3 = nn.LayerNorm(embed_dims)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self,
                query: Tensor,
                memory: Tensor,
                query_pos: Optional[Tensor] = None,
                memory_pos: Optional[Tensor] = None,
                memory_padding_mask: Optional[Tensor] = None) -> Tensor:
        """Updates the pixel sequence ``query``; ``memory`` is left as is.

        Args:
            query (Tensor): (B, N, C), the flattened pixel features.
            memory (Tensor): (B, L, C), e.g. word features or queries.
            query_pos (Tensor, optional): (N, C) or (B, N, C), added to the
                queries and keys of self-attention and to the queries of
                cross-attention. Defaults to None.
            memory_pos (Tensor, optional): (L, C) or (B, L, C), added to the
                cross-attention keys (not the values). Defaults to None.
            memory_padding_mask (Tensor, optional): (B, L) bool, True at
                padding. Defaults to None.

        Returns:
            Tensor: (B, N, C).
        """
        x = self.norm1(query)
        q = _with_pos(x, query_pos)
        x = self.self_attn(q, q, x)
        query = query + self.dropout1(self.self_attn_norm(x))

        x = self.norm2(query)
        x = self.multihead_attn(
            _with_pos(x, query_pos),
            _with_pos(memory, memory_pos),
            memory,
            key_padding_mask=memory_padding_mask)
        query = query + self.dropout2(self.cross_attn_norm(x))

        return query + self.dropout3(self.ffn(self.norm3(query)))


class VLTransformerDecoder(BaseModule):
    """A stack of :class:`VLTransformerDecoderLayer` and a final LayerNorm.

    Args:
        num_layers (int): Number of layers. Defaults to 3.
        embed_dims (int): Channels C. Defaults to 512.
        num_heads (int): Attention heads. Defaults to 8.
        feedforward_channels (int): FFN hidden channels. Defaults to 2048.
        dropout (float): Dropout probability. Defaults to 0.1.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 num_layers: int = 3,
                 embed_dims: int = 512,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 dropout: float = 0.1,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.layers = nn.ModuleList([
            VLTransformerDecoderLayer(embed_dims, num_heads,
                                      feedforward_channels, dropout)
            for _ in range(num_layers)
        ])
        self.norm = nn.LayerNorm(embed_dims)

    def forward(self,
                query: Tensor,
                memory: Tensor,
                query_pos: Optional[Tensor] = None,
                memory_pos: Optional[Tensor] = None,
                memory_padding_mask: Optional[Tensor] = None) -> Tensor:
        """Runs all layers, then the final LayerNorm.

        Args:
            query (Tensor): (B, N, C).
            memory (Tensor): (B, L, C).
            query_pos (Tensor, optional): (N, C) or (B, N, C). Defaults to
                None.
            memory_pos (Tensor, optional): (L, C) or (B, L, C). Defaults to
                None.
            memory_padding_mask (Tensor, optional): (B, L) bool, True at
                padding. Defaults to None.

        Returns:
            Tensor: (B, N, C).
        """
        if query.shape[-1] != self.embed_dims or \
                memory.shape[-1] != self.embed_dims:
            raise ValueError(
                f'VLTransformerDecoder expects {self.embed_dims} channels, '
                f'got query {tuple(query.shape)} and memory '
                f'{tuple(memory.shape)}')
        for layer in self.layers:
            query = layer(query, memory, query_pos, memory_pos,
                          memory_padding_mask)
        return self.norm(query)
