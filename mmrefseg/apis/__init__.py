from .inference import (BACKENDS, PRECISIONS, ReferInferencePipeline,
                        ReferPrediction, check_sentences, inference_model,
                        init_model)
from .optimize import (DEFAULT_INFERENCE_CFG, NO_INFERENCE_TRANSFORMS,
                       inference_autocast, merge_inference_cfg,
                       optimize_for_inference)
from .refer_inferencer import ReferInferencer

__all__ = [
    'BACKENDS', 'PRECISIONS', 'init_model', 'inference_model',
    'check_sentences', 'ReferPrediction',
    'ReferInferencePipeline', 'ReferInferencer', 'DEFAULT_INFERENCE_CFG',
    'NO_INFERENCE_TRANSFORMS', 'merge_inference_cfg',
    'optimize_for_inference', 'inference_autocast'
]
