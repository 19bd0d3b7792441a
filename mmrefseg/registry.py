"""mmrefseg's registries, children of MMSegmentation's.

Modules registered here live in the ``mmrefseg`` scope: a config with
``default_scope='mmrefseg'`` finds them first and falls back to mmseg, mmengine
(and, through mmseg, mmcv) for everything else. Using children rather than
mmseg's own registries avoids name clashes such as mmseg's SAN
``CLIPTextEncoder``.
"""
from mmengine.registry import Registry
from mmseg.registry import DATA_SAMPLERS as MMSEG_DATA_SAMPLERS
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import EVALUATOR as MMSEG_EVALUATOR
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import INFERENCERS as MMSEG_INFERENCERS
from mmseg.registry import LOOPS as MMSEG_LOOPS
from mmseg.registry import METRICS as MMSEG_METRICS
from mmseg.registry import MODEL_WRAPPERS as MMSEG_MODEL_WRAPPERS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS as \
    MMSEG_OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.registry import OPTIM_WRAPPERS as MMSEG_OPTIM_WRAPPERS
from mmseg.registry import OPTIMIZERS as MMSEG_OPTIMIZERS
from mmseg.registry import PARAM_SCHEDULERS as MMSEG_PARAM_SCHEDULERS
from mmseg.registry import RUNNERS as MMSEG_RUNNERS
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS
from mmseg.registry import VISBACKENDS as MMSEG_VISBACKENDS
from mmseg.registry import VISUALIZERS as MMSEG_VISUALIZERS
from mmseg.registry import WEIGHT_INITIALIZERS as MMSEG_WEIGHT_INITIALIZERS

__all__ = [
    'RUNNERS', 'LOOPS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS',
    'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS',
    'METRICS', 'EVALUATOR', 'VISUALIZERS', 'VISBACKENDS', 'INFERENCERS'
]


def _child(name, parent, location):
    return Registry(
        name, parent=parent, scope='mmrefseg', locations=[location])


RUNNERS = _child('runner', MMSEG_RUNNERS, 'mmrefseg.engine')
LOOPS = _child('loop', MMSEG_LOOPS, 'mmrefseg.engine')
HOOKS = _child('hook', MMSEG_HOOKS, 'mmrefseg.engine')
DATASETS = _child('dataset', MMSEG_DATASETS, 'mmrefseg.datasets')
DATA_SAMPLERS = _child('data sampler', MMSEG_DATA_SAMPLERS,
                       'mmrefseg.datasets')
TRANSFORMS = _child('transform', MMSEG_TRANSFORMS, 'mmrefseg.datasets')
MODELS = _child('model', MMSEG_MODELS, 'mmrefseg.models')
MODEL_WRAPPERS = _child('model_wrapper', MMSEG_MODEL_WRAPPERS,
                        'mmrefseg.models')
WEIGHT_INITIALIZERS = _child('weight initializer', MMSEG_WEIGHT_INITIALIZERS,
                             'mmrefseg.models')
OPTIMIZERS = _child('optimizer', MMSEG_OPTIMIZERS, 'mmrefseg.engine')
OPTIM_WRAPPERS = _child('optim_wrapper', MMSEG_OPTIM_WRAPPERS,
                        'mmrefseg.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMSEG_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'mmrefseg.engine')
PARAM_SCHEDULERS = _child('parameter scheduler', MMSEG_PARAM_SCHEDULERS,
                          'mmrefseg.engine')
METRICS = _child('metric', MMSEG_METRICS, 'mmrefseg.evaluation')
EVALUATOR = _child('evaluator', MMSEG_EVALUATOR, 'mmrefseg.evaluation')
VISUALIZERS = _child('visualizer', MMSEG_VISUALIZERS, 'mmrefseg.visualization')
VISBACKENDS = _child('vis_backend', MMSEG_VISBACKENDS,
                     'mmrefseg.visualization')
INFERENCERS = _child('inferencer', MMSEG_INFERENCERS, 'mmrefseg.apis')
