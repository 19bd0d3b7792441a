"""Draws referring-segmentation results during validation and testing."""
import os.path as osp
from typing import Optional, Sequence

import mmcv
from mmengine import fileio
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer
from mmseg.structures import SegDataSample

from mmrefseg.registry import HOOKS

__all__ = ['ReferVisualizationHook']


def sample_picture_name(data_sample: SegDataSample) -> str:
    """``<image_id>_<sent_id>``: one name per sentence, not per image.

    Several sentences refer into the same image; naming pictures after the
    image (as mmseg's ``SegVisualizationHook`` does) would overwrite them.
    """
    meta = data_sample.metainfo
    if 'image_id' in meta and 'sent_id' in meta:
        return f'{meta["image_id"]}_{meta["sent_id"]}'
    raise KeyError('ReferVisualizationHook needs `image_id` and `sent_id` in '
                   'the data sample metainfo (see PackReferInputs), got '
                   f'{sorted(meta)}.')


@HOOKS.register_module()
class ReferVisualizationHook(Hook):
    """Visualize predictions with the sentence they answer.

    - Validation: every ``interval`` batches, the batch's pictures go to the
      visualizer's backends (named ``val_<image_id>_<sent_id>``).
    - Testing: every sample is drawn; with ``test_out_dir`` each picture is
      written as ``<test_out_dir>/<image_id>_<sent_id>.jpg`` (by every rank
      for its own samples), otherwise it goes to the backends.

    Args:
        draw (bool): Whether to draw at all. Defaults to False.
        interval (int): Validation batches between drawings. Defaults to 50.
        show (bool): Whether to display the pictures in a window. Defaults to
            False.
        wait_time (float): Seconds each picture is shown. Defaults to 0.
        test_out_dir (str, optional): Test pictures' folder; a relative path
            is taken under ``<work_dir>/<timestamp>/``. Defaults to None.
        backend_args (dict, optional): File backend arguments for reading the
            images. Defaults to None.
    """

    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 show: bool = False,
                 wait_time: float = 0.,
                 test_out_dir: Optional[str] = None,
                 backend_args: Optional[dict] = None) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}.')
        self._visualizer: Visualizer = Visualizer.get_current_instance()
        if draw and not hasattr(self._visualizer, 'draw_refer'):
            raise TypeError('ReferVisualizationHook needs a '
                            'ReferLocalVisualizer as `visualizer`, got '
                            f'{type(self._visualizer).__name__}.')
        self.draw = draw
        self.interval = interval
        self.show = show
        if show:
            # Showing replaces storing: do not fill the backends as well.
            self._visualizer._vis_backends = {}
        self.wait_time = wait_time
        self.test_out_dir = test_out_dir
        self.backend_args = backend_args.copy() if backend_args else None
        self._test_index = 0

    def _read_rgb(self, img_path: str):
        img_bytes = fileio.get(img_path, backend_args=self.backend_args)
        return mmcv.imfrombytes(img_bytes, channel_order='rgb')

    def _draw_sample(self, data_sample: SegDataSample, name: str, step: int,
                     out_file: Optional[str]) -> None:
        self._visualizer.add_datasample(
            name,
            self._read_rgb(data_sample.img_path),
            data_sample=data_sample,
            show=self.show,
            wait_time=self.wait_time,
            out_file=out_file,
            step=step)

    def after_val_iter(self, runner: Runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence[SegDataSample]) -> None:
        # The backends write on rank 0 only: other ranks need not draw.
        if not self.draw or not is_main_process() or \
                not self.every_n_inner_iters(batch_idx, self.interval):
            return
        for data_sample in outputs:
            name = f'val_{sample_picture_name(data_sample)}'
            self._draw_sample(data_sample, name, runner.iter, None)

    def before_test(self, runner: Runner) -> None:
        if self.draw and self.test_out_dir is not None:
            self.test_out_dir = osp.join(runner.work_dir, runner.timestamp,
                                         self.test_out_dir)
            mkdir_or_exist(self.test_out_dir)

    def after_test_iter(self, runner: Runner, batch_idx: int,
                        data_batch: dict,
                        outputs: Sequence[SegDataSample]) -> None:
        if not self.draw or (self.test_out_dir is None
                             and not is_main_process()):
            return
        for data_sample in outputs:
            self._test_index += 1
            name = sample_picture_name(data_sample)
            out_file = None
            if self.test_out_dir is not None:
                out_file = osp.join(self.test_out_dir, f'{name}.jpg')
            self._draw_sample(data_sample, f'test_{name}', self._test_index,
                              out_file)
