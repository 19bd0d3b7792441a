from .coord_conv import CoordConvModule, coordinate_map
from .dynamic_conv import DynamicConv2d, dynamic_conv2d
from .language_gate import LanguageGate
from .mask_feature_upsampler import MaskFeatureUpsampler
from .multi_query_generator import MultiQueryGenerator
from .no_target_classifier import NoTargetClassifier
from .pixel_word_attention import PixelWordAttention
from .positional_encoding import (sinusoidal_position_1d,
                                  sinusoidal_position_2d)
from .single_sample_batch_norm import SingleSampleBatchNorm1d
from .text_pixel_projector import TextPixelProjector
from .vl_transformer_decoder import (VLMultiheadAttention,
                                     VLTransformerDecoder,
                                     VLTransformerDecoderLayer)

__all__ = [
    'CoordConvModule', 'coordinate_map', 'DynamicConv2d', 'dynamic_conv2d',
    'LanguageGate', 'MaskFeatureUpsampler', 'MultiQueryGenerator',
    'NoTargetClassifier',
    'PixelWordAttention', 'sinusoidal_position_1d',
    'sinusoidal_position_2d', 'SingleSampleBatchNorm1d', 'TextPixelProjector',
    'VLMultiheadAttention', 'VLTransformerDecoder',
    'VLTransformerDecoderLayer'
]
