"""CPUAmpOptimWrapper: bfloat16 autocast training without a GPU."""
import pytest
import torch
from torch import nn

from mmrefseg.engine import CPUAmpOptimWrapper
from mmrefseg.registry import OPTIM_WRAPPERS


def make_wrapper(model, **kwargs):
    return OPTIM_WRAPPERS.build(
        dict(
            type='CPUAmpOptimWrapper',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            **kwargs))


def test_step_runs_in_bfloat16_and_updates_fp32_weights():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    wrapper = make_wrapper(model)
    assert isinstance(wrapper, CPUAmpOptimWrapper)
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.randn(8, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert model.weight.dtype == torch.float32
    assert not torch.equal(model.weight, before)


def test_no_loss_scaling_and_state_round_trip():
    model = nn.Linear(4, 1)
    wrapper = make_wrapper(model, loss_scale='dynamic')
    loss = torch.tensor(3.0, requires_grad=True)
    # bfloat16 needs no scaling: the scaler passes the loss through.
    assert wrapper.loss_scaler.scale(loss) is loss
    state = wrapper.state_dict()
    assert 'loss_scaler' in state
    other = make_wrapper(nn.Linear(4, 1))
    other.load_state_dict(state)
    assert other.optimizer.state_dict()['param_groups'][0]['lr'] == 0.1


def test_clip_grad_bounds_the_update():
    model = nn.Linear(4, 1)
    before = [p.detach().clone() for p in model.parameters()]
    wrapper = make_wrapper(model, clip_grad=dict(max_norm=1e-3))
    with wrapper.optim_context(model):
        loss = model(torch.full((2, 4), 100.)).float().sum()
    wrapper.update_params(loss)
    step = torch.cat([(p.detach() - b).flatten()
                      for p, b in zip(model.parameters(), before)])
    # SGD with lr 0.1 on a gradient clipped to norm 1e-3.
    assert 0 < step.norm() <= 0.1 * 1e-3 * 1.01


def test_float16_is_refused():
    with pytest.raises(ValueError, match='"bfloat16" only'):
        make_wrapper(nn.Linear(2, 2), dtype='float16')
