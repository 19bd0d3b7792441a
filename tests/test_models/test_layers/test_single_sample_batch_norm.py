import pytest
import torch
from torch import nn

from mmrefseg.models.layers import SingleSampleBatchNorm1d


def trained_pair(channels=6):
    torch.manual_seed(0)
    ours, reference = SingleSampleBatchNorm1d(channels), nn.BatchNorm1d(
        channels)
    for bn in (ours, reference):
        nn.init.uniform_(bn.weight)
        nn.init.uniform_(bn.bias)
    reference.load_state_dict(ours.state_dict())
    return ours, reference


def test_batches_of_two_or_more_are_plain_batch_norm():
    ours, reference = trained_pair()
    for batch in (2, 5):
        x = torch.randn(batch, 6)
        assert torch.equal(ours(x), reference(x))
    assert torch.equal(ours.running_mean, reference.running_mean)
    assert torch.equal(ours.running_var, reference.running_var)
    assert ours.state_dict().keys() == reference.state_dict().keys()


def test_a_training_batch_of_one_uses_the_running_statistics():
    ours, reference = trained_pair()
    ours(torch.randn(4, 6) * 3 + 1)  # running statistics away from (0, 1)
    mean, var = ours.running_mean.clone(), ours.running_var.clone()
    x = torch.randn(1, 6, requires_grad=True)
    with pytest.raises(ValueError, match='more than 1 value'):
        reference.train()(x)
    y = ours.train()(x)
    expected = (x - mean) / torch.sqrt(var + ours.eps) * ours.weight \
        + ours.bias
    torch.testing.assert_close(y, expected)
    # The single sample neither moves the statistics nor blocks gradients.
    assert torch.equal(ours.running_mean, mean)
    assert torch.equal(ours.running_var, var)
    y.sum().backward()
    assert x.grad is not None and ours.weight.grad is not None


def test_eval_mode_is_unchanged():
    ours, reference = trained_pair()
    x = torch.randn(1, 6)
    assert torch.equal(ours.eval()(x), reference.eval()(x))
