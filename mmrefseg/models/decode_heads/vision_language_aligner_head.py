"""EAVL's head: multi-query generator, decoder and Vision-Language Aligner."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

from mmrefseg.registry import MODELS
from ..layers.dynamic_conv import DynamicConv2d
from ..layers.mask_feature_upsampler import MaskFeatureUpsampler
from ..layers.positional_encoding import (sinusoidal_position_1d,
                                          sinusoidal_position_2d)
from ..layers.vl_transformer_decoder import (VLMultiheadAttention,
                                             VLTransformerDecoder)
from .base_refer_head import BaseReferHead

__all__ = ['VisionLanguageAlignerHead']

_MEMORIES = ('queries', 'words', 'both')
_KERNEL_SOURCES = ('queries', 'sentence', 'static')


@MODELS.register_module()
class VisionLanguageAlignerHead(BaseReferHead):
    """EAVL's segmentation stage (paper sections III-B and III-C).

    1. The Multi-Query Generator (``query_generator``) turns the backbone
       maps, the global vision feature and the words into Nq queries F_q.
    2. The transformer decoder lets the fused map (``feats['fused']``)
       attend to itself and to a memory (``memory``), giving the per-pixel
       features F_c at stride 16.
    3. Vision-Language Aligner. Multi-Mask Generator: F_c is upsampled to
       the mask features F_c' (C_k channels, stride 4 by default); each query
       becomes a K x K kernel and a bias (one Linear), and all queries of all
       samples convolve F_c' in one grouped convolution, giving Nq masks.
       Multi-Query Estimator: self-attention over the queries, a Linear to one
       score per query, softmax over the queries. Logits = sum_n s_n M_n.

    Because a convolution is linear in its kernel, sum_n s_n (F_c' * k_n +
    b_n) = F_c' * (sum_n s_n k_n) + sum_n s_n b_n: :meth:`forward` mixes the
    kernels first and convolves once per sample, which gives the same logits
    for Nq times less convolution work. :meth:`forward_masks` returns the
    individual masks and scores (for visualisation, paper Fig. 4).

    Reads ``feats['fused']`` (B, C, H, W), ``feats['img_feats']``,
    ``feats['global_img']``, ``feats['word_feats']`` (B, L, C_w),
    ``feats['pad_mask']`` (B, L) and, for ``kernel_source='sentence'``,
    ``feats['sentence_feat']``. Inside the CRIS model the same head replaces
    CRIS's decoder + projector ("CRIS + Ours", paper Table V).

    Switches (paper ablations; CHOICE = the paper leaves it open):

    - ``query_generator.num_queries``: Nq (Table II; 24 is best).
    - ``query_generator.use_global_vision``: F_g gating of the words (Table
      IV). Global text on/off (Table IV) belongs to the segmentor's neck,
      which gates the fused map with the sentence.
    - ``kernel_source`` (Table III): 'queries' = the aligner; 'sentence' = one
      kernel predicted from the sentence feature, as CRIS's projector;
      'static' = one learned, input-independent conv kernel (the paper's
      literal "convolution with a fixed kernel"). The last two give one mask,
      so the estimator is not built; the queries still feed the decoder when
      ``memory`` uses them.
    - ``use_estimator`` (Table IV): False sums the masks with equal weights
      1/Nq.
    - ``estimator_residual`` (CHOICE): the estimator's self-attention output
      is added to the queries before the score Linear (True, default), or
      replaces them (False, the most literal reading). Without the residual
      every output is a convex mix of all queries' values, so at
      initialisation the scores hardly tell the queries apart.
    - ``memory`` (CHOICE): what the pixels cross-attend to: 'queries' (the
      paper's reading, default), 'words' (as CRIS; 1-D sinusoidal positions,
      padding masked) or 'both' (queries then words, the words keeping their
      positions and mask).
    - ``num_layers`` (CHOICE, default 3 as CRIS), ``kernel_size`` (CHOICE,
      default 3), ``num_upsamples`` (CHOICE, default 2: logits at 1/4 of the
      input), ``mask_channels`` C_k (CHOICE, default 256).

    Args:
        query_generator (dict, optional): ``MultiQueryGenerator`` config;
            needed unless ``kernel_source`` is not 'queries' and ``memory`` is
            'words'. Defaults to None.
        memory (str): 'queries', 'words' or 'both'. Defaults to 'queries'.
        kernel_source (str): 'queries', 'sentence' or 'static'. Defaults to
            'queries'.
        use_estimator (bool): Weigh the masks by the Multi-Query Estimator.
            Defaults to True.
        estimator_residual (bool): Residual connection around the
            estimator's self-attention. Defaults to True.
        in_channels (int): C of the fused map, the decoder, the words (for a
            word memory) and the queries. Defaults to 512.
        sentence_channels (int, optional): C_s, for
            ``kernel_source='sentence'``. Defaults to None.
        num_layers (int): Decoder layers. Defaults to 3.
        num_heads (int): Heads of the decoder and the estimator. Defaults to
            8.
        feedforward_channels (int): Decoder FFN width. Defaults to 2048.
        dropout (float): Decoder dropout. Defaults to 0.1.
        fused_attention (bool): ``F.scaled_dot_product_attention`` in the
            decoder and the estimator (no reference rounding to match here).
            Defaults to True.
        mask_channels (int): C_k of the mask features. Defaults to 256.
        kernel_size (int): K of the mask kernels. Defaults to 3.
        num_upsamples (int): 2x upsamplings from F_c to F_c'. Defaults to 2.
        norm_cfg (dict): Norm of the upsampling convs. Defaults to
            ``dict(type='BN')``.
        act_cfg (dict): Activation of the upsampling convs. Defaults to
            ``dict(type='ReLU')``.
        loss_decode (dict | Sequence[dict]): Loss(es); sigmoid BCE by
            default. Defaults to ``dict(type='TextPixelContrastiveLoss')``.
        no_target_classifier (dict, optional): The no-target branch (GRES),
            e.g. ``dict(type='NoTargetClassifier', in_channels=512)``; it
            reads the fused map (see ``BaseReferHead``). Defaults to None
            (off).
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 query_generator: Optional[dict] = None,
                 memory: str = 'queries',
                 kernel_source: str = 'queries',
                 use_estimator: bool = True,
                 estimator_residual: bool = True,
                 in_channels: int = 512,
                 sentence_channels: Optional[int] = None,
                 num_layers: int = 3,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 dropout: float = 0.1,
                 fused_attention: bool = True,
                 mask_channels: int = 256,
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
        if memory not in _MEMORIES:
            raise ValueError(f'memory must be one of {_MEMORIES}, got '
                             f'{memory!r}')
        if kernel_source not in _KERNEL_SOURCES:
            raise ValueError(f'kernel_source must be one of '
                             f'{_KERNEL_SOURCES}, got {kernel_source!r}')
        needs_queries = memory != 'words' or kernel_source == 'queries'
        if needs_queries and query_generator is None:
            raise ValueError(f'memory={memory!r} with kernel_source='
                             f'{kernel_source!r} needs a query_generator')
        if kernel_source == 'sentence' and sentence_channels is None:
            raise ValueError("kernel_source='sentence' needs "
                             'sentence_channels')
        self.memory = memory
        self.kernel_source = kernel_source
        self.use_estimator = use_estimator and kernel_source == 'queries'
        self.estimator_residual = estimator_residual
        self.in_channels = in_channels

        self.query_generator = MODELS.build(
            query_generator) if needs_queries else None
        self.decoder = VLTransformerDecoder(
            num_layers=num_layers,
            embed_dims=in_channels,
            num_heads=num_heads,
            feedforward_channels=feedforward_channels,
            dropout=dropout,
            fused_attention=fused_attention)
        self.mask_upsampler = MaskFeatureUpsampler(
            in_channels,
            mask_channels,
            num_upsamples=num_upsamples,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.dynamic_conv = DynamicConv2d(mask_channels, kernel_size)
        if kernel_source == 'queries':
            self.kernel_proj = nn.Linear(in_channels,
                                         self.dynamic_conv.num_params)
        elif kernel_source == 'sentence':
            self.kernel_proj = nn.Linear(sentence_channels,
                                         self.dynamic_conv.num_params)
        else:
            self.static_conv = nn.Conv2d(
                mask_channels, 1, kernel_size, padding=kernel_size // 2)
        if self.use_estimator:
            self.estimator_attn = VLMultiheadAttention(
                in_channels, num_heads, fused=fused_attention)
            self.estimator_score = nn.Linear(in_channels, 1)

    def _memory(self, queries: Optional[Tensor],
                feats: Dict[str, Tensor]) -> Tuple[Tensor, ...]:
        """The decoder memory, its positions and its padding mask."""
        if self.memory == 'queries':
            return queries, None, None
        words = feats['word_feats']
        pad_mask = feats.get('pad_mask')
        word_pos = sinusoidal_position_1d(words.shape[1], words.shape[2],
                                          words.device, torch.float32)
        if self.memory == 'words':
            return words, word_pos, pad_mask
        num_queries = queries.shape[1]
        if pad_mask is None:
            pad_mask = words.new_zeros(words.shape[:2], dtype=torch.bool)
        memory = torch.cat([queries, words], dim=1)
        # the queries are an unordered set: no position, never padding
        pos = torch.cat(
            [word_pos.new_zeros(num_queries, words.shape[2]), word_pos])
        mask = torch.cat(
            [pad_mask.new_zeros(pad_mask.shape[0], num_queries), pad_mask],
            dim=1)
        return memory, pos, mask

    def decode(self, feats: Dict[str, Tensor]) -> Tuple[Tensor, ...]:
        """Queries and decoder.

        Returns:
            tuple[Tensor, Tensor | None]: F_c (B, C, H, W) and the queries
            F_q (B, Nq, C) (None without a query generator).
        """
        for key in ('fused', 'word_feats'):
            if feats.get(key) is None:
                raise KeyError(f'VisionLanguageAlignerHead needs '
                               f'feats[{key!r}]')
        queries = None
        if self.query_generator is not None:
            queries = self.query_generator(feats['img_feats'],
                                           feats.get('global_img'),
                                           feats['word_feats'],
                                           feats.get('pad_mask'))
        fused = feats['fused']
        batch, channels, height, width = fused.shape
        memory, memory_pos, memory_mask = self._memory(queries, feats)
        pixel_pos = sinusoidal_position_2d(height, width, channels,
                                           fused.device, torch.float32)
        pixels = self.decoder(
            fused.flatten(2).transpose(1, 2),
            memory,
            query_pos=pixel_pos,
            memory_pos=memory_pos,
            memory_padding_mask=memory_mask)
        pixels = pixels.transpose(1, 2).reshape(batch, channels, height, width)
        return pixels, queries

    def query_scores(self, queries: Tensor) -> Tensor:
        """Multi-Query Estimator (eq. 13): (B, Nq, C) -> (B, Nq), rows sum to
        one (equal weights 1/Nq without the estimator)."""
        if not self.use_estimator:
            return queries.new_full(queries.shape[:2], 1 / queries.shape[1])
        attended = self.estimator_attn(queries, queries, queries)
        if self.estimator_residual:
            attended = attended + queries
        return self.estimator_score(attended).squeeze(-1).softmax(dim=-1)

    def _mask_feats_and_kernels(self, feats: Dict[str, Tensor]) -> tuple:
        """F_c' (B, C_k, h, w), the kernels (B, Nk, C_k*K*K+1) (None for
        ``kernel_source='static'``) and the queries (or None)."""
        pixels, queries = self.decode(feats)
        mask_feats = self.mask_upsampler(pixels)
        kernels = None
        if self.kernel_source == 'queries':
            kernels = self.kernel_proj(queries)
        elif self.kernel_source == 'sentence':
            if feats.get('sentence_feat') is None:
                raise KeyError("kernel_source='sentence' needs "
                               "feats['sentence_feat']: build the text "
                               'encoder with use_sentence=True')
            kernels = self.kernel_proj(feats['sentence_feat']).unsqueeze(1)
        return mask_feats, kernels, queries

    def forward_masks(self, feats: Dict[str, Tensor]) -> Tuple[Tensor, ...]:
        """The individual masks and their scores.

        Returns:
            tuple[Tensor, Tensor | None]: masks (B, Nk, h, w) (Nk = Nq for
            ``kernel_source='queries'``, else 1), all queries of all samples
            in one grouped convolution, and the scores (B, Nq) (None unless
            ``kernel_source='queries'``).
        """
        mask_feats, kernels, queries = self._mask_feats_and_kernels(feats)
        if self.kernel_source == 'static':
            return self.static_conv(mask_feats), None
        scores = None
        if self.kernel_source == 'queries':
            scores = self.query_scores(queries)
        return self.dynamic_conv(mask_feats, kernels), scores

    def forward(self, feats: Dict[str, Tensor]) -> Tensor:
        """VL feature dict -> mask logits (B, 1, h, w), h = H * 2 **
        num_upsamples for a fused map of height H."""
        mask_feats, kernels, queries = self._mask_feats_and_kernels(feats)
        if self.kernel_source == 'static':
            return self.static_conv(mask_feats)
        if self.kernel_source == 'queries':
            # sum_n s_n M_n as one score-weighted kernel per sample
            scores = self.query_scores(queries).unsqueeze(1)
            kernels = torch.bmm(scores.to(kernels.dtype), kernels)
        return self.dynamic_conv(mask_feats, kernels)
