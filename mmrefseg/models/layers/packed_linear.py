"""Linear layers with oneDNN-packed weights.

A linear layer applied to a few rows (a sentence's 17 CLIP tokens) costs
little arithmetic and is bound by its weight matrix, which MKL's sgemm (what
``F.linear`` calls) copies into its blocked layout again at every call. On 2
AVX2 cores a (17 x 512) @ (512 x 2048) product takes 0.66 ms there (54
GFLOP/s); oneDNN's inner product with the weight reordered once, when the
layer is built (``torch.ops.mkldnn._reorder_linear_weight``), takes 0.37 ms.
On many rows it depends on the CPU: with AVX2, MKL is the faster of the two
(676 rows: 8.1 vs 8.9 ms); with AVX-512, oneDNN (2 AMD EPYC Zen 4 cores: 6.4
vs 8.0 ms). See :func:`mmrefseg.apis.use_packed_linears`.

The packed weight is an opaque oneDNN tensor: it is neither a parameter nor a
buffer (the state dict keeps the plain ``weight`` under the same keys), and a
deep copy or an unpickled layer packs its own again. Like the other
inference transforms, it snapshots the weight: later changes to ``weight``
are not seen. Off the fp32 CPU path (another device or dtype, autocast, or
gradients wanted) the layers fall back to ``F.linear`` on the plain weight.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['PackedLinear', 'PackedSelfAttention']


def _packable(weight: Tensor) -> bool:
    """Whether oneDNN's packed path can run ``weight``: fp32 on the CPU,
    oneDNN present."""
    return (weight.device.type == 'cpu' and weight.dtype == torch.float32
            and torch.backends.mkldnn.is_available())


def _pack(weight: Tensor, rows: int) -> Optional[Tensor]:
    """``weight`` (out, in) reordered for oneDNN, or None where the packed
    path cannot run (:func:`_packable`)."""
    if not _packable(weight):
        return None
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), rows)


def _runs_packed(x: Tensor, weight: Tensor,
                 packed: Optional[Tensor]) -> bool:
    """Whether a product of ``x`` with ``weight`` may run on its packed copy
    ``packed``: fp32 on the CPU, no autocast, no gradient wanted."""
    return not (packed is None or x.device.type != 'cpu'
                or x.dtype != torch.float32
                or torch.is_autocast_enabled('cpu')
                or (torch.is_grad_enabled() and weight.requires_grad))


def _linear(x: Tensor, weight: Tensor, bias: Optional[Tensor],
            packed: Optional[Tensor]) -> Tensor:
    """``F.linear(x, weight, bias)``, through ``packed`` where it applies."""
    if not _runs_packed(x, weight, packed):
        return F.linear(x, weight, bias)
    return _packed_linear(x, packed, bias)


def _packed_linear(x: Tensor,
                   packed: Tensor,
                   bias: Optional[Tensor] = None) -> Tensor:
    """oneDNN's inner product of ``x`` (..., in) with a packed weight (where
    :func:`_runs_packed` holds): (..., out)."""
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, 'none', [],
                                              '')


class _PacksWeights(nn.Module):
    """Re-packs on deep copy / unpickling: an opaque tensor has no storage
    to copy."""

    #: The attributes that hold packed weights.
    _packed_names: Tuple[str, ...] = ()

    def _pack_weights(self) -> None:
        raise NotImplementedError

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for name in self._packed_names:
            state[name] = None
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._pack_weights()


class _PacksProducts(_PacksWeights):
    """A layer whose own matrix products (not ``nn.Linear`` children) run
    on oneDNN-packed weights on request: :meth:`pack_weights`, which
    :func:`mmrefseg.apis.use_packed_linears` calls. Subclasses name the
    attribute that holds the packed weights as their one ``_packed_names``
    entry and compute them in :meth:`_packed_products`."""

    #: The rows hint of the packed layout; None until :meth:`pack_weights`.
    packed_rows: Optional[int] = None

    def pack_weights(self, rows: int = 256) -> bool:
        """Runs the layer's products on weights packed once for oneDNN's
        inner product (fp32 CPU weights), which beats MKL's sgemm on CPUs
        with AVX-512. A snapshot of the weights; the packed copies double
        their memory.

        Args:
            rows (int): Expected rows per product, a hint for the packed
                layout. Defaults to 256.

        Returns:
            bool: Whether the layer packed its weights.
        """
        self.packed_rows = rows
        self._pack_weights()
        return getattr(self, self._packed_names[0]) is not None

    def _pack_weights(self) -> None:
        packed = None
        if self.packed_rows is not None:
            packed = self._packed_products(self.packed_rows)
        setattr(self, self._packed_names[0], packed)

    def _packed_products(self, rows: int):
        """The packed weights, or None where they cannot run."""
        raise NotImplementedError


class PackedLinear(_PacksWeights):
    """``nn.Linear`` whose weight is packed once for oneDNN (see the module
    docstring); shares ``linear``'s parameters.

    Args:
        linear (nn.Linear): The layer to run.
        rows (int): The expected number of input rows, a hint for the
            packed layout. Defaults to 32.
    """

    _packed_names = ('packed_weight', )

    def __init__(self, linear: nn.Linear, rows: int = 32):
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.rows = rows
        self.weight = linear.weight
        self.bias = linear.bias
        self._pack_weights()

    @staticmethod
    def supports(linear: nn.Module) -> bool:
        """Whether ``linear`` is an ``nn.Linear`` this layer can pack."""
        return isinstance(linear, nn.Linear) and _packable(linear.weight)

    def _pack_weights(self) -> None:
        self.packed_weight = _pack(self.weight, self.rows)

    def forward(self, x: Tensor) -> Tensor:
        """(..., in_features) -> (..., out_features)."""
        return _linear(x, self.weight, self.bias, self.packed_weight)

    def extra_repr(self) -> str:
        return (f'in_features={self.in_features}, out_features='
                f'{self.out_features}, rows={self.rows}')


class PackedSelfAttention(_PacksWeights):
    """The self-attention of an ``nn.MultiheadAttention`` (sequence first,
    packed input projection, no extra key / value biases) with its two
    projections packed for oneDNN.

    Computes what the module does in eval mode with ``need_weights=False``
    (no dropout: an inference layer): the same projections,
    ``F.scaled_dot_product_attention`` with the same mask, and the same
    parameter names in the state dict.

    Args:
        attention (nn.MultiheadAttention): The layer to run.
        rows (int): The expected number of tokens per call (sequence length
            times batch), a hint for the packed layout. Defaults to 32.
    """

    _packed_names = ('packed_in_proj', )

    def __init__(self, attention: nn.MultiheadAttention, rows: int = 32):
        super().__init__()
        if not self.supports(attention):
            raise ValueError('PackedSelfAttention needs a sequence-first '
                             'nn.MultiheadAttention with a packed in_proj, '
                             'no bias_k / bias_v / zero attention and fp32 '
                             f'CPU weights, got {attention}')
        self.num_heads = attention.num_heads
        self.rows = rows
        self.in_proj_weight = attention.in_proj_weight
        self.in_proj_bias = attention.in_proj_bias
        self.out_proj = PackedLinear(attention.out_proj, rows)
        self._pack_weights()

    @staticmethod
    def supports(attention: nn.Module) -> bool:
        """Whether ``attention`` is a layer this one can replace."""
        return (isinstance(attention, nn.MultiheadAttention)
                and attention._qkv_same_embed_dim
                and not attention.batch_first and attention.bias_k is None
                and not attention.add_zero_attn
                and _packable(attention.in_proj_weight)
                and _packable(attention.out_proj.weight))

    def _pack_weights(self) -> None:
        self.packed_in_proj = _pack(self.in_proj_weight, self.rows)

    def forward(self,
                query: Tensor,
                key: Tensor,
                value: Tensor,
                need_weights: bool = False,
                attn_mask: Optional[Tensor] = None) -> Tuple[Tensor, None]:
        """Self-attention of ``query`` (L, B, C); ``key`` and ``value`` must
        be ``query`` itself and ``need_weights`` False (the only use of
        this layer). ``attn_mask``: (L, L), float (added) or bool (True:
        masked out, as for ``nn.MultiheadAttention``). Returns
        ``((L, B, C), None)`` like the module it replaces.
        """
        if key is not query or value is not query or need_weights:
            raise ValueError('PackedSelfAttention computes self-attention '
                             'without weights: pass the same tensor as '
                             'query, key and value and need_weights=False')
        length, batch, channels = query.shape
        qkv = _linear(query, self.in_proj_weight, self.in_proj_bias,
                      self.packed_in_proj)
        # (3, B, heads, L, head_dim): views, no copies.
        q, k, v = qkv.view(length, batch, 3, self.num_heads,
                           -1).permute(2, 1, 3, 0, 4)
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            attn_mask = ~attn_mask  # SDPA's bool masks mark what is kept
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        out = out.permute(2, 0, 1, 3).reshape(length, batch, channels)
        return self.out_proj(out), None

    def extra_repr(self) -> str:
        return f'num_heads={self.num_heads}, rows={self.rows}'
