"""EAVL's Multi-Query Generator (paper section III-B, eq. 6-10)."""
from typing import Optional, Sequence, Tuple, Union

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmrefseg.registry import MODELS

__all__ = ['MultiQueryGenerator']


@MODELS.register_module()
class MultiQueryGenerator(BaseModule):
    """Turn a sentence into ``num_queries`` vision-guided queries.

    1. Dense vision features: ``neck`` (a FusionNeck run without the
       sentence gating) on the backbone maps, then three convolutions down to
       ``num_queries`` channels, each map flattened: F_dv (B, Nq, H'W').
    2. Fused language features: F_t' = relu(F_t W_a) * relu(F_g W_b), the
       global vision feature broadcast over the words; with
       ``use_global_vision=False``, F_t' = F_t.
    3. Vision-guided attention: a[n, l] = s (F_dv[n] W_1) . (F_t'[l] W_2),
       softmax over the real words (padding gets no weight). The paper's
       product is unscaled (s = 1, ``attn_scale=1.0``); the transformer
       habit s = 1/sqrt(C) makes the softmax much flatter at initialisation,
       so that all queries start as nearly the same average of the words.
    4. Queries: F_q[n] = (sum_l a[n, l] F_t'[l]) W_3.

    W_1 maps a whole flattened map (H'W' values) to C, so the generator is
    tied to one dense-map size, ``feat_size`` = the neck's output size
    (input size / 16 for the Swin and CLIP necks: 30x30 at 480x480, 26x26 at
    416x416); another input size is a clear error, not a silent resize.

    Args:
        neck (dict): Config of the FusionNeck that makes the dense features;
            it is always built with ``use_sentence=False``.
        feat_size (tuple[int, int] | int): (H', W') of the neck output.
        num_queries (int): Nq. Defaults to 24 (the paper's best).
        neck_channels (int): Channels of the neck output. Defaults to 512.
        reduce_channels (Sequence[int]): Outputs of the first two of the three
            reducing convolutions (3x3 conv + BN + ReLU each); the third is a
            plain 1x1 conv to Nq. Defaults to (256, 128).
        word_channels (int): Channels of the word features F_t. Defaults to
            512.
        global_channels (int): Channels of the global vision feature F_g.
            Defaults to 1024.
        embed_dims (int): C, the width of F_t' (when ``use_global_vision``)
            and of the attention space. Defaults to 512.
        out_channels (int): Channels of each query. Defaults to 512.
        use_global_vision (bool): Gate the words with F_g (eq. 8). Defaults
            to True.
        attn_scale (float): s, the factor of the attention logits. Defaults
            to 1.0 (the paper's plain product).
        norm_cfg (dict): Norm of the reducing convolutions. Defaults to
            ``dict(type='BN')``.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 neck: dict,
                 feat_size: Union[int, Sequence[int]],
                 num_queries: int = 24,
                 neck_channels: int = 512,
                 reduce_channels: Sequence[int] = (256, 128),
                 word_channels: int = 512,
                 global_channels: int = 1024,
                 embed_dims: int = 512,
                 out_channels: int = 512,
                 use_global_vision: bool = True,
                 attn_scale: float = 1.0,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(reduce_channels) != 2:
            raise ValueError('MultiQueryGenerator: reduce_channels must give '
                             'the two middle widths of the three reducing '
                             f'convolutions, got {reduce_channels}')
        self.feat_size = (feat_size, feat_size) if isinstance(
            feat_size, int) else tuple(feat_size)
        self.num_queries = num_queries
        self.use_global_vision = use_global_vision
        self.attn_scale = attn_scale
        # The dense features never see the sentence: build the neck without
        # its text projection rather than leave it without gradients.
        self.neck = MODELS.build(dict(neck, use_sentence=False))
        mid1, mid2 = reduce_channels
        self.reduce = nn.Sequential(
            ConvModule(neck_channels, mid1, 3, padding=1, norm_cfg=norm_cfg),
            ConvModule(mid1, mid2, 3, padding=1, norm_cfg=norm_cfg),
            nn.Conv2d(mid2, num_queries, 1))
        if use_global_vision:
            self.word_gate = nn.Linear(word_channels, embed_dims)  # W_a
            self.global_gate = nn.Linear(global_channels, embed_dims)  # W_b
            fused_channels = embed_dims
        else:
            fused_channels = word_channels
        num_pixels = self.feat_size[0] * self.feat_size[1]
        self.vision_proj = nn.Linear(num_pixels, embed_dims)  # W_1
        self.word_proj = nn.Linear(fused_channels, embed_dims)  # W_2
        self.query_proj = nn.Linear(fused_channels, out_channels)  # W_3

    def dense_vision_features(self, img_feats: Tuple[Tensor]) -> Tensor:
        """F_dv (eq. 6-7).

        Args:
            img_feats (tuple[Tensor]): the backbone maps at strides 8, 16, 32.

        Returns:
            Tensor: (B, Nq, H'W').
        """
        dense = self.reduce(self.neck(img_feats, None))
        if tuple(dense.shape[-2:]) != self.feat_size:
            raise ValueError(
                'MultiQueryGenerator was built for dense maps of size '
                f'feat_size={self.feat_size} but got {tuple(dense.shape[-2:])}'
                ': set feat_size to the neck output size (input size / 16)')
        return dense.flatten(2)

    def fused_language_features(self, word_feats: Tensor,
                                global_img: Optional[Tensor]) -> Tensor:
        """F_t' (eq. 8): (B, L, C), or F_t itself without global vision."""
        if not self.use_global_vision:
            return word_feats
        if global_img is None:
            raise ValueError('MultiQueryGenerator(use_global_vision=True) '
                             'needs a global vision feature: build the '
                             'backbone with with_global=True')
        return F.relu(self.word_gate(word_feats)) * F.relu(
            self.global_gate(global_img)).unsqueeze(1)

    def forward(self, img_feats: Tuple[Tensor], global_img: Optional[Tensor],
                word_feats: Tensor, pad_mask: Optional[Tensor]) -> Tensor:
        """Generate the queries.

        Args:
            img_feats (tuple[Tensor]): backbone maps (strides 8, 16, 32).
            global_img (Tensor, optional): F_g (B, C_g).
            word_feats (Tensor): F_t (B, L, C_w).
            pad_mask (Tensor, optional): (B, L) bool, True at padding; None
                when no word is padding.

        Returns:
            Tensor: F_q (B, Nq, out_channels).
        """
        dense = self.dense_vision_features(img_feats)
        fused_words = self.fused_language_features(word_feats, global_img)
        query = self.vision_proj(dense)
        key = self.word_proj(fused_words)
        # SDPA's boolean mask keeps True positions: the real words
        attended = F.scaled_dot_product_attention(
            query,
            key,
            fused_words,
            attn_mask=None if pad_mask is None else ~pad_mask.unsqueeze(1),
            scale=self.attn_scale)
        return self.query_proj(attended)
