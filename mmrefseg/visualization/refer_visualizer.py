"""A visualizer that draws one referring expression: image, masks, sentence."""
import textwrap
from typing import Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
import torch
from mmengine.visualization import Visualizer
from mmseg.structures import SegDataSample
from PIL import Image, ImageDraw, ImageFont

from mmrefseg.registry import VISUALIZERS

__all__ = ['ReferLocalVisualizer']

Color = Tuple[int, int, int]


def _to_mask(pixel_data, shape: Tuple[int, int]) -> np.ndarray:
    """A ``PixelData`` (1, h, w) as a bool (H, W) array at ``shape``."""
    mask = pixel_data.data
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask).reshape(mask.shape[-2:]) > 0
    if mask.shape != tuple(shape):
        mask = cv2.resize(
            mask.astype(np.uint8), (shape[1], shape[0]),
            interpolation=cv2.INTER_NEAREST) > 0
    return mask


@VISUALIZERS.register_module()
class ReferLocalVisualizer(Visualizer):
    """Draws a referring-segmentation result on its image.

    The prediction is a translucent fill, the ground truth an outline, and the
    sentence (word-wrapped, with the IoU when both masks are known) is printed
    in a dark band at the top. The drawing is plain numpy / OpenCV / PIL, not
    matplotlib, so that it is fast and works in every process of a
    distributed test (mmengine's ``draw_*`` methods run on rank 0 only):
    :meth:`add_datasample` with ``out_file`` writes a picture on any rank,
    while the visualization backends (``add_image``) stay rank-0 only.

    Args:
        name (str): The instance name. Defaults to ``'visualizer'``.
        image (np.ndarray, optional): An RGB image to start with. Defaults to
            None.
        vis_backends (list[dict], optional): Visualization backends. Defaults
            to None.
        save_dir (str, optional): Where the backends write. Defaults to None.
        pred_color (tuple[int]): RGB fill colour of the prediction. Defaults to
            ``(220, 20, 60)`` (red).
        gt_color (tuple[int]): RGB outline colour of the ground truth.
            Defaults to ``(0, 255, 0)`` (green).
        alpha (float): Opacity of the prediction fill. Defaults to 0.5.
        line_width (int, optional): Outline width in pixels; None scales it
            with the image. Defaults to None.
        font_size (int, optional): Caption size in pixels; None scales it with
            the image. Defaults to None.
        **kwargs: Other arguments of mmengine's ``Visualizer``.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[Sequence[dict]] = None,
                 save_dir: Optional[str] = None,
                 pred_color: Color = (220, 20, 60),
                 gt_color: Color = (0, 255, 0),
                 alpha: float = 0.5,
                 line_width: Optional[int] = None,
                 font_size: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(name, image, vis_backends, save_dir, **kwargs)
        if not 0 <= alpha <= 1:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}.')
        self.pred_color = tuple(pred_color)
        self.gt_color = tuple(gt_color)
        self.alpha = alpha
        self.line_width = line_width
        self.font_size = font_size

    def draw_refer(self,
                   image: np.ndarray,
                   text: str = '',
                   pred_mask: Optional[np.ndarray] = None,
                   gt_mask: Optional[np.ndarray] = None) -> np.ndarray:
        """Draw the masks and the sentence on a copy of ``image``.

        Args:
            image (np.ndarray): (H, W, 3) uint8 RGB.
            text (str): The referring expression. Defaults to ``''``.
            pred_mask (np.ndarray, optional): (H, W) bool prediction.
            gt_mask (np.ndarray, optional): (H, W) bool ground truth.

        Returns:
            np.ndarray: (H, W, 3) uint8 RGB.
        """
        height, width = image.shape[:2]
        scale = max(min(height, width), 1)
        drawn = image.copy()
        if pred_mask is not None:
            color = np.array(self.pred_color, dtype=np.float32)
            pixels = drawn[pred_mask].astype(np.float32)
            drawn[pred_mask] = np.round(
                pixels * (1 - self.alpha) + color * self.alpha).astype(
                    np.uint8)
        if gt_mask is not None:
            contours, _ = cv2.findContours(
                gt_mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                cv2.CHAIN_APPROX_SIMPLE)
            line_width = self.line_width or max(1, round(scale / 200))
            cv2.drawContours(drawn, contours, -1, self.gt_color, line_width)

        caption = [text] if text else []
        if pred_mask is not None and gt_mask is not None:
            union = np.logical_or(pred_mask, gt_mask).sum()
            inter = np.logical_and(pred_mask, gt_mask).sum()
            iou = inter / union if union > 0 else 0.0
            caption.append(f'IoU {iou:.3f}')
        if caption:
            drawn = self._draw_caption(drawn, caption, scale)
        return drawn

    def _draw_caption(self, image: np.ndarray, lines: Sequence[str],
                      scale: int) -> np.ndarray:
        font_size = self.font_size or max(10, round(scale / 24))
        font = ImageFont.load_default(size=font_size)
        width = image.shape[1]
        # Wrap by the width of an average character of this font.
        char_width = max(font.getlength('abcdefghijklmnopqrstuvwxyz') / 26, 1)
        max_chars = max(int((width - font_size) / char_width), 8)
        wrapped = [
            part for line in lines
            for part in (textwrap.wrap(line, max_chars) or [''])
        ]
        line_height = round(font_size * 1.25)
        band = line_height * len(wrapped) + font_size // 2

        canvas = Image.fromarray(image)
        overlay = Image.new('RGBA', canvas.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        draw.rectangle((0, 0, width, band), fill=(0, 0, 0, 150))
        for i, line in enumerate(wrapped):
            draw.text((font_size // 2, font_size // 4 + i * line_height),
                      line,
                      font=font,
                      fill=(255, 255, 255, 255))
        canvas = Image.alpha_composite(canvas.convert('RGBA'), overlay)
        return np.asarray(canvas.convert('RGB'))

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[SegDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0) -> np.ndarray:
        """Draw one sentence's result and save or show it.

        Args:
            name (str): The picture's name for the backends and the window.
            image (np.ndarray): (H, W, 3) uint8 RGB at the original size.
            data_sample (SegDataSample, optional): Carries ``text`` in its
                metainfo, ``pred_sem_seg`` and ``gt_sem_seg`` (1, h, w).
                Defaults to None.
            draw_gt (bool): Whether to draw the ground truth. Defaults to True.
            draw_pred (bool): Whether to draw the prediction. Defaults to
                True.
            show (bool): Whether to display the picture. Defaults to False.
            wait_time (float): Seconds to show it. Defaults to 0.
            out_file (str, optional): Write the picture here (on any rank)
                instead of sending it to the backends. Defaults to None.
            step (int): The step recorded by the backends. Defaults to 0.

        Returns:
            np.ndarray: The drawn (H, W, 3) uint8 RGB picture.
        """
        shape = image.shape[:2]
        text, pred_mask, gt_mask = '', None, None
        if data_sample is not None:
            text = data_sample.metainfo.get('text', '')
            if draw_pred and 'pred_sem_seg' in data_sample:
                pred_mask = _to_mask(data_sample.pred_sem_seg, shape)
            if draw_gt and 'gt_sem_seg' in data_sample:
                gt_mask = _to_mask(data_sample.gt_sem_seg, shape)
        drawn = self.draw_refer(image, text, pred_mask, gt_mask)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
        else:
            self.add_image(name, drawn, step)
        return drawn
