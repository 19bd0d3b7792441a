"""mmengine checkpoints load under torch's ``weights_only`` default."""
import copy
import hashlib
import pickle

import numpy as np
import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from mmrefseg.engine import register_checkpoint_safe_globals
from mmrefseg.engine.checkpoint_compat import checkpoint_safe_globals

NUM_SAMPLES, BATCH_SIZE = 8, 2
ITERS_PER_EPOCH = NUM_SAMPLES // BATCH_SIZE


class TinyConvModel(BaseModel):
    """One conv regressing the mean of a random image to a random target."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, inputs, targets, mode='tensor'):
        preds = self.conv(inputs).mean(dim=(1, 2, 3))
        if mode == 'loss':
            return dict(loss=((preds - targets)**2).mean())
        if mode == 'predict':
            return [dict(pred=p, target=t) for p, t in zip(preds, targets)]
        return preds


class RandomRegressionSet(torch.utils.data.Dataset):
    metainfo = dict(classes=('object', ))

    def __init__(self, num_samples=NUM_SAMPLES):
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(num_samples, 3, 8, 8, generator=generator)
        self.targets = torch.randn(num_samples, generator=generator)

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        return dict(inputs=self.inputs[index], targets=self.targets[index])


class NumpyScoreMetric(BaseMetric):
    """Returns numpy scalars, as mmseg's metrics do: they reach the
    checkpoint through the message hub and the best-checkpoint record."""

    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        for sample in data_samples:
            self.results.append(float((sample['pred'] - sample['target'])**2))

    def compute_metrics(self, results):
        return dict(score=np.float64(1.0 - np.mean(results)),
                    score32=np.float32(0.5))


class RecordStartHook(Hook):
    """Records the counters and optimizer state as training (re)starts."""

    def before_train(self, runner):
        self.epoch, self.iter = runner.epoch, runner.iter
        self.optimizer_state = copy.deepcopy(
            runner.optim_wrapper.state_dict()['state'])


def _dataloader(num_samples=NUM_SAMPLES, shuffle=True):
    return dict(
        dataset=RandomRegressionSet(num_samples),
        sampler=dict(type='DefaultSampler', shuffle=shuffle, seed=0),
        batch_size=BATCH_SIZE,
        num_workers=0,
        collate_fn=dict(type='default_collate'))


def _seeded_model():
    torch.manual_seed(0)
    return TinyConvModel()


def _build_runner(work_dir, max_epochs, custom_hooks=(), **kwargs):
    return Runner(
        model=_seeded_model(),
        work_dir=str(work_dir),
        train_dataloader=_dataloader(),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_dataloader=_dataloader(4, shuffle=False),
        val_cfg=dict(),
        val_evaluator=[NumpyScoreMetric()],
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[2], gamma=0.1),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=1, save_best='toy/score',
                rule='greater'),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=list(custom_hooks),
        randomness=dict(seed=0),
        default_scope='mmengine',
        **kwargs)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope='module')
def first_run(tmp_path_factory):
    """Trains 3 epochs, saving a checkpoint after each; the lr drops 10x
    after epoch 2."""
    work_dir = tmp_path_factory.mktemp('first_run')
    runner = _build_runner(work_dir, max_epochs=3)
    runner.train()
    return work_dir


def test_default_torch_load_reads_mmengine_checkpoint(first_run):
    checkpoint = torch.load(first_run / 'epoch_2.pth')  # weights_only=True
    assert checkpoint['meta']['epoch'] == 2
    assert checkpoint['meta']['iter'] == 2 * ITERS_PER_EPOCH
    loss_buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss_buffer, HistoryBuffer)
    assert len(loss_buffer.data[0]) == 2 * ITERS_PER_EPOCH
    assert np.isfinite(loss_buffer.mean())
    assert isinstance(checkpoint['message_hub']['runtime_info']['best_score'],
                      np.floating)


def test_checkpoint_needs_the_registration(first_run):
    """Without mmrefseg's safe globals, torch refuses the same file."""
    registered = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
            torch.load(first_run / 'epoch_2.pth')
    finally:
        torch.serialization.add_safe_globals(registered)
    register_checkpoint_safe_globals()  # idempotent
    torch.load(first_run / 'epoch_2.pth')


def test_resume_continues_counters_and_optimizer(first_run, tmp_path):
    """Resuming after epoch 1 retraces epochs 2 and 3 of the first run: this
    needs the weights, the momentum, the lr schedule and the data order to
    carry over."""
    checkpoint_files = sorted(first_run.glob('*.pth'))
    digests = {path.name: _digest(path) for path in checkpoint_files}
    interrupted = torch.load(first_run / 'epoch_1.pth')
    finished = torch.load(first_run / 'epoch_3.pth')

    recorder = RecordStartHook()
    resumed = _build_runner(
        tmp_path,
        max_epochs=3,
        custom_hooks=[recorder],
        load_from=str(first_run / 'epoch_1.pth'),
        resume=True)
    resumed.train()

    assert (recorder.epoch, recorder.iter) == (1, ITERS_PER_EPOCH)
    saved_state = interrupted['optimizer']['state']
    assert saved_state.keys() == recorder.optimizer_state.keys()
    for key, state in saved_state.items():
        torch.testing.assert_close(
            recorder.optimizer_state[key]['momentum_buffer'],
            state['momentum_buffer'],
            rtol=0,
            atol=0)

    assert resumed.epoch == 3 and resumed.iter == 3 * ITERS_PER_EPOCH
    assert resumed.param_schedulers[0].state_dict() == \
        finished['param_schedulers'][0]
    assert resumed.optim_wrapper.get_lr()['lr'] == [pytest.approx(0.005)]
    for name, value in resumed.model.state_dict().items():
        assert not torch.equal(value, interrupted['state_dict'][name])
        torch.testing.assert_close(
            value, finished['state_dict'][name], msg=name)

    assert sorted(first_run.glob('*.pth')) == checkpoint_files
    assert {path.name: _digest(path) for path in checkpoint_files} == digests


def test_load_from_loads_weights_into_fresh_runner(first_run, tmp_path):
    checkpoint = torch.load(first_run / 'epoch_3.pth')
    runner = Runner(
        model=TinyConvModel(),
        work_dir=str(tmp_path),
        test_dataloader=_dataloader(4, shuffle=False),
        test_cfg=dict(),
        test_evaluator=[NumpyScoreMetric()],
        load_from=str(first_run / 'epoch_3.pth'),
        default_scope='mmengine')
    assert not torch.equal(runner.model.conv.weight,
                           checkpoint['state_dict']['conv.weight'])
    metrics = runner.test()
    for name, value in runner.model.state_dict().items():
        torch.testing.assert_close(
            value, checkpoint['state_dict'][name], rtol=0, atol=0)
    assert np.isfinite(metrics['toy/score'])


class _GetattrPayload:
    """Pickles as ``getattr(target, name)``, as a HistoryBuffer's statistic
    methods do."""

    def __init__(self, target, name):
        self.target, self.name = target, name

    def __reduce__(self):
        return getattr, (self.target, self.name)


def test_getattr_only_resolves_history_buffer_statistics(tmp_path):
    register_checkpoint_safe_globals()
    torch.save(dict(method=_GetattrPayload(HistoryBuffer, 'mean')),
               tmp_path / 'allowed.pth')
    assert torch.load(tmp_path / 'allowed.pth')['method'] is \
        HistoryBuffer.mean

    for target, name in [(HistoryBuffer, 'update'),
                         (HistoryBuffer, '__init__'), (np.ndarray, 'min')]:
        torch.save(dict(method=_GetattrPayload(target, name)),
                   tmp_path / 'refused.pth')
        with pytest.raises(pickle.UnpicklingError, match=name):
            torch.load(tmp_path / 'refused.pth')


def test_numpy_values_of_other_dtypes_and_numpy1_names(tmp_path):
    register_checkpoint_safe_globals()
    values = dict(
        f32=np.float32(0.25),
        i32=np.arange(3, dtype=np.int32),
        u8=np.ones((2, 2), dtype=np.uint8),
        flag=np.bool_(True))
    torch.save(values, tmp_path / 'numpy2.pth')
    loaded = torch.load(tmp_path / 'numpy2.pth')
    for key, value in values.items():
        assert loaded[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded[key], value)

    # numpy 1.x wrote ``numpy.core.multiarray``; the legacy (non-zip) format
    # keeps the pickle's GLOBAL lines as plain text, so rename them there.
    torch.save(values, tmp_path / 'legacy.pth',
               _use_new_zipfile_serialization=False)
    data = (tmp_path / 'legacy.pth').read_bytes()
    assert b'numpy._core.multiarray' in data
    (tmp_path / 'numpy1.pth').write_bytes(
        data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray'))
    loaded = torch.load(tmp_path / 'numpy1.pth')
    np.testing.assert_array_equal(loaded['i32'], values['i32'])
    assert loaded['f32'] == values['f32']

    torch.save(dict(words=np.array(['a', 'b'])), tmp_path / 'strings.pth')
    with pytest.raises(pickle.UnpicklingError, match='StrDType'):
        torch.load(tmp_path / 'strings.pth')


def test_safe_globals_list_is_explicit():
    names = set()
    for item in checkpoint_safe_globals():
        names.add(item[1] if isinstance(item, tuple) else
                  f'{item.__module__}.{item.__qualname__}')
    assert {
        'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr',
        'numpy.ndarray', 'numpy.dtype', 'numpy._core.multiarray._reconstruct',
        'numpy._core.multiarray.scalar', 'numpy.dtypes.Float64DType',
        'numpy.dtypes.Int64DType'
    } <= names
    assert 'numpy.dtypes.ObjectDType' not in names
