"""Helpers of the tools that check a converter against the reference code.

``tools/model_converters/verify_{cris,lavt}_conversion.py`` build the
reference model with random weights, convert its checkpoint, and compare the
two models stage by stage. They share the preparation of the reference
(:func:`randomise_constant_parameters`,
:func:`cumulative_batchnorm_statistics`), their command line
(:func:`verification_parser`) and their printing (:func:`print_diff`,
:func:`millions`, :func:`report_conversion`, :func:`print_verdict`).
"""
import argparse
import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn

from .base import ConversionReport

__all__ = [
    'randomise_constant_parameters', 'cumulative_batchnorm_statistics',
    'max_diff', 'print_diff', 'millions', 'report_conversion',
    'print_verdict', 'verification_parser'
]


def randomise_constant_parameters(model: nn.Module,
                                  generator: torch.Generator) -> int:
    """Give every constant parameter (all ones, all zeros) random values.

    Norm weights and biases, zeroed layers and attention biases start
    constant: a swapped or skipped key among them would not show in the
    outputs. Each gets Gaussian noise of standard deviation 0.1 added.

    Args:
        model (nn.Module): Changed in place.
        generator (torch.Generator): The source of the noise.

    Returns:
        int: How many parameters were changed.
    """
    count = 0
    with torch.no_grad():
        for param in model.parameters():
            if param.numel() > 1 and bool(param.max() == param.min()):
                param.add_(torch.randn(param.shape, generator=generator) * 0.1)
                count += 1
    return count


@contextlib.contextmanager
def cumulative_batchnorm_statistics(model: nn.Module) -> Iterator[None]:
    """Collect BN statistics as the plain mean of the passes run inside.

    Inside, ``model`` is in training mode with its BN statistics reset and
    ``momentum=None`` (a cumulative moving average); afterwards it is in
    eval mode with the usual ``momentum=0.1`` back.

    Args:
        model (nn.Module): The model whose BN layers to calibrate.
    """
    norms = [
        module for module in model.modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
    ]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    try:
        yield
    finally:
        for norm in norms:
            norm.momentum = 0.1
        model.eval()


def max_diff(ref: Tensor, ours: Tensor) -> float:
    """The largest absolute difference, computed in float64.

    Args:
        ref (Tensor): The reference's output.
        ours (Tensor): mmrefseg's, of the same shape.

    Returns:
        float: ``max |ref - ours|``.
    """
    return (ref.double() - ours.double()).abs().max().item()


def print_diff(name: str, ref: Tensor, ours: Tensor) -> float:
    """Print the largest difference of two outputs (and the reference's
    scale); return it.

    Args:
        name (str): What is compared.
        ref (Tensor): The reference's output.
        ours (Tensor): mmrefseg's.

    Returns:
        float: ``max |ref - ours|``.
    """
    diff = max_diff(ref, ours)
    print(f'{name} {tuple(ours.shape)}: max |diff| {diff:.3e} '
          f'(max |reference| {ref.abs().max().item():.3e})')
    return diff


def millions(module: nn.Module) -> str:
    """The number of parameters of ``module``, e.g. ``'146.80 M'``.

    Args:
        module (nn.Module): The module.

    Returns:
        str: Millions, two decimals.
    """
    return f'{sum(p.numel() for p in module.parameters()) / 1e6:.2f} M'


def report_conversion(report: ConversionReport) -> bool:
    """Print a conversion's report; say so if it is incomplete.

    Args:
        report (ConversionReport): The converter's report.

    Returns:
        bool: Whether the conversion is complete.
    """
    print('\n'.join(report.lines()))
    if not report.complete:
        print('conversion incomplete')
        return False
    return True


def print_verdict(diff: float, tol: float) -> int:
    """Print ``PASS`` or ``FAIL``; return the exit status.

    Args:
        diff (float): The largest logit difference.
        tol (float): The tolerance.

    Returns:
        int: 0 when ``diff <= tol``, 1 otherwise.
    """
    passed = diff <= tol
    print('PASS' if passed else 'FAIL')
    return 0 if passed else 1


def verification_parser(description: str,
                        ref_help: str,
                        ref_default: str,
                        input_size: int,
                        dtype_help: str = 'precision of the comparison'
                        ) -> argparse.ArgumentParser:
    """The options every verification tool takes.

    ``[REF] --config CONFIG [--input-size N] [--dtype {float32,float64}]
    [--tol TOL] [--seed SEED] [--work-dir DIR]``; the tool adds its own.

    Args:
        description (str): The parser's description.
        ref_help (str): The help of the reference checkout argument.
        ref_default (str): Where the checkout is looked for by default.
        input_size (int): The default ``--input-size``.
        dtype_help (str): The help of ``--dtype``.

    Returns:
        argparse.ArgumentParser: The parser.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('ref', nargs='?', default=ref_default, help=ref_help)
    parser.add_argument('--config', required=True, help='mmrefseg config')
    parser.add_argument('--input-size', type=int, default=input_size)
    parser.add_argument(
        '--dtype',
        default='float32',
        choices=['float32', 'float64'],
        help=dtype_help)
    parser.add_argument('--tol', type=float, default=1e-4)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--work-dir',
        help='where the temporary files go (default: a temporary directory, '
        'removed afterwards)')
    return parser
