import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

from mmrefseg.engine import AtomicLocalBackend
from mmrefseg.utils import register_all_modules
from tests.helpers import toy_runner

register_all_modules()

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_put_writes_the_file_with_open_s_permissions(tmp_path):
    backend = AtomicLocalBackend()
    path = tmp_path / 'sub' / 'a.pth'
    backend.put(b'abc', path)
    backend.put_text('last', tmp_path / 'pointer')
    assert path.read_bytes() == b'abc'
    assert (tmp_path / 'pointer').read_text() == 'last'
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(os.listdir(tmp_path)) == ['pointer', 'sub']


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    backend = AtomicLocalBackend()
    path = tmp_path / 'epoch_1.pth'
    backend.put(b'complete', path)

    def fail(*args):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', fail)
    with pytest.raises(OSError, match='disk full'):
        backend.put(b'partial', path)
    assert path.read_bytes() == b'complete'
    assert os.listdir(tmp_path) == ['epoch_1.pth']


WRITER = """
import sys
from mmrefseg.engine import AtomicLocalBackend
backend = AtomicLocalBackend()
for i in range(1000):
    backend.put(bytes([i % 256]) * (8 << 20), sys.argv[1])
    print(i, flush=True)
"""


def test_a_killed_writer_leaves_a_complete_file(tmp_path):
    """SIGKILL a process that rewrites an 8 MB file in a loop, at several
    moments: the file is always one complete version."""
    path = str(tmp_path / 'ckpt.pth')
    for delay in (0.05, 0.3, 0.7):
        proc = subprocess.Popen([sys.executable, '-c', WRITER, path],
                                cwd=REPO,
                                env=dict(os.environ, PYTHONPATH=REPO),
                                stdout=subprocess.PIPE)
        proc.stdout.readline()  # one complete version exists
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = open(path, 'rb').read()
        assert len(data) == 8 << 20
        assert data.count(data[:1]) == len(data)
    leftovers = [f for f in os.listdir(tmp_path) if f != 'ckpt.pth']
    # A temporary file may survive the kill; it never looks like a .pth.
    assert all(f.startswith('.ckpt.pth.') and f.endswith('.tmp')
               for f in leftovers)


def test_old_checkpoints_go_only_after_the_new_one_is_written(tmp_path):
    runner = toy_runner(tmp_path, max_epochs=3)
    hook = next(h for h in runner.hooks
                if type(h).__name__ == 'AtomicCheckpointHook')
    removed = []
    original_put = AtomicLocalBackend.put

    def remove(self, path):
        # The newer checkpoint and the pointer to it are already complete.
        newest = osp.join(str(tmp_path), f'epoch_{runner.epoch + 1}.pth')
        assert osp.isfile(newest)
        with open(osp.join(str(tmp_path), 'last_checkpoint')) as f:
            assert f.read() == newest
        removed.append(osp.basename(path))
        os.remove(path)

    AtomicLocalBackend.remove = remove
    try:
        runner.train()
    finally:
        del AtomicLocalBackend.remove
    assert AtomicLocalBackend.put is original_put
    assert isinstance(hook.file_backend, AtomicLocalBackend)
    assert removed == ['epoch_1.pth', 'epoch_2.pth']
    assert sorted(f for f in os.listdir(tmp_path)
                  if f.endswith('.pth')) == ['epoch_3.pth']
    checkpoint = torch.load(
        tmp_path / 'epoch_3.pth', map_location='cpu', weights_only=False)
    assert checkpoint['message_hub']['runtime_info']['keep_ckpt_ids'] == [3]
