from .text_pixel_contrastive_loss import TextPixelContrastiveLoss

__all__ = ['TextPixelContrastiveLoss']
