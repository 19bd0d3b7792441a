from .base_refer_head import EMPTY_MASK_LOGIT, BaseReferHead
from .lavt_simple_decoding_head import LAVTSimpleDecodingHead
from .vision_language_aligner_head import VisionLanguageAlignerHead
from .vl_decoder_head import VLDecoderHead

__all__ = [
    'BaseReferHead', 'EMPTY_MASK_LOGIT', 'LAVTSimpleDecodingHead',
    'VisionLanguageAlignerHead', 'VLDecoderHead'
]
