from .fusion_neck import FusionNeck

__all__ = ['FusionNeck']
