"""The helpers of the verify_*_conversion tools (which need a reference
checkout, so they are not run here)."""
import pytest
import torch
from torch import nn

from mmrefseg.utils.checkpoint_conversion.base import ConversionReport
from mmrefseg.utils.checkpoint_conversion.verification import (
    cumulative_batchnorm_statistics, max_diff, millions, print_diff,
    print_verdict, randomise_constant_parameters, report_conversion,
    verification_parser)


class _Params(nn.Module):

    def __init__(self):
        super().__init__()
        self.ones = nn.Parameter(torch.ones(1000))
        self.zeros = nn.Parameter(torch.zeros(2, 3))
        self.pair = nn.Parameter(torch.full((2, ), 0.5))
        self.single = nn.Parameter(torch.ones(1))
        self.varied = nn.Parameter(torch.tensor([1., 1., 2.]))


def test_randomise_constant_parameters():
    model = _Params()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    count = randomise_constant_parameters(model,
                                          torch.Generator().manual_seed(3))
    assert count == 3
    generator = torch.Generator().manual_seed(3)
    for name in ('ones', 'zeros', 'pair'):  # in parameter order
        noise = torch.randn(before[name].shape, generator=generator) * 0.1
        assert torch.equal(getattr(model, name).detach(),
                           before[name] + noise), name
    assert model.single.equal(before['single'])
    assert model.varied.equal(before['varied'])
    assert model.ones.requires_grad and model.ones.grad is None


def test_randomise_constant_parameters_keeps_the_dtype():
    model = nn.Linear(4, 3).to(torch.float64)
    nn.init.zeros_(model.bias)
    assert randomise_constant_parameters(
        model, torch.Generator().manual_seed(0)) == 1
    assert model.bias.dtype == torch.float64
    assert len(model.bias.unique()) == 3


def test_cumulative_batchnorm_statistics():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4),
                          nn.Sequential(nn.BatchNorm2d(2)))
    norm, norm2d = model[1], model[2][0]
    norm.running_mean.fill_(5.)
    norm.num_batches_tracked.fill_(7)
    model.eval()
    batches = [torch.randn(6, 4) + 3 * i for i in range(3)]
    with cumulative_batchnorm_statistics(model):
        assert model.training and norm.training
        assert norm.momentum is None and norm2d.momentum is None
        assert norm.num_batches_tracked == 0
        assert norm.running_mean.equal(torch.zeros(4))
        for batch in batches:
            norm(batch)
    assert not model.training and not norm.training
    assert norm.momentum == 0.1 and norm2d.momentum == 0.1
    torch.testing.assert_close(
        norm.running_mean,
        torch.stack([b.mean(0) for b in batches]).mean(0))
    with pytest.raises(RuntimeError):
        with cumulative_batchnorm_statistics(model):
            raise RuntimeError('a failing pass')
    assert not model.training and norm.momentum == 0.1


def test_max_diff_is_exact_in_float64():
    ref = torch.tensor([1.0, 2.0], dtype=torch.float64)
    ours = ref + torch.tensor([1e-12, -3e-12], dtype=torch.float64)
    assert max_diff(ref, ours) == pytest.approx(3e-12, rel=1e-3)
    assert max_diff(ref.float(), ref.float()) == 0.0
    assert max_diff(torch.tensor([0.5]), torch.tensor([2.0])) == 1.5


def test_print_diff(capsys):
    ref = torch.tensor([[1.0, -4.0]])
    ours = torch.tensor([[1.5, -4.0]])
    assert print_diff('neck alone', ref, ours) == 0.5
    assert capsys.readouterr().out == (
        'neck alone (1, 2): max |diff| 5.000e-01 '
        '(max |reference| 4.000e+00)\n')


def test_millions():
    module = nn.Module()
    module.weight = nn.Parameter(torch.zeros(2_345_001))
    assert millions(module) == '2.35 M'
    assert millions(nn.Linear(10, 1)) == '0.00 M'


def test_report_conversion(capsys):
    report = ConversionReport()
    report.drop('k', 'why')
    report.notes.append('cut')
    assert report_conversion(report) is True
    assert capsys.readouterr().out == 'dropped k: why\ncut\n'
    report.not_filled.append('m')
    assert report_conversion(report) is False
    assert capsys.readouterr().out == (
        'dropped k: why\ncut\nmodel keys not filled (1):\n  m\n'
        'conversion incomplete\n')


def test_print_verdict(capsys):
    assert print_verdict(1e-4, 1e-4) == 0
    assert print_verdict(0.0, 1e-4) == 0
    assert capsys.readouterr().out == 'PASS\nPASS\n'
    assert print_verdict(2e-4, 1e-4) == 1
    assert capsys.readouterr().out == 'FAIL\n'


def test_verification_parser():
    parser = verification_parser('Check things', 'the checkout', '/tmp/ref',
                                 480)
    assert parser.description == 'Check things'
    args = parser.parse_args(['--config', 'c.py'])
    assert vars(args) == dict(ref='/tmp/ref', config='c.py', input_size=480,
                              dtype='float32', tol=1e-4, seed=0,
                              work_dir=None)
    assert parser.parse_args(['--config', 'c', '--dtype',
                              'float32']).dtype == 'float32'
    args = parser.parse_args([
        'ref_dir', '--config', 'c.py', '--input-size', '64', '--dtype',
        'float64', '--tol', '0.5', '--seed', '3', '--work-dir', 'w'
    ])
    assert vars(args) == dict(ref='ref_dir', config='c.py', input_size=64,
                              dtype='float64', tol=0.5, seed=3,
                              work_dir='w')
    for argv in ([], ['--config', 'c', '--dtype', 'float16']):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
    helps = {action.dest: action.help for action in parser._actions}
    assert helps == {
        'help': 'show this help message and exit',
        'ref': 'the checkout',
        'config': 'mmrefseg config',
        'input_size': None,
        'dtype': 'precision of the comparison',
        'tol': None,
        'seed': None,
        'work_dir': 'where the temporary files go (default: a temporary '
        'directory, removed afterwards)',
    }
    parser = verification_parser('d', 'r', 'x', 416, dtype_help='float64!')
    assert parser.parse_args(['--config', 'c']).input_size == 416
    assert {a.dest: a.help for a in parser._actions}['dtype'] == 'float64!'
