from .text_pixel_contrastive_loss import TextPixelContrastiveLoss
from .two_class_cross_entropy_loss import TwoClassCrossEntropyLoss

__all__ = ['TextPixelContrastiveLoss', 'TwoClassCrossEntropyLoss']
