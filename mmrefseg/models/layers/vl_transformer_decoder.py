"""The CRIS vision-language transformer decoder.

Pixels attend to themselves, then to a memory sequence (CRIS: the words;
EAVL: its generated queries, the words, or both), then pass an FFN. Every
sub-layer is pre-norm and its output is normalised again before the residual
sum (``self_attn_norm``, ``cross_attn_norm``, and the ``LayerNorm`` inside
``ffn``), exactly as the reference.

The attention modules keep ``nn.MultiheadAttention``'s parameter layout
(``in_proj_weight`` (3C, C), ``in_proj_bias`` (3C), ``out_proj``) and the layer
keeps the reference names, so reference weights load unchanged.

By default the arithmetic follows the CRIS reference op for op, so that
converted checkpoints reproduce its fp32 logits within 1e-4: the layers run
sequence first, as the reference does, so every matrix product sees the same
rows in the same memory order, and attention is computed in the order of
torch's ``nn.MultiheadAttention`` with attention weights requested (scaled q,
one batched product with k, softmax, one batched product with v). The logits
amplify the decoder's rounding about a hundredfold (the projector sums 512
channels weighted by sentence-dependent kernels), so a fused
``F.scaled_dot_product_attention``, whose online softmax rounds differently,
alone moves them by ~2e-4. ``fused_attention=True`` takes that fused path
instead (faster, especially for the 676 x 676 self-attention, and what EAVL,
which has no reference to match, uses by default).
"""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

__all__ = [
    'VLMultiheadAttention', 'VLTransformerDecoderLayer',
    'VLTransformerDecoder'
]


def _with_pos(x: Tensor, pos: Optional[Tensor]) -> Tensor:
    return x if pos is None else x + pos.to(x.dtype)


def _seq_first_pos(pos: Optional[Tensor]) -> Optional[Tensor]:
    """(L, C) or (B, L, C) positions -> broadcastable to (L, B, C)."""
    if pos is None:
        return None
    return pos.unsqueeze(1) if pos.dim() == 2 else pos.transpose(0, 1)


class VLMultiheadAttention(nn.Module):
    """Multi-head attention with ``nn.MultiheadAttention``'s parameters.

    By default the computation is the one of ``nn.MultiheadAttention`` with
    ``need_weights=True`` (see the module docstring for why): separate q, k,
    v projections of sequence-first inputs, ``q / sqrt(head_dim)``,
    ``baddbmm`` with the padding mask, softmax, ``bmm`` with v. With
    ``fused=True`` the attention itself is one
    ``F.scaled_dot_product_attention`` call (same result up to rounding).

    Args:
        embed_dims (int): Channels C of queries, keys and values.
        num_heads (int): Number of heads; must divide ``embed_dims``.
        dropout (float): Dropout on the attention weights, applied in
            training only. Defaults to 0.0.
        batch_first (bool): Inputs and output are (B, L, C); False gives
            (L, B, C), the layout the computation runs in. Defaults to True.
        fused (bool): Use ``F.scaled_dot_product_attention``. Defaults to
            False.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 dropout: float = 0.0,
                 batch_first: bool = True,
                 fused: bool = False):
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by '
                             f'num_heads={num_heads}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.fused = fused
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
        """(L, B, C) -> (B * heads, L, C / heads)."""
        length, batch, _ = x.shape
        return x.reshape(length, batch * self.num_heads, -1).transpose(0, 1)

    def forward(self,
                query: Tensor,
                key: Tensor,
                value: Tensor,
                key_padding_mask: Optional[Tensor] = None) -> Tensor:
        """Attends ``query`` to ``key``/``value``.

        Args:
            query (Tensor): (B, Nq, C), or (Nq, B, C) if not ``batch_first``.
            key (Tensor): (B, Nk, C), or (Nk, B, C).
            value (Tensor): (B, Nk, C), or (Nk, B, C).
            key_padding_mask (Tensor, optional): (B, Nk) bool, True where a
                key is padding and must receive no attention. Defaults to
                None.

        Returns:
            Tensor: (B, Nq, C), or (Nq, B, C) if not ``batch_first``.
        """
        if self.batch_first:
            query, key, value = (x.transpose(0, 1)
                                 for x in (query, key, value))
        dims = self.embed_dims
        length, batch, _ = query.shape
        dropout = self.dropout if self.training else 0.0
        weight, bias = self.in_proj_weight, self.in_proj_bias
        q = self._split_heads(F.linear(query, weight[:dims], bias[:dims]))
        k = self._split_heads(
            F.linear(key, weight[dims:2 * dims], bias[dims:2 * dims]))
        v = self._split_heads(F.linear(value, weight[2 * dims:],
                                       bias[2 * dims:]))

        if self.fused:
            keep_mask = None
            if key_padding_mask is not None:
                keep_mask = self._per_head(~key_padding_mask.bool())
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=keep_mask, dropout_p=dropout)
            return self._merge_heads(out, length, batch)

        q = q * math.sqrt(1.0 / q.shape[-1])
        if key_padding_mask is None:
            weights = torch.bmm(q, k.transpose(1, 2))
        else:
            score_bias = self._per_head(
                torch.zeros(key_padding_mask.shape, dtype=q.dtype,
                            device=q.device).masked_fill_(
                                key_padding_mask.bool(), float('-inf')))
            weights = torch.baddbmm(score_bias, q, k.transpose(1, 2))
        weights = weights.softmax(dim=-1)
        if dropout > 0:
            weights = F.dropout(weights, p=dropout)
        return self._merge_heads(torch.bmm(weights, v), length, batch)

    def _per_head(self, per_key: Tensor) -> Tensor:
        """(B, Nk) -> (B * heads, 1, Nk), the layout of split heads."""
        batch = per_key.shape[0]
        return per_key[:, None, None, :].expand(
            -1, self.num_heads, -1, -1).reshape(batch * self.num_heads, 1, -1)

    def _merge_heads(self, out: Tensor, length: int, batch: int) -> Tensor:
        """(B * heads, L, C / heads) -> output projection, input layout."""
        dims = self.embed_dims
        out = out.transpose(0, 1).reshape(length * batch, dims)
        out = self.out_proj(out).view(length, batch, dims)
        return out.transpose(0, 1) if self.batch_first else out


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
        fused_attention (bool): See :class:`VLMultiheadAttention`
            ``fused``. Defaults to False.
    """

    def __init__(self,
                 embed_dims: int = 512,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 dropout: float = 0.1,
                 fused_attention: bool = False):
        super().__init__()
        self.self_attn_norm = nn.LayerNorm(embed_dims)
        self.cross_attn_norm = nn.LayerNorm(embed_dims)
        self.self_attn = VLMultiheadAttention(
            embed_dims, num_heads, dropout, False, fused_attention)
        self.multihead_attn = VLMultiheadAttention(
            embed_dims, num_heads, dropout, False, fused_attention)
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
        # Sequence first inside (transposed views, no copies): a stack of
        # layers keeps the reference's memory layout from end to end.
        query, memory = query.transpose(0, 1), memory.transpose(0, 1)
        query_pos = _seq_first_pos(query_pos)
        memory_pos = _seq_first_pos(memory_pos)

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

        query = query + self.dropout3(self.ffn(self.norm3(query)))
        return query.transpose(0, 1)


class VLTransformerDecoder(BaseModule):
    """A stack of :class:`VLTransformerDecoderLayer` and a final LayerNorm.

    Args:
        num_layers (int): Number of layers. Defaults to 3.
        embed_dims (int): Channels C. Defaults to 512.
        num_heads (int): Attention heads. Defaults to 8.
        feedforward_channels (int): FFN hidden channels. Defaults to 2048.
        dropout (float): Dropout probability. Defaults to 0.1.
        fused_attention (bool): ``F.scaled_dot_product_attention`` instead
            of the reference's op order. Defaults to False.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 num_layers: int = 3,
                 embed_dims: int = 512,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 dropout: float = 0.1,
                 fused_attention: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.layers = nn.ModuleList([
            VLTransformerDecoderLayer(embed_dims, num_heads,
                                      feedforward_channels, dropout,
                                      fused_attention)
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
        # Normalised sequence first, the output keeps the reference's memory
        # layout, which decides the convolution algorithm of the next stage.
        return self.norm(query.transpose(0, 1)).transpose(0, 1)
