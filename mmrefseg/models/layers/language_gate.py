"""LAVT's language gate (LWG)."""
from typing import Optional

import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_init
from torch import Tensor

from mmrefseg.registry import MODELS

__all__ = ['LanguageGate']


@MODELS.register_module()
class LanguageGate(BaseModule):
    """How much of the multi-modal features flows back into the image path.

    ``gate(f) = tanh(W_2 relu(W_1 f))`` per pixel and channel (two linear
    layers without bias); :meth:`forward` returns ``gate(f) * f``, which the
    backbone adds to its visual features (LAVT, paper eq. 5-6).

    Args:
        embed_dims (int): Channels of the features.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self, embed_dims: int,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc1 = nn.Linear(embed_dims, embed_dims, bias=False)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(embed_dims, embed_dims, bias=False)

    def init_weights(self) -> None:
        """Truncated normal, std 0.02, as the reference's Swin init."""
        for layer in (self.fc1, self.fc2):
            trunc_normal_init(layer, std=.02)

    def forward(self, x: Tensor) -> Tensor:
        """Gate features.

        Args:
            x (Tensor): (..., C) multi-modal features.

        Returns:
            Tensor: (..., C) the gated features ``gate(x) * x``.
        """
        return self.fc2(self.act(self.fc1(x))).tanh() * x
