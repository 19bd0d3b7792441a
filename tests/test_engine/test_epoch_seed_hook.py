import torch

from mmrefseg.engine.hooks import epoch_seed
from mmrefseg.utils import register_all_modules
from tests.helpers import toy_runner

register_all_modules()


def final_weights(runner):
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


def train_interrupted(tmp_path, **cfg):
    """Two epochs, then a new runner resuming to the third."""
    toy_runner(tmp_path, max_epochs=2, **cfg).train()
    resumed = toy_runner(tmp_path, max_epochs=3, resume=True, **cfg)
    resumed.train()
    return final_weights(resumed)


def test_epoch_seed_depends_on_seed_epoch_and_rank():
    seeds = {epoch_seed(s, e, r) for s in (0, 1) for e in (0, 1)
             for r in (0, 1)}
    assert len(seeds) == 8
    assert epoch_seed(3, 2) == epoch_seed(3, 2, 0)
    assert all(0 <= s < 2**32 for s in seeds)


def test_a_resumed_run_repeats_the_uninterrupted_one(tmp_path):
    reference = toy_runner(tmp_path / 'once', max_epochs=3)
    reference.train()
    expected = final_weights(reference)
    resumed = train_interrupted(tmp_path / 'twice')
    for key, value in expected.items():
        assert torch.equal(resumed[key], value), key


def test_without_it_a_resumed_run_draws_differently(tmp_path):
    # What the hook fixes: the dropout masks and the dataset's NumPy draws of
    # the resumed epochs come from generators the checkpoint did not keep.
    no_hook = dict(default_hooks=dict(epoch_seed=None))
    reference = toy_runner(tmp_path / 'once', max_epochs=3, **no_hook)
    reference.train()
    expected = final_weights(reference)
    resumed = train_interrupted(tmp_path / 'twice', **no_hook)
    assert not torch.equal(resumed['linear.weight'],
                           expected['linear.weight'])
