"""A checkpoint hook that a kill at any moment cannot corrupt."""
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, List

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from mmrefseg.registry import HOOKS
from ..fileio import AtomicLocalBackend

__all__ = ['AtomicCheckpointHook']


class _RemovalRecorder:
    """Forwards to a file backend but only records ``remove`` calls."""

    def __init__(self, backend, removed: List[str]) -> None:
        self._backend = backend
        self._removed = removed

    def remove(self, filepath) -> None:
        self._removed.append(filepath)

    def __getattr__(self, name):
        return getattr(self._backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with crash-safe writes and deletions.

    Arguments are those of :class:`mmengine.hooks.CheckpointHook`. For a
    local ``out_dir`` (and no ``file_client_args``) three things change, so
    that a run killed at any moment (SIGKILL, preemption, out of memory)
    leaves a work_dir that ``--resume`` continues from:

    - every checkpoint and the ``last_checkpoint`` pointer are written to a
      temporary file and renamed (:class:`AtomicLocalBackend`): never
      truncated, and ``last_checkpoint`` always names a complete file;
    - checkpoints beyond ``max_keep_ckpts`` are deleted only after the new
      one and the pointer are written (mmengine deletes first);
    - the previous best checkpoint is deleted only after the new best one
      and the epoch checkpoint that records it are written (mmengine
      deletes first, so a kill in between leaves no best checkpoint). A
      kill inside that window leaves both best files; the older one is then
      not deleted automatically.
    """

    atomic = False  # set in before_train, once the out_dir is known

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self.atomic = (self.file_client_args is None
                       and type(self.file_backend) is LocalBackend)
        if self.atomic:
            self.file_backend = AtomicLocalBackend()
            # Passed on to runner.save_checkpoint for the checkpoint itself.
            self.backend_args = dict(
                self.backend_args or {}, backend='atomic_local')

    @contextmanager
    def _removals_deferred(self) -> Iterator[None]:
        """Run the block with deletions postponed until it has finished."""
        backend, removed = self.file_backend, []
        self.file_backend = _RemovalRecorder(backend, removed)
        try:
            yield
        finally:
            self.file_backend = backend
        for path in removed:
            if backend.isfile(path):
                backend.remove(path)
            elif backend.isdir(path):
                backend.rmtree(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Save the checkpoint of ``step``, then the pointer, then delete
        the checkpoints beyond ``max_keep_ckpts``."""
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            # Recorded before saving, so the checkpoint carries the list.
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return

        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        if self.atomic:
            AtomicLocalBackend().put_text(self.last_ckpt, pointer)
        else:
            with open(pointer, 'w') as f:
                f.write(self.last_ckpt)
        for old_step in outdated:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._removals_deferred():
            super()._save_best_checkpoint(runner, metrics)
