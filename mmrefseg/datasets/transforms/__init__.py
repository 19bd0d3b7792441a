from .formatting import PackReferInputs
from .letterbox import CLIP_MEAN_BGR, LetterboxResize, ReferResize
from .loading import LoadReferImage, LoadReferMask, decode_segmentation
from .sample_sentence import SampleSentence

__all__ = [
    'CLIP_MEAN_BGR', 'LetterboxResize', 'LoadReferImage', 'LoadReferMask',
    'PackReferInputs', 'ReferResize', 'SampleSentence', 'decode_segmentation'
]
