from .refer_segmentor import ReferSegmentor

__all__ = ['ReferSegmentor']
