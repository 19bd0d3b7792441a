from .base_refer_head import BaseReferHead
from .vision_language_aligner_head import VisionLanguageAlignerHead
from .vl_decoder_head import VLDecoderHead

__all__ = [
    'BaseReferHead', 'VisionLanguageAlignerHead', 'VLDecoderHead'
]
