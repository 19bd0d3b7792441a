from .clip_resnet import CLIPResNet
from .lavt_swin import LAVTSwin
from .swin_attn_pool import SwinAttnPool

__all__ = ['CLIPResNet', 'LAVTSwin', 'SwinAttnPool']
