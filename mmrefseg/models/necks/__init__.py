from .fusion_neck import REFERENCE_NECK_RENAMES, FusionNeck

__all__ = ['FusionNeck', 'REFERENCE_NECK_RENAMES']
