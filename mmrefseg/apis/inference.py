"""Build a referring segmentor and segment one image for given sentences."""
import copy
import inspect
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmseg.structures import SegDataSample
from torch import nn

from mmrefseg.registry import MODELS, TRANSFORMS
from .optimize import (inference_autocast, merge_inference_cfg,
                       optimize_for_inference)

__all__ = [
    'ReferPrediction', 'ReferInferencePipeline', 'init_model',
    'inference_model', 'check_sentences', 'BACKENDS', 'PRECISIONS'
]

ImageType = Union[str, Path, np.ndarray]

#: Where :func:`init_model` runs a model.
BACKENDS = ('pytorch', 'onnxruntime', 'openvino')
#: Numeric precisions of :func:`init_model`.
PRECISIONS = ('fp32', 'bf16')

#: Transforms of a test pipeline that read annotations: an inference input
#: has none.
ANNOTATION_LOADERS = ('LoadReferMask', 'LoadAnnotations', 'SampleSentence')
#: Transforms that load the image from ``img_path``.
IMAGE_LOADERS = ('LoadReferImage', 'LoadImageFromFile')


@dataclass
class ReferPrediction:
    """The result for one sentence.

    Attributes:
        text (str): The sentence.
        mask (np.ndarray): (H, W) bool at the image's size, True on the
            referred object (``prob > test_cfg.threshold``).
        prob (np.ndarray): (H, W) float32 foreground probability.
        score (float): The mean probability inside ``mask``: how sure the
            model is of the pixels it selected; 0.0 for an empty mask.
        data_sample (SegDataSample): The model's output, with ``pred_sem_seg``
            and ``seg_logits`` (1, H, W) and the metainfo (``text``,
            ``ori_shape``, ...), as ``ReferLocalVisualizer`` takes it.
        query_probs (np.ndarray, optional): (Nq, H, W) float32 foreground
            probability of each query's mask (EAVL's aligner, asked for with
            ``inference_model(..., with_query_masks=True)``); None otherwise.
        query_scores (np.ndarray, optional): (Nq, ) float32 the estimator's
            score of each query (they sum to one); None otherwise.
        no_target (bool, optional): The model's decision that the sentence
            refers to nothing in the image (GRES; ``mask`` is then empty),
            from a head with a no-target branch; None for other models.
    """
    text: str
    mask: np.ndarray
    prob: np.ndarray
    score: float
    data_sample: SegDataSample
    query_probs: Optional[np.ndarray] = None
    query_scores: Optional[np.ndarray] = None
    no_target: Optional[bool] = None


def _image_loader_cfg(pipeline_cfg: List[dict]) -> Tuple[Optional[dict],
                                                         List[dict]]:
    """Splits a test pipeline into its image loader and what follows."""
    loader, rest = None, []
    for transform in pipeline_cfg:
        if transform['type'] in ANNOTATION_LOADERS:
            continue
        if loader is None and not rest and \
                transform['type'] in IMAGE_LOADERS:
            loader = transform
            continue
        rest.append(transform)
    return loader, rest


class ReferInferencePipeline:
    """The test pipeline of a config, for an image without annotations.

    ``cfg.test_dataloader.dataset.pipeline`` minus the annotation loaders
    (``LoadReferMask``, ``LoadAnnotations``, ``SampleSentence``); its first
    transform, if an image loader, reads paths (its arguments kept, errors
    naming the file), while arrays are taken as they are.

    Calling it on one image gives the packed network input and one data
    sample, to be copied per sentence.

    Args:
        cfg (Config): A full config with ``test_dataloader``.
    """

    def __init__(self, cfg: Config):
        try:
            pipeline_cfg = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
        except AttributeError as error:
            raise KeyError('The config has no test_dataloader.dataset.'
                           'pipeline to take the inference pipeline from'
                           ) from error
        loader_cfg, rest = _image_loader_cfg(pipeline_cfg)
        if loader_cfg is None:
            loader_cfg = dict(type='LoadReferImage')
        # Errors of LoadReferImage name the file; keep the config's options.
        loader_cfg = dict(loader_cfg, type='LoadReferImage')
        self.loader = TRANSFORMS.build(loader_cfg)
        self.transforms = Compose(rest)

    def load(self, image: ImageType) -> dict:
        """The results dict of a loaded image (path or BGR array)."""
        if isinstance(image, np.ndarray):
            if image.ndim not in (2, 3) or image.dtype != np.uint8:
                raise ValueError('An image array must be (H, W, 3) or (H, W) '
                                 f'uint8 (BGR), got {image.dtype} '
                                 f'{image.shape}')
            if image.ndim == 2:
                image = np.repeat(image[..., None], 3, axis=2)
            shape = image.shape[:2]
            return dict(
                img=image, img_path=None, img_shape=shape, ori_shape=shape)
        if isinstance(image, (str, Path)):
            return self.loader(dict(img_path=str(image)))
        raise TypeError('image must be a path or a BGR uint8 array, got '
                        f'{type(image).__name__}')

    def __call__(self, image: ImageType,
                 text: str = '') -> Tuple[torch.Tensor, SegDataSample]:
        """Loads and transforms one image.

        Args:
            image (str | Path | np.ndarray): Path, or (H, W, 3) BGR uint8.
            text (str): The sentence put in the metainfo. Defaults to ''.

        Returns:
            tuple: ``inputs`` (3, h, w) and its ``SegDataSample``.
        """
        results = self.load(image)
        results['text'] = text
        packed = self.transforms(results)
        return packed['inputs'], packed['data_samples']


def init_model(config: Union[str, Path, Config, ConfigDict],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None,
               inference_cfg: Optional[dict] = None,
               backend: str = 'pytorch',
               precision: str = 'fp32',
               num_threads: Optional[int] = None) -> nn.Module:
    """Builds a referring segmentor for inference.

    Nothing is downloaded: pre-trained encoder paths in the config are not
    read (the checkpoint holds every weight). Checkpoints of mmengine's
    Runner load under torch's ``weights_only`` default (importing
    ``mmrefseg.engine`` registers what they need).

    With ``backend='pytorch'`` the model gets ``model.cfg`` and
    ``model.inference_cfg``: the config's top-level ``inference_cfg``
    updated by ``inference_cfg`` (see
    :data:`mmrefseg.apis.optimize.DEFAULT_INFERENCE_CFG`: BN folding and
    fused attention on, compile and autocast off), whose options are
    applied. With ``backend='onnxruntime'`` or ``'openvino'``,
    ``checkpoint`` is a file exported by ``tools/deployment/pytorch2onnx.py``
    and the model is a :class:`mmrefseg.deploy.DeployedReferSegmentor`:
    the same tokenizer, pre- and post-processing around the runtime.

    Args:
        config (str | Path | Config): Config file or object.
        checkpoint (str, optional): Checkpoint (PyTorch) or exported model
            file (other backends); None keeps random weights (PyTorch
            only). Defaults to None.
        device (str): Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config.
            Defaults to None.
        inference_cfg (dict, optional): Overrides of the inference config
            (PyTorch only). Defaults to None.
        backend (str): 'pytorch', 'onnxruntime' or 'openvino'. Defaults to
            'pytorch'.
        precision (str): 'fp32' or 'bf16' (PyTorch: autocast; OpenVINO:
            its inference precision hint). Defaults to 'fp32'.
        num_threads (int, optional): Intra-op threads of the ONNX Runtime /
            OpenVINO backends (PyTorch's are process-wide:
            ``torch.set_num_threads``). Defaults to None (the runtime's
            choice).

    Returns:
        nn.Module: The model in eval mode on ``device``.
    """
    if backend not in BACKENDS:
        raise ValueError(f'Unknown backend {backend!r}; choose from '
                         f'{list(BACKENDS)}')
    if precision not in PRECISIONS:
        raise ValueError(f'Unknown precision {precision!r}; choose from '
                         f'{list(PRECISIONS)}')
    if backend != 'pytorch':
        if checkpoint is None:
            raise ValueError(f'backend={backend!r} needs the exported model '
                             'file as checkpoint')
        from mmrefseg.deploy import build_deployed_model
        return build_deployed_model(
            config,
            checkpoint,
            backend=backend,
            precision=precision,
            device=device,
            num_threads=num_threads,
            cfg_options=cfg_options)
    if precision == 'bf16':
        inference_cfg = dict(inference_cfg or {}, autocast='bf16')
    from mmrefseg.utils import load_config, register_all_modules
    register_all_modules(init_default_scope=False)
    config = load_config(config, cfg_options)
    config.model.train_cfg = None
    init_default_scope(config.get('default_scope', 'mmrefseg'))

    model = MODELS.build(config.model)
    if checkpoint is not None:
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        if 'dataset_meta' in meta:
            model.dataset_meta = meta['dataset_meta']
    else:
        warnings.warn('No checkpoint: the model keeps random weights')
    if torch.device(device).type == 'cpu':
        model = revert_sync_batchnorm(model)
    model.cfg = config
    model.to(device)
    model.eval()
    model.inference_cfg = merge_inference_cfg(
        config.get('inference_cfg'), inference_cfg)
    optimize_for_inference(model, **model.inference_cfg)
    return model


def _inference_pipeline(model: nn.Module) -> ReferInferencePipeline:
    """The model's inference pipeline, built once and kept on the model."""
    pipeline = getattr(model, '_refer_inference_pipeline', None)
    if pipeline is None:
        if getattr(model, 'cfg', None) is None:
            raise AttributeError('The model has no .cfg: build it with '
                                 'mmrefseg.apis.init_model')
        pipeline = ReferInferencePipeline(model.cfg)
        model._refer_inference_pipeline = pipeline
    return pipeline


def check_sentences(texts: Union[str, Sequence[str]],
                    text_encoder: Optional[nn.Module] = None,
                    max_tokens: Optional[int] = None) -> List[str]:
    """Validates sentences; warns about those the tokenizer will truncate.

    An empty (or blank) sentence is refused: the model was never trained
    without an expression and would segment something arbitrary.

    Args:
        texts (str | Sequence[str]): One sentence or several.
        text_encoder (nn.Module, optional): With ``count_tokens``, to find
            sentences longer than ``max_tokens``. Defaults to None.
        max_tokens (int, optional): The encoder's ``word_len``. Defaults to
            None.

    Returns:
        list[str]: The sentences.
    """
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)) or not texts:
        raise ValueError('Give one sentence (str) or a non-empty list of '
                         f'sentences, got {texts!r}')
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f'Sentence {index} is a {type(text).__name__}, '
                            f'not a str: {text!r}')
        if not text.strip():
            raise ValueError(f'Sentence {index} is empty ({text!r}): a '
                             'referring expression is needed')
    counter: Optional[Callable] = getattr(text_encoder, 'count_tokens', None)
    if counter is not None and max_tokens:
        for index, (text, count) in enumerate(zip(texts, counter(texts))):
            if count > max_tokens:
                print_log(
                    f'Sentence {index} ({text!r}) has {count} tokens, more '
                    f'than word_len={max_tokens}: the tokenizer truncates '
                    'it and the model reads only its beginning',
                    logger='current',
                    level=logging.WARNING)
    return list(texts)


def _word_len(model: nn.Module) -> Optional[int]:
    encoder = getattr(model, 'text_encoder', None)
    for name in ('context_length', 'word_len'):
        value = getattr(encoder, name, None)
        if isinstance(value, int):
            return value
    return None


def _to_prediction(sample: SegDataSample) -> ReferPrediction:
    prob = sample.seg_logits.data[0].float().cpu().numpy()
    mask = sample.pred_sem_seg.data[0].cpu().numpy().astype(bool)
    score = float(prob[mask].mean()) if mask.any() else 0.0
    query_probs = query_scores = None
    if 'query_seg_logits' in sample:
        query_probs = sample.query_seg_logits.data.float().cpu().numpy()
        query_scores = sample.query_scores.float().cpu().numpy()
    return ReferPrediction(
        text=sample.metainfo['text'],
        mask=mask,
        prob=prob,
        score=score,
        data_sample=sample,
        query_probs=query_probs,
        query_scores=query_scores,
        no_target=(bool(sample.pred_no_target)
                   if 'pred_no_target' in sample else None))


def inference_model(
    model: nn.Module,
    image: ImageType,
    text: Union[str, Sequence[str]],
    with_query_masks: bool = False
) -> Union[ReferPrediction, List[ReferPrediction]]:
    """Segments the object each sentence refers to in one image.

    The image is loaded, resized and normalised once; all sentences run as
    ONE batch (the segmentor encodes the image once and shares its features)
    under ``torch.inference_mode`` and, if ``model.inference_cfg`` asks for
    it, autocast.

    Args:
        model (nn.Module): From :func:`init_model`.
        image (str | Path | np.ndarray): Image path, or (H, W, 3) BGR uint8.
        text (str | Sequence[str]): One sentence or several. Empty ones raise
            ``ValueError``; ones longer than the encoder's ``word_len`` are
            truncated by its tokenizer, with a logged warning; any unicode is
            accepted.
        with_query_masks (bool): Also return each query's mask and score
            (``query_probs``, ``query_scores``) where the model's head makes
            them (EAVL's aligner, paper Fig. 4; the encoders run once, the
            head once more); other models and the deployed backends return
            None there. The masks are the same either way. Defaults to
            False.

    Returns:
        ReferPrediction | list[ReferPrediction]: One per sentence (a list
        when ``text`` is a list), masks at the image's size.
    """
    single = isinstance(text, str)
    texts = check_sentences(text, getattr(model, 'text_encoder', None),
                            _word_len(model))
    inputs, sample = _inference_pipeline(model)(image, texts[0])
    samples = []
    for sentence in texts:
        copied = sample.clone()
        copied.set_metainfo(dict(text=sentence))
        samples.append(copied)

    device = next(model.parameters(), torch.empty(0)).device
    inference_cfg = getattr(model, 'inference_cfg', None) or {}
    with torch.inference_mode(), inference_autocast(
            device, inference_cfg.get('autocast')):
        data = model.data_preprocessor(
            dict(inputs=[inputs], data_samples=[sample]), False)
        batch_inputs = data['inputs']
        if inference_cfg.get('channels_last'):
            batch_inputs = batch_inputs.contiguous(
                memory_format=torch.channels_last)
        # (1, 3, H, W) with B samples: the segmentor encodes the image once.
        if with_query_masks and 'with_query_masks' in inspect.signature(
                model.predict).parameters:
            results = model.predict(
                batch_inputs, samples, with_query_masks=True)
        else:
            results = model.predict(batch_inputs, samples)
    predictions = [_to_prediction(result) for result in results]
    return predictions[0] if single else predictions
