"""The CRIS vision-language transformer decoder.

Pixels attend to themselves, then to a memory sequence (CRIS: the words;
EAVL: its generated queries, the words, or both), then pass an FFN. Every
sub-layer is pre-norm and its output is normalised again before the residual
sum (``self_attn_norm``, ``cross_attn_norm``, and the ``LayerNorm`` inside
``ffn``), exactly as the reference.

The attention modules keep ``nn.MultiheadAttention``'s parameter layout
(``in_proj_weight`` (3C, C), ``in_proj_bias`` (3C), ``out_proj``) and the layer
keeps the reference names, so reference weights load unchanged.

By default the arithmetic follows the CRIS reference op for op, so that converted
checkpoints reproduce its fp32 logits within 1e-4: the layers run sequence
first, as the reference does, so every matrix product sees the same rows in
the same memory order, and attention is computed in the order of torch's
``nn.MultiheadAttention`` with attention weights requested (scaled q, one
batched product with k, softmax, one batched product with v). The logits
amplify the decoder's rounding about a hundredfold (the projector sums 512
channels weighted by sentence-dependent kernels), so a fused
``F.scaled_dot_product_attention``, whose online softmax rounds differently,
alone moves them by ~2e-4. ``fused_attention=True`` takes that fused path
instead (faster, especially for the 676 x 676 self-attention, and what EAVL,
which has no reference to match, uses by default).
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from .packed_linear import (_linear, _pack, _packable, _PacksProducts,
                            _runs_packed)

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


class VLMultiheadAttention(_PacksProducts):
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
        fold_projections (bool): When the keys are few (``num_heads * Nk <
            embed_dims``, e.g. CRIS's 17 words against 676 pixels), fold the
            query projection into the keys and the output projection into
            the values (see :meth:`_forward_folded`): the long query
            sequence then passes through two (C x heads * Nk) products
            instead of two (C x C) ones. Same result up to float rounding;
            an inference option (``inference_cfg.fold_attention``).
            Defaults to False.
    """

    #: Outside autograd, the reference-order path attends in blocks of
    #: queries whose scores take at most this many bytes (8 heads x 676
    #: keys: 193 queries), so that each block stays in the cache between
    #: its three steps. CRIS's 676-pixel self-attention alone: 15 -> 9 ms
    #: on 2 CPU cores; the whole CRIS-R50 forward: ~5 ms less.
    score_block_bytes = 4 * 2**20

    _packed_names = ('packed_in_proj', )

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 dropout: float = 0.0,
                 batch_first: bool = True,
                 fused: bool = False,
                 fold_projections: bool = False):
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by '
                             f'num_heads={num_heads}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.fused = fused
        self.fold_projections = fold_projections
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dims,
                                                       embed_dims))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dims))
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        self._reset_parameters()
        self._pack_weights()  # packed_in_proj = None until pack_weights

    def _reset_parameters(self):
        # The initialisation of nn.MultiheadAttention.
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(L, B, C) -> (B * heads, L, C / heads)."""
        length, batch, _ = x.shape
        # A copy only for a batch of query-key projection halves.
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
        if self.fold_projections and dropout == 0 and \
                self.num_heads * key.shape[0] < dims:
            out = self._forward_folded(query, key, value, key_padding_mask)
            return out if self.batch_first else out.transpose(0, 1)
        q, k, v = self._project(query, key, value)
        q, k, v = self._split_heads(q), self._split_heads(k), \
            self._split_heads(v)

        if self.fused:
            keep_mask = None
            if key_padding_mask is not None:
                keep_mask = self._per_head(~key_padding_mask.bool())
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=keep_mask, dropout_p=dropout)
            return self._merge_heads(out, length, batch)

        q = q * math.sqrt(1.0 / q.shape[-1])
        score_bias = None
        if key_padding_mask is not None:
            score_bias = self._per_head(
                torch.zeros(key_padding_mask.shape, dtype=q.dtype,
                            device=q.device).masked_fill_(
                                key_padding_mask.bool(), float('-inf')))
        rows = self._query_rows_per_block(q.shape[0], k.shape[1])
        if (rows >= length or torch.is_grad_enabled()
                or q.device.type != 'cpu' or torch.compiler.is_compiling()
                or torch.jit.is_tracing()):
            out = self._attend(q, k, v, score_bias, dropout)
        else:
            # Blocks of queries keep each score block cache-resident
            # between its product, softmax and product with v (in eager
            # mode on a CPU; a GPU would only pay one launch more per block,
            # a compiled graph plans its own memory, and a traced one, e.g.
            # for counting FLOPs, records plain products); every row is
            # computed as in one block, so the result is the same.
            out = q.new_empty(q.shape[0], length, v.shape[-1])
            for start in range(0, length, rows):
                self._attend(q[:, start:start + rows], k, v, score_bias,
                             dropout, out=out[:, start:start + rows])
        return self._merge_heads(out, length, batch)

    def _project(self, query: Tensor, key: Tensor,
                 value: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """The q, k, v input projections, (L, B, C) each; on packed weights
        self-attention's query and key (one tensor) in one product of twice
        the width."""
        dims = self.embed_dims
        weight, bias = self.in_proj_weight, self.in_proj_bias
        packed_query_key, packed_value = self.packed_in_proj or (None, None)
        if key is query and _runs_packed(query, weight, packed_query_key):
            q, k = _linear(query, weight[:2 * dims], bias[:2 * dims],
                           packed_query_key).chunk(2, dim=-1)
        else:
            q = F.linear(query, weight[:dims], bias[:dims])
            k = F.linear(key, weight[dims:2 * dims], bias[dims:2 * dims])
        v = _linear(value, weight[2 * dims:], bias[2 * dims:], packed_value)
        return q, k, v

    def _packed_products(
            self, rows: int) -> Optional[Tuple[Tensor, Tensor]]:
        """The input projections packed: query and key as one (for
        self-attention, see :meth:`_project`), then value."""
        if not _packable(self.in_proj_weight):
            return None
        dims = self.embed_dims
        return (_pack(self.in_proj_weight[:2 * dims], rows),
                _pack(self.in_proj_weight[2 * dims:], rows))

    def _query_rows_per_block(self, batch_heads: int, keys: int) -> int:
        """Queries per block whose fp32 scores fit ``score_block_bytes``."""
        return max(1, self.score_block_bytes // (4 * batch_heads * keys))

    @staticmethod
    def _attend(q: Tensor,
                k: Tensor,
                v: Tensor,
                score_bias: Optional[Tensor],
                dropout: float,
                out: Optional[Tensor] = None) -> Tensor:
        """softmax(q k^T + bias) v for split heads: (B * heads, Nq, d)."""
        if score_bias is None:
            weights = torch.bmm(q, k.transpose(1, 2))
        else:
            weights = torch.baddbmm(score_bias, q, k.transpose(1, 2))
        weights = weights.softmax(dim=-1)
        if dropout > 0:
            weights = F.dropout(weights, p=dropout)
        return torch.bmm(weights, v, out=out)

    def _per_head(self, per_key: Tensor) -> Tensor:
        """(B, Nk) -> (B * heads, 1, Nk), the layout of split heads."""
        batch = per_key.shape[0]
        return per_key[:, None, None, :].expand(
            -1, self.num_heads, -1, -1).reshape(batch * self.num_heads, 1, -1)

    def _forward_folded(self, query: Tensor, key: Tensor, value: Tensor,
                        key_padding_mask: Optional[Tensor]) -> Tensor:
        """Attention with the query projection folded into the keys and the
        output projection into the values.

        For head h, with ``W_q^h`` (d, C), ``W_o^h`` (C, d) the head's
        slices of the query and output projections::

            scores_h = (x W_q^h.T + b_q^h) k_h.T / sqrt(d)
                     = x (W_q^h.T k_h.T / sqrt(d)) + b_q^h k_h.T / sqrt(d)
            out      = sum_h softmax(scores_h) (v_h W_o^h.T) + b_o

        so all heads' scores are one (Nq x C) @ (C x heads * Nk) product and
        the output one (Nq x heads * Nk) @ (heads * Nk x C) product.

        Args:
            query (Tensor): (Nq, B, C), sequence first.
            key (Tensor): (Nk, B, C).
            value (Tensor): (Nk, B, C).
            key_padding_mask (Tensor, optional): (B, Nk), True at padding.

        Returns:
            Tensor: (B, Nq, C), batch first.
        """
        dims, heads = self.embed_dims, self.num_heads
        head_dims = dims // heads
        length, batch, _ = query.shape
        weight, bias = self.in_proj_weight, self.in_proj_bias
        scale = math.sqrt(1.0 / head_dims)
        k = F.linear(key, weight[dims:2 * dims], bias[dims:2 * dims])
        v = F.linear(value, weight[2 * dims:], bias[2 * dims:])
        k = k.view(-1, batch, heads, head_dims) * scale
        v = v.view(-1, batch, heads, head_dims)
        # (B, C, heads * Nk) and (B, 1, heads * Nk): queries -> scores
        key_proj = torch.einsum('lbhd,hdc->bchl', k,
                                weight[:dims].view(heads, head_dims, dims))
        key_bias = torch.einsum('lbhd,hd->bhl', k,
                                bias[:dims].view(heads, head_dims))
        scores = torch.baddbmm(
            key_bias.reshape(batch, 1, -1), query.transpose(0, 1),
            key_proj.reshape(batch, dims, -1)).view(batch, length, heads, -1)
        if key_padding_mask is not None:
            scores = scores.masked_fill(
                key_padding_mask.bool()[:, None, None, :], float('-inf'))
        weights = scores.softmax(dim=-1)
        # (B, heads * Nk, C): attention weights -> output
        value_proj = torch.einsum(
            'lbhd,chd->bhlc', v,
            self.out_proj.weight.view(dims, heads, head_dims))
        return torch.baddbmm(self.out_proj.bias,
                             weights.view(batch, length, -1),
                             value_proj.reshape(batch, -1, dims))

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
