from .inference import (ReferInferencePipeline, ReferPrediction,
                        check_sentences, inference_model, init_model)
from .optimize import (ALGEBRAIC_FOLDS, DEFAULT_INFERENCE_CFG,
                       NO_INFERENCE_TRANSFORMS, cpu_has_avx512,
                       fold_upsample_convs, inference_autocast,
                       merge_inference_cfg, optimize_for_inference,
                       use_fast_avg_pools, use_packed_convs,
                       use_packed_linears, use_winograd_convs)
from .refer_inferencer import ReferInferencer

__all__ = [
    'init_model', 'inference_model', 'check_sentences', 'ReferPrediction',
    'ReferInferencePipeline', 'ReferInferencer', 'DEFAULT_INFERENCE_CFG',
    'NO_INFERENCE_TRANSFORMS', 'ALGEBRAIC_FOLDS', 'merge_inference_cfg',
    'optimize_for_inference', 'inference_autocast', 'use_fast_avg_pools',
    'fold_upsample_convs', 'use_winograd_convs', 'use_packed_linears',
    'use_packed_convs', 'cpu_has_avx512'
]
