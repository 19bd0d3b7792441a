from .avg_pool import AvgPool2x2, avg_pool2x2, is_plain_avg_pool
from .coord_conv import CoordConvModule, coordinate_map
from .dynamic_conv import DynamicConv2d, dynamic_conv2d
from .mask_feature_upsampler import MaskFeatureUpsampler
from .multi_query_generator import MultiQueryGenerator
from .packed_conv import PackedConv2d
from .packed_linear import PackedLinear, PackedSelfAttention
from .positional_encoding import (sinusoidal_position_1d,
                                  sinusoidal_position_2d)
from .text_pixel_projector import REFERENCE_PROJ_RENAMES, TextPixelProjector
from .upsample_conv import BilinearUpsampleConv3x3
from .upsampled_concat_conv import UpsampledConcatConv1x1
from .vl_transformer_decoder import (VLMultiheadAttention,
                                     VLTransformerDecoder,
                                     VLTransformerDecoderLayer)
from .winograd_conv import WinogradConv2d

__all__ = [
    'AvgPool2x2', 'avg_pool2x2', 'is_plain_avg_pool', 'CoordConvModule',
    'coordinate_map', 'DynamicConv2d', 'dynamic_conv2d',
    'MaskFeatureUpsampler', 'PackedConv2d', 'PackedLinear',
    'PackedSelfAttention',
    'sinusoidal_position_1d',
    'sinusoidal_position_2d', 'TextPixelProjector', 'REFERENCE_PROJ_RENAMES',
    'VLMultiheadAttention', 'VLTransformerDecoder',
    'VLTransformerDecoderLayer', 'MultiQueryGenerator',
    'BilinearUpsampleConv3x3', 'UpsampledConcatConv1x1', 'WinogradConv2d'
]
