"""CLIP's modified ResNet as a dense image encoder (CRIS, EAVL-R101)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from open_clip.modified_resnet import ModifiedResNet
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmrefseg.registry import MODELS
from ..utils import load_clip_state_dict, load_encoder_weights, select_prefix

__all__ = ['CLIPResNet']


@MODELS.register_module()
class CLIPResNet(BaseModule):
    """CLIP ResNet returning C3, C4 and a dense, attention-pooled C5.

    The trunk is open_clip's ``ModifiedResNet`` (kept whole as ``visual``, so
    its keys are CLIP's ``visual.*`` keys). CLIP's attention pool is re-used
    densely, as the CRIS reference does: no mean token; the 7x7 positional
    embedding (its class position dropped) is resized bicubically
    (``align_corners=False``) to the layer4 size and added to every token;
    multi-head self-attention over all tokens with CLIP's ``q/k/v_proj``,
    then ``c_proj``. A branch CLIP does not have, ``connect`` = conv1x1
    (no bias) + BN on the layer4 map, is added to that, and a ReLU closes:
    ``C5 = relu(c_proj(attn(layer4 + pos)) + connect(layer4))``.

    With ``with_global=True`` (EAVL with the CLIP backbone), the global
    vision feature is CLIP's own pooled token: the spatial mean of layer4
    plus the class position of the positional embedding is prepended to the
    tokens, takes part in the attention (so C5 differs slightly from CRIS's)
    and its ``c_proj`` output, without ReLU, is returned as the last element
    of the output tuple, ``(B, output_dim)``.

    Every part trains by default with BN in training mode, as the CRIS
    reference does (its CLIP runs in fp32 at 0.1x the learning rate, a
    matter of the optimizer config).

    Args:
        layers (Sequence[int]): blocks per stage. Defaults to (3, 4, 6, 3)
            (RN50; RN101: (3, 4, 23, 3)).
        width (int): stem width; layer4 has ``32 * width`` channels.
            Defaults to 64.
        output_dim (int): channels of C5 and of the global feature.
            Defaults to 1024 (RN50; RN101: 512).
        heads (int): attention heads of the pool. Defaults to 32.
        image_size (int): the resolution CLIP was pre-trained at, which
            fixes the positional embedding grid (``image_size // 32``). Inputs
            may have any size. Defaults to 224.
        with_global (bool): also return the global feature. Defaults to
            False.
        frozen_stages (int): stages to freeze (parameters and BN
            statistics): 0 is the stem, 1-4 the stem and layer1 up to that
            layer; -1 freezes nothing. Defaults to -1.
        norm_eval (bool): keep every BN in eval mode while training.
            Defaults to False.
        norm_cfg (dict): norm layer of ``connect``. Defaults to
            ``dict(type='BN', requires_grad=True)``.
        pretrained (str, optional): local path of CLIP weights (OpenAI
            TorchScript archive or open_clip checkpoint), read by
            :meth:`init_weights`. Defaults to None.
        init_cfg (dict | list[dict], optional): mmengine initialisation
            config. Defaults to None.
    """

    def __init__(self,
                 layers: Sequence[int] = (3, 4, 6, 3),
                 width: int = 64,
                 output_dim: int = 1024,
                 heads: int = 32,
                 image_size: int = 224,
                 with_global: bool = False,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 pretrained: Optional[str] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not -1 <= frozen_stages <= 4:
            raise ValueError(
                f'frozen_stages must be in [-1, 4], got {frozen_stages}')
        self.visual = ModifiedResNet(
            layers=list(layers),
            output_dim=output_dim,
            heads=heads,
            image_size=image_size,
            width=width)
        self.connect = ConvModule(
            width * 32,
            output_dim,
            kernel_size=1,
            bias=False,
            norm_cfg=norm_cfg,
            act_cfg=None)
        self.num_heads = heads
        self.with_global = with_global
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.pretrained = pretrained
        # (key, resized positional embedding): see _positional_embedding.
        self._pos_cache = None
        self._freeze_stages()

    def init_weights(self):
        """Initialise, then load CLIP's ``visual.*`` weights if given."""
        super().init_weights()
        if self.pretrained is None:
            return
        state_dict = select_prefix(
            load_clip_state_dict(self.pretrained), 'visual.')
        if not state_dict:
            raise KeyError(f'{self.pretrained!r} has no "visual.*" keys: it '
                           'is not a CLIP checkpoint with an image tower')
        load_encoder_weights(
            self.visual,
            state_dict,
            source=self.pretrained,
            new_modules=['connect'],
            name='CLIPResNet.visual')

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Encode images.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.

        Returns:
            tuple[Tensor]: C3 (B, 8 * width, H/8, W/8), C4 (B, 16 * width,
            H/16, W/16), C5 (B, output_dim, H/32, W/32) and, with
            ``with_global``, the global feature (B, output_dim).
        """
        x = self.visual.stem(inputs)
        x = self.visual.layer1(x)
        c3 = self.visual.layer2(x)
        c4 = self.visual.layer3(c3)
        c5, global_feat = self._dense_attention_pool(self.visual.layer4(c4))
        if self.with_global:
            return c3, c4, c5, global_feat
        return c3, c4, c5

    def _dense_attention_pool(
            self, x: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """(B, C, h, w) -> C5 (B, D, h, w) and the global (B, D) or None."""
        pool = self.visual.attnpool
        batch, channels, height, width = x.shape
        residual = self.connect(x)

        class_pos, grid_pos = self._positional_embedding(height, width)
        tokens = x.flatten(2).transpose(1, 2) + grid_pos.to(x.dtype)
        if self.with_global:
            mean_token = x.mean(dim=(2, 3)).unsqueeze(1) + class_pos.to(
                x.dtype)
            tokens = torch.cat([mean_token, tokens], dim=1)

        def split_heads(t: Tensor) -> Tensor:
            return t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

        attended = F.scaled_dot_product_attention(
            split_heads(pool.q_proj(tokens)), split_heads(pool.k_proj(tokens)),
            split_heads(pool.v_proj(tokens)))
        pooled = pool.c_proj(attended.transpose(1, 2).flatten(2))

        global_feat = pooled[:, 0] if self.with_global else None
        dense = pooled[:, -height * width:].transpose(1, 2).reshape(
            batch, -1, height, width)
        # Contiguous, as the reference's C5: the layout picks the neck's
        # convolution algorithm, hence its rounding.
        return F.relu(dense + residual).contiguous(), global_feat

    def _positional_embedding(self, height: int,
                              width: int) -> Tuple[Tensor, Tensor]:
        """CLIP's class position (C, ) and its grid resized to (h*w, C).

        Without autograd the resized grid is cached per size: inference at a
        fixed input size would otherwise repeat the bicubic resize on every
        call. The key holds the embedding's storage and version counter, so
        loading or moving weights invalidates it.
        """
        pos_embed = self.visual.attnpool.positional_embedding
        if torch.is_grad_enabled() or torch.compiler.is_compiling(
        ) or torch.jit.is_tracing():
            # A graph computes the resize itself (and a trace must not keep
            # a tensor of an earlier one).
            return self._resize_positional_embedding(pos_embed, height, width)
        key = (height, width, pos_embed.data_ptr(), pos_embed._version,
               pos_embed.device, pos_embed.dtype)
        if self._pos_cache is None or self._pos_cache[0] != key:
            self._pos_cache = (key,
                               self._resize_positional_embedding(
                                   pos_embed, height, width))
        return self._pos_cache[1]

    @staticmethod
    def _resize_positional_embedding(pos_embed: Tensor, height: int,
                                     width: int) -> Tuple[Tensor, Tensor]:
        grid = round((int(pos_embed.shape[0]) - 1)**0.5)
        class_pos, grid_pos = pos_embed[0], pos_embed[1:]
        if (height, width) != (grid, grid):
            grid_pos = grid_pos.reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
            grid_pos = F.interpolate(
                grid_pos,
                size=(height, width),
                mode='bicubic',
                align_corners=False)
            grid_pos = grid_pos.flatten(2)[0].transpose(0, 1)
        return class_pos, grid_pos

    def _frozen_modules(self):
        visual = self.visual
        stem = [visual.conv1, visual.bn1, visual.conv2, visual.bn2,
                visual.conv3, visual.bn3]
        stages = [visual.layer1, visual.layer2, visual.layer3, visual.layer4]
        if self.frozen_stages < 0:
            return []
        return stem + stages[:self.frozen_stages]

    def _freeze_stages(self):
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        """Set train mode, keeping frozen stages (and BN if asked) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
