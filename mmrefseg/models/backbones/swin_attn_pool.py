"""Swin Transformer with an attention-pooling layer on its last stage (EAVL).

The Swin stages are MMSegmentation's ``SwinTransformer`` (subclassed, not
copied). What EAVL adds is one multi-head self-attention layer over the
stage-4 tokens with their global average prepended: the output at that extra
token is the global vision feature ``F_g``; the outputs at the other tokens,
reshaped to the stage-4 grid, replace the stage-4 map.
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model.weight_init import trunc_normal_init
from mmengine.runner import CheckpointLoader
from mmseg.models.backbones import SwinTransformer
from torch import Tensor

from mmrefseg.registry import MODELS

__all__ = ['GlobalTokenAttentionPool', 'SwinAttnPool']


class GlobalTokenAttentionPool(nn.Module):
    """Self-attention over a map's tokens and their mean (EAVL eq. 1).

    The tokens carry no positional encoding, so a freshly initialised layer
    attends almost uniformly and gives every position nearly the same output:
    without the residual connection the stage-4 map loses its spatial layout
    at the start of training (measured on random Swin weights: the map's
    spread across positions fell to ~1 % of the input's). CRIS's CLIP pool
    adds its ``connect`` branch for the same reason.

    Args:
        embed_dims (int): Channels of the map.
        num_heads (int): Attention heads; must divide ``embed_dims``.
        residual (bool): Add the input tokens to the attention output, as a
            transformer layer does. Defaults to True.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 residual: bool = True) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'attention-pool num_heads={num_heads} does not '
                             f'divide embed_dims={embed_dims}')
        self.num_heads = num_heads
        self.residual = residual
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Pool a map.

        Args:
            x (Tensor): (B, C, H, W).

        Returns:
            tuple[Tensor, Tensor]: the attended map (B, C, H, W) and the
            global token (B, C).
        """
        batch, channels, height, width = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)
        num_tokens = tokens.shape[1]
        q, k, v = self.qkv(tokens).view(batch, num_tokens, 3, self.num_heads,
                                        -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        out = self.proj(out.transpose(1, 2).reshape(batch, num_tokens, -1))
        if self.residual:
            out = out + tokens
        feat_map = out[:, 1:].transpose(1, 2).reshape(batch, channels, height,
                                                      width)
        return feat_map, out[:, 0]


def _merge_order_to_unfold(weight: Tensor, channel_dim: int) -> Tensor:
    """Reorder the 4C inputs of an official-Swin patch merging to mmseg's.

    The official code concatenates the 2x2 neighbours in the order
    (0,0), (1,0), (0,1), (1,1) as blocks of C channels; mmseg's ``nn.Unfold``
    interleaves them per channel in the order (0,0), (0,1), (1,0), (1,1).
    """
    weight = weight.movedim(channel_dim, -1)
    blocks = weight.unflatten(-1, (4, -1))[..., [0, 2, 1, 3], :]
    return blocks.transpose(-1, -2).flatten(-2).movedim(-1, channel_dim)


def convert_official_swin(state_dict: Dict[str, Tensor]) -> 'OrderedDict':
    """Rename the keys of an official (Microsoft) Swin checkpoint for mmseg.

    The classification head is dropped; the final ``norm`` becomes ``norm3``,
    the LayerNorm on the same stage-4 output.

    Args:
        state_dict (dict[str, Tensor]): keys such as
            ``layers.0.blocks.0.attn.qkv.weight``.

    Returns:
        OrderedDict: keys such as ``stages.0.blocks.0.attn.w_msa.qkv.weight``.
    """
    renames = (('attn.', 'attn.w_msa.'), ('mlp.fc1.', 'ffn.layers.0.0.'),
               ('mlp.fc2.', 'ffn.layers.1.'), ('patch_embed.proj.',
                                               'patch_embed.projection.'))
    converted = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('head.'):
            continue
        new_key = key
        for old, new in renames:
            new_key = new_key.replace(old, new)
        if new_key.startswith('layers.'):
            new_key = 'stages.' + new_key[len('layers.'):]
        elif new_key.startswith('norm.'):
            new_key = 'norm3.' + new_key[len('norm.'):]
        if '.downsample.reduction.weight' in key:
            value = _merge_order_to_unfold(value, channel_dim=1)
        elif '.downsample.norm.' in key:
            value = _merge_order_to_unfold(value, channel_dim=0)
        converted[new_key] = value
    return converted


@MODELS.register_module()
class SwinAttnPool(SwinTransformer):
    """EAVL's image encoder: mmseg's Swin Transformer + attention pooling.

    Defaults are Swin-B with window 12, the ImageNet-22k 384x384 model that
    LAVT and EAVL start from. Stages 2, 3 and 4 are returned (strides 8, 16,
    32; 256, 512, 1024 channels for Swin-B).

    Weights: ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` with a
    local file, either the official release
    (``swin_base_patch4_window12_384_22k.pth``, keys ``layers.*`` under
    ``model``, converted on load) or an mmseg/mmpretrain-style Swin state dict
    (keys ``stages.*``, optionally prefixed ``backbone.``). Relative-position
    tables of another window size are resized bicubically. The attention
    pool and the output norms the checkpoint lacks start random.

    Args:
        with_global (bool): Add the attention pool: the last output element is
            then the global feature (B, C5) and the stride-32 map is the
            pool's output. False returns the plain Swin maps. Defaults to True.
        pool_num_heads (int, optional): Heads of the attention pool. Defaults
            to None: the heads of Swin's last stage.
        pool_residual (bool): The pool's residual connection (see
            :class:`GlobalTokenAttentionPool`). Defaults to True.
        pretrain_img_size, embed_dims, depths, num_heads, window_size,
        out_indices, drop_path_rate, **kwargs: passed to mmseg's
            ``SwinTransformer``. Defaults to Swin-B, 384, window 12,
            out_indices (1, 2, 3), drop_path_rate 0.3.
        init_cfg (dict, optional): ``Pretrained`` with a local ``checkpoint``
            or None (random). Defaults to None.
    """

    def __init__(self,
                 with_global: bool = True,
                 pool_num_heads: Optional[int] = None,
                 pool_residual: bool = True,
                 pretrain_img_size: int = 384,
                 embed_dims: int = 128,
                 depths: Sequence[int] = (2, 2, 18, 2),
                 num_heads: Sequence[int] = (4, 8, 16, 32),
                 window_size: int = 12,
                 out_indices: Sequence[int] = (1, 2, 3),
                 drop_path_rate: float = 0.3,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if init_cfg is not None and init_cfg.get('type') != 'Pretrained':
            raise ValueError('SwinAttnPool supports init_cfg=None or '
                             "dict(type='Pretrained', checkpoint=PATH), got "
                             f'{init_cfg}')
        super().__init__(
            pretrain_img_size=pretrain_img_size,
            embed_dims=embed_dims,
            depths=depths,
            num_heads=num_heads,
            window_size=window_size,
            out_indices=out_indices,
            drop_path_rate=drop_path_rate,
            init_cfg=init_cfg,
            **kwargs)
        self.with_global = with_global
        if with_global:
            last_dims = self.num_features[out_indices[-1]]
            self.attn_pool = GlobalTokenAttentionPool(
                last_dims, pool_num_heads or num_heads[-1], pool_residual)

    def train(self, mode: bool = True) -> 'SwinAttnPool':
        """As mmseg's (frozen stages stay frozen), but returns ``self`` as
        ``nn.Module.train`` does, so ``model.eval()`` chains."""
        super().train(mode)
        return self

    def init_weights(self) -> None:
        """Random Swin init, or load a local checkpoint (see class doc)."""
        if self.init_cfg is None:
            super().init_weights()  # also covers the pool's Linear layers
            return
        if self.with_global:
            for layer in (self.attn_pool.qkv, self.attn_pool.proj):
                trunc_normal_init(layer, std=.02, bias=0.)
        path = self.init_cfg['checkpoint']
        checkpoint = CheckpointLoader.load_checkpoint(
            path, map_location='cpu', logger='current')
        state_dict = checkpoint.get('state_dict',
                                    checkpoint.get('model', checkpoint))
        state_dict = {
            k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state_dict.items()
        }
        state_dict = {
            k[len('backbone.'):] if k.startswith('backbone.') else k: v
            for k, v in state_dict.items()
        }
        if any(k.startswith('layers.') for k in state_dict):
            state_dict = convert_official_swin(state_dict)
        self._load_swin_weights(state_dict, path)

    def _load_swin_weights(self, state_dict: Dict[str, Tensor],
                           path: str) -> None:
        own = self.state_dict()
        # buffers the model computes itself (and sizes to its window)
        state_dict = {
            k: v
            for k, v in state_dict.items()
            if not k.endswith(('relative_position_index', 'attn_mask'))
        }
        for key, value in state_dict.items():
            if 'relative_position_bias_table' in key and key in own and \
                    value.shape != own[key].shape:
                state_dict[key] = _resize_bias_table(value, own[key].shape)
        incompatible = self.load_state_dict(state_dict, strict=False)
        # the output norms norm1/norm2 and the pool are new; a missing Swin
        # block means the file is not a Swin of this size
        missing = [
            k for k in incompatible.missing_keys
            if k.startswith(('stages.', 'patch_embed.'))
            and not k.endswith('relative_position_index')
        ]
        if missing:
            raise KeyError(f'{path} lacks {len(missing)} Swin weights of this '
                           f'model, e.g. {missing[:3]}: is it a Swin of the '
                           'configured size?')
        new, ignored = incompatible.missing_keys, incompatible.unexpected_keys
        print_log(
            f'SwinAttnPool loaded {path}; {len(new)} new (random) tensors '
            f'{new[:6]}, {len(ignored)} ignored {ignored[:6]}',
            logger='current')

    def forward(self, x: Tensor) -> tuple:
        """Encode images.

        Args:
            x (Tensor): (B, 3, H, W).

        Returns:
            tuple[Tensor]: the maps of ``out_indices`` (Swin-B defaults:
            (B, 256, H/8, W/8), (B, 512, H/16, W/16), (B, 1024, H/32, W/32)),
            then, if ``with_global``, the global feature (B, 1024).
        """
        outs = list(super().forward(x))
        if not self.with_global:
            return tuple(outs)
        outs[-1], global_feat = self.attn_pool(outs[-1])
        return (*outs, global_feat)


def _resize_bias_table(table: Tensor, shape: torch.Size) -> Tensor:
    """Resize a (S1*S1, heads) relative-position table to ``shape``."""
    src, heads = round(table.shape[0]**0.5), table.shape[1]
    dst = round(shape[0]**0.5)
    grid = table.T.reshape(1, heads, src, src)
    grid = F.interpolate(grid, size=(dst, dst), mode='bicubic')
    return grid.reshape(heads, dst * dst).T.contiguous()
