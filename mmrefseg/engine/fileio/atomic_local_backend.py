"""A local file backend whose writes are all-or-nothing."""
import io
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

import torch
from mmengine.fileio import LocalBackend, register_backend

__all__ = [
    'AtomicLocalBackend', 'write_atomically', 'save_checkpoint_atomically'
]


def write_atomically(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to a temporary file beside ``filepath``, then rename.

    ``os.replace`` is atomic on POSIX and Windows: a reader (or a resumed
    run) sees either the previous file or the complete new one, never a
    truncated one, whenever the writer is killed. The temporary name starts
    with a dot and does not end in ``.pth``, so nothing that looks for
    checkpoints picks it up.
    """
    filepath = str(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix=f'.{osp.basename(filepath)}.', suffix='.tmp')
    try:
        # mkstemp creates the file 0600; give it what open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise
    # The rename itself survives a power cut once the directory is synced.
    if hasattr(os, 'O_DIRECTORY'):
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)



def save_checkpoint_atomically(checkpoint: dict,
                               path: str,
                               force: bool = False) -> None:
    """``torch.save`` ``checkpoint`` to ``path`` with
    :func:`write_atomically`.

    Args:
        checkpoint (dict): What to save.
        path (str): The file to write.
        force (bool): Replace an existing file. Defaults to False: an
            existing ``path`` raises ``FileExistsError``.
    """
    if osp.exists(path) and not force:
        raise FileExistsError(f'{path!r} exists; pass --force to replace it')
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_atomically(buffer.getvalue(), path)

@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` with atomic ``put`` and ``put_text``.

    Select it with ``backend_args=dict(backend='atomic_local')``;
    :class:`~mmrefseg.engine.hooks.AtomicCheckpointHook` does so for local
    work_dirs.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically.

        Args:
            obj (bytes): Data to be written.
            filepath (str | Path): Path to write data.
        """
        write_atomically(obj, filepath)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically.

        Args:
            obj (str): Text to be written.
            filepath (str | Path): Path to write data.
            encoding (str): Defaults to 'utf-8'.
        """
        write_atomically(obj.encode(encoding), filepath)
