from .clip_resnet import CLIPResNet
from .swin_attn_pool import SwinAttnPool

__all__ = ['CLIPResNet', 'SwinAttnPool']
