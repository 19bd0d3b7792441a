"""An mmengine inferencer for referring segmentation, with visualisations."""
import os.path as osp
from datetime import datetime
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import mmengine
import numpy as np
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.infer.infer import BaseInferencer
from rich.progress import track

from mmrefseg.registry import VISUALIZERS
from .inference import (ImageType, ReferPrediction, _inference_pipeline,
                        inference_model, init_model)

__all__ = ['ReferInferencer']

InputItem = Tuple[ImageType, List[str]]


class ReferInferencer(BaseInferencer):
    """Segments referred objects and draws them, mmseg-inferencer style.

    Each input is one image with one or more sentences; the sentences of an
    image run as one batch (:func:`mmrefseg.apis.inference_model`). Inputs
    can be given as

    * ``inferencer(image, texts=['the red circle', 'left square'])``;
    * ``inferencer([image_a, image_b], texts=...)``: every image, every
      sentence;
    * ``inferencer([dict(img=image_a, text='...'), (image_b, ['...'])])``.

    An image is a path or an (H, W, 3) BGR uint8 array.

    Example::

        >>> inferencer = ReferInferencer(
        ...     'configs/toy/cris_tiny_refer-toy.py', weights='epoch_12.pth')
        >>> out = inferencer('demo.jpg', texts='the red circle',
        ...                  out_dir='outputs')
        >>> out['predictions'][0]['score']

    Args:
        model (str | Config): Config file or object.
        weights (str, optional): Checkpoint. Defaults to None (random
            weights, with a warning).
        device (str, optional): Defaults to None (mmengine's choice).
        scope (str): Registry scope. Defaults to 'mmrefseg'.
        inference_cfg (dict, optional): Overrides of the inference config
            (see :func:`mmrefseg.apis.init_model`). Defaults to None.
        backend (str): 'pytorch', 'onnxruntime' or 'openvino'; the last two
            take the exported ``.onnx`` file as ``weights``. Defaults to
            'pytorch'.
        precision (str): 'fp32' or 'bf16'. Defaults to 'fp32'.
        show_progress (bool): Show a progress bar. Defaults to False.
    """

    visualize_kwargs: set = {
        'return_vis', 'show', 'wait_time', 'img_out_dir', 'names'
    }
    postprocess_kwargs: set = {'pred_out_dir'}

    def __init__(self,
                 model: Union[str, Config, ConfigDict],
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 scope: str = 'mmrefseg',
                 inference_cfg: Optional[dict] = None,
                 backend: str = 'pytorch',
                 precision: str = 'fp32',
                 show_progress: bool = False) -> None:
        from mmrefseg.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        self._inference_cfg = inference_cfg
        self._backend = backend
        self._precision = precision
        super().__init__(
            model=model,
            weights=weights,
            device=device,
            scope=scope,
            show_progress=show_progress)

    def _init_model(self, cfg: Config, weights: Optional[str],
                    device: str = 'cpu'):
        if not cfg or 'model' not in cfg:
            raise ValueError('ReferInferencer needs a config with a model')
        return init_model(
            cfg,
            weights,
            device or 'cpu',
            inference_cfg=self._inference_cfg,
            backend=self._backend,
            precision=self._precision)

    def _init_pipeline(self, cfg: Config):
        return _inference_pipeline(self.model)

    def _init_collate(self, cfg: Config):
        # Each image is batched with its own sentences in inference_model.
        return pseudo_collate

    def _init_visualizer(self, cfg: Config):
        vis_cfg = dict(cfg.get('visualizer') or dict(
            type='ReferLocalVisualizer'))
        vis_cfg['name'] = f'refer_inferencer_{datetime.now():%Y%m%d_%H%M%S_%f}'
        vis_cfg.pop('vis_backends', None)
        vis_cfg.pop('save_dir', None)
        return VISUALIZERS.build(vis_cfg)

    @staticmethod
    def _texts_list(texts: Union[str, Sequence[str]]) -> List[str]:
        return [texts] if isinstance(texts, str) else list(texts)

    def _inputs_to_list(self,
                        inputs: Any,
                        texts: Union[str, Sequence[str], None] = None
                        ) -> List[InputItem]:
        """Normalises the inputs into (image, sentences) pairs."""
        if texts is not None:
            images = inputs if isinstance(inputs, (list, tuple)) else [inputs]
            return [(image, self._texts_list(texts)) for image in images]
        if isinstance(inputs, (dict, tuple)):
            inputs = [inputs]
        if not isinstance(inputs, list):
            raise TypeError('Give texts=..., or inputs as dict(img=..., '
                            'text=...) / (img, text) items')
        items = []
        for index, item in enumerate(inputs):
            if isinstance(item, dict):
                missing = {'img', 'text'} - set(item)
                if missing:
                    raise KeyError(f'Input {index} lacks {sorted(missing)}')
                items.append((item['img'], self._texts_list(item['text'])))
            elif isinstance(item, tuple) and len(item) == 2:
                items.append((item[0], self._texts_list(item[1])))
            else:
                raise TypeError(f'Input {index} should be dict(img=..., '
                                f'text=...) or (img, text), got {item!r}')
        return items

    @staticmethod
    def _names(items: List[InputItem]) -> List[str]:
        """File stems: the image's name, or its input index for arrays."""
        names = []
        for index, (image, _) in enumerate(items):
            if isinstance(image, np.ndarray):
                names.append(f'{index:08d}')
            else:
                names.append(osp.splitext(osp.basename(str(image)))[0])
        return names

    def forward(self, item: InputItem, **kwargs) -> List[ReferPrediction]:
        """Runs one image with all its sentences as one batch."""
        image, texts = item
        return inference_model(self.model, image, texts)

    def __call__(self,
                 inputs: Any,
                 texts: Union[str, Sequence[str], None] = None,
                 return_datasamples: bool = False,
                 return_vis: bool = False,
                 show: bool = False,
                 wait_time: float = 0,
                 out_dir: str = '',
                 img_out_dir: str = 'vis',
                 pred_out_dir: str = 'pred') -> dict:
        """Segments, draws and returns the results.

        Args:
            inputs: Images, or (image, sentences) items (see the class).
            texts (str | Sequence[str], optional): Sentences for every image
                of ``inputs``. Defaults to None.
            return_datasamples (bool): Return :class:`ReferPrediction`
                objects instead of plain dicts. Defaults to False.
            return_vis (bool): Also return the drawn pictures. Defaults to
                False.
            show (bool): Show the pictures. Defaults to False.
            wait_time (float): Seconds to show each. Defaults to 0.
            out_dir (str): If set, pictures go to ``out_dir/img_out_dir`` and
                masks (0/255 PNG) to ``out_dir/pred_out_dir``, each named
                ``<image stem>_<sentence index>.png``. Defaults to ''.
            img_out_dir (str): Defaults to 'vis'.
            pred_out_dir (str): Defaults to 'pred'.

        Returns:
            dict: ``predictions``: per (image, sentence), in input order,
            ``dict(img_path, text, mask (H, W) uint8 {0, 1}, score)`` (or
            ``ReferPrediction``); ``visualization``: the RGB pictures if
            ``return_vis``, else [].
        """
        items = self._inputs_to_list(inputs, texts)
        names = self._names(items)
        img_out_dir = osp.join(out_dir, img_out_dir) if out_dir else ''
        pred_out_dir = osp.join(out_dir, pred_out_dir) if out_dir else ''
        preds = [
            self.forward(item) for item in (
                track(items, description='Inference')
                if self.show_progress else items)
        ]
        visualization = self.visualize(
            items,
            preds,
            return_vis=return_vis,
            show=show,
            wait_time=wait_time,
            img_out_dir=img_out_dir,
            names=names)
        return self.postprocess(
            preds,
            visualization,
            return_datasamples,
            pred_out_dir=pred_out_dir,
            names=names,
            items=items)

    def visualize(self,
                  inputs: List[InputItem],
                  preds: List[List[ReferPrediction]],
                  return_vis: bool = False,
                  show: bool = False,
                  wait_time: float = 0,
                  img_out_dir: str = '',
                  names: Optional[List[str]] = None) -> List[np.ndarray]:
        """Draws each sentence's mask and text on its image.

        Returns:
            list[np.ndarray]: (H, W, 3) RGB pictures if ``return_vis``.
        """
        if not (return_vis or show or img_out_dir):
            return []
        names = names or self._names(inputs)
        drawn = []
        for (image, _), image_preds, name in zip(inputs, preds, names):
            if isinstance(image, np.ndarray):
                rgb = mmcv.bgr2rgb(image if image.ndim == 3 else
                                   np.repeat(image[..., None], 3, axis=2))
            else:
                rgb = mmcv.imread(str(image), channel_order='rgb')
            for index, pred in enumerate(image_preds):
                out_file = osp.join(img_out_dir, f'{name}_{index}.png') \
                    if img_out_dir else None
                picture = self.visualizer.add_datasample(
                    f'{name}_{index}',
                    rgb,
                    pred.data_sample,
                    draw_gt=False,
                    show=show,
                    wait_time=wait_time,
                    out_file=out_file)
                if return_vis:
                    drawn.append(picture)
        return drawn

    def postprocess(self,
                    preds: List[List[ReferPrediction]],
                    visualization: List[np.ndarray],
                    return_datasample: bool = False,
                    pred_out_dir: str = '',
                    names: Optional[List[str]] = None,
                    items: Optional[List[InputItem]] = None) -> Dict:
        """Flattens the predictions and writes the masks if asked."""
        names = names or [str(i) for i in range(len(preds))]
        predictions = []
        for item_index, (image_preds, name) in enumerate(zip(preds, names)):
            image = items[item_index][0] if items else None
            img_path = None if image is None or isinstance(
                image, np.ndarray) else str(image)
            for index, pred in enumerate(image_preds):
                if pred_out_dir:
                    mmengine.mkdir_or_exist(pred_out_dir)
                    mmcv.imwrite(
                        pred.mask.astype(np.uint8) * 255,
                        osp.join(pred_out_dir, f'{name}_{index}.png'))
                predictions.append(pred if return_datasample else dict(
                    img_path=img_path,
                    text=pred.text,
                    mask=pred.mask.astype(np.uint8),
                    score=pred.score))
        return dict(predictions=predictions, visualization=visualization)
