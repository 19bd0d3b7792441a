"""The machinery that the checkpoint converters share.

A converter reads a reference checkpoint, renames its tensors onto the state
dict of the model built from an mmrefseg config, and writes the result only
when every source key is consumed, every model key filled and every value
fits its target. A source module (:mod:`.cris`, :mod:`.lavt`) holds the key
mapping; this module holds the report (:class:`ConversionReport`), the
conversion loop (:func:`convert_entries`), the writing
(:func:`convert_checkpoint`, through
:func:`~mmrefseg.engine.fileio.save_checkpoint_atomically`) and the command
line (:func:`build_parser`, :func:`run_cli`).
"""
import argparse
import os.path as osp
import sys
from collections import OrderedDict
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple)

import torch
from torch import Tensor

from mmrefseg.engine.fileio import save_checkpoint_atomically

__all__ = [
    'ConversionReport', 'strip_prefix', 'convert_entries',
    'load_weights_only', 'model_state_from_config', 'convert_checkpoint',
    'build_parser', 'run_cli'
]

#: the section of :meth:`ConversionReport.lines` that lists unmapped keys
NOT_CONSUMED_TITLE = 'source keys not consumed (no rule, or no such model key)'


class ConversionReport:
    """What a conversion did and what stands in its way.

    Args:
        mismatch_title (str): The heading of :attr:`mismatched` in
            :meth:`lines`. Defaults to ``'mismatches'``.

    Attributes:
        dropped (list[str]): Source keys left out on purpose, in source
            order.
        drop_reasons (dict[str, str]): Why each key of :attr:`dropped` was
            left out.
        notes (list[str]): Changes made to values on the way (e.g. a cut).
        not_consumed (list[str]): Source keys that no rule maps
            (``'key'``) or that map onto no model key
            (``'key (-> target)'``).
        not_filled (list[str]): Model keys that no source key fills, in the
            model's order.
        mismatched (list[str]): Source keys whose value does not fit their
            target (shape, content, or a target filled twice).
    """

    def __init__(self, mismatch_title: str = 'mismatches'):
        self.mismatch_title = mismatch_title
        self.dropped: List[str] = []
        self.drop_reasons: Dict[str, str] = {}
        self.notes: List[str] = []
        self.not_consumed: List[str] = []
        self.not_filled: List[str] = []
        self.mismatched: List[str] = []

    def drop(self, key: str, reason: str) -> None:
        """Record that ``key`` was left out, and why.

        Args:
            key (str): The source key.
            reason (str): Why it is not converted.
        """
        self.dropped.append(key)
        self.drop_reasons[key] = reason

    @property
    def complete(self) -> bool:
        """bool: Whether nothing stands in the way of writing the result."""
        return not (self.not_consumed or self.not_filled or self.mismatched)

    def lines(self) -> List[str]:
        """The report as printed: the dropped keys, the notes, then each
        non-empty list of problems under a heading with its length.

        Returns:
            list[str]: One line each, problems indented by two spaces.
        """
        lines = [
            f'dropped {key}: {self.drop_reasons[key]}' for key in self.dropped
        ]
        lines += self.notes
        for title, keys in (
            (NOT_CONSUMED_TITLE, self.not_consumed),
            ('model keys not filled', self.not_filled),
            (self.mismatch_title, self.mismatched),
        ):
            if keys:
                lines.append(f'{title} ({len(keys)}):')
                lines += [f'  {key}' for key in keys]
        return lines


def strip_prefix(key: str, prefix: str = 'module.') -> str:
    """``key`` without a leading ``prefix`` (DDP's ``module.`` by default).

    Args:
        key (str): A state dict key.
        prefix (str): The prefix to remove. Defaults to ``'module.'``.

    Returns:
        str: ``key`` with one leading ``prefix`` removed, if it has one.
    """
    return key[len(prefix):] if key.startswith(prefix) else key


#: ``map_entry(key, value) -> (target or None, value)``
MapEntry = Callable[[str, Tensor], Tuple[Optional[str], Tensor]]
#: ``drop_reason(key, target) -> reason or None``
DropReason = Callable[[str, Optional[str]], Optional[str]]
#: ``fit(key, target, value, shape, report) -> value``
Fit = Callable[[str, str, Tensor, tuple, ConversionReport], Tensor]
#: ``check(key, target, value) -> problem or None``
Check = Callable[[str, str, Tensor], Optional[str]]


def convert_entries(entries: Iterable[Tuple[str, Tensor]],
                    model_shapes: Mapping[str, tuple],
                    map_entry: MapEntry,
                    drop_reason: DropReason,
                    report: ConversionReport,
                    fit: Optional[Fit] = None,
                    check: Optional[Check] = None
                    ) -> 'OrderedDict[str, Tensor]':
    """Rename source entries onto a model's keys, recording every problem.

    Each entry is mapped (``map_entry``), then, in this order: dropped if
    ``drop_reason`` gives a reason; not consumed if it maps onto no model
    key; adapted to the target's shape by ``fit``; a mismatch if its shape
    differs from the target's, if ``check`` names a problem, or if an
    earlier entry filled the same target. Model keys left empty end up in
    ``report.not_filled``.

    Args:
        entries (Iterable[tuple[str, Tensor]]): Source keys (prefixes such
            as ``module.`` already removed) and values.
        model_shapes (Mapping[str, tuple]): The shape of every key of the
            target model's state dict, in the model's order.
        map_entry (callable): ``map_entry(key, value) -> (target, value)``:
            the model key (None when no rule knows ``key``) and the value,
            reshaped or reordered where the layouts differ.
        drop_reason (callable): ``drop_reason(key, target) -> str or None``:
            why the entry is deliberately left out, or None to convert it.
        report (ConversionReport): Filled in place.
        fit (callable, optional): ``fit(key, target, value, shape, report)
            -> value``: adapts a value to its target's ``shape`` (noting the
            change in ``report.notes``). Defaults to None: values unchanged.
        check (callable, optional): ``check(key, target, value) -> str or
            None``: a problem with a value of the right shape (a mismatch),
            or None. Defaults to None: no check.

    Returns:
        OrderedDict[str, Tensor]: The converted entries in the model's key
        order.
    """
    converted = {}
    for key, value in entries:
        target, value = map_entry(key, value)
        reason = drop_reason(key, target)
        if reason is not None:
            report.drop(key, reason)
            continue
        if target is None or target not in model_shapes:
            report.not_consumed.append(
                key if target is None else f'{key} (-> {target})')
            continue
        shape = tuple(model_shapes[target])
        if fit is not None:
            value = fit(key, target, value, shape, report)
        if tuple(value.shape) != shape:
            report.mismatched.append(
                f'{key} {tuple(value.shape)} -> {target} {shape}')
            continue
        problem = None if check is None else check(key, target, value)
        if problem is not None:
            report.mismatched.append(problem)
            continue
        if target in converted:
            report.mismatched.append(f'{key}: {target} filled twice')
            continue
        converted[target] = value
    report.not_filled = [key for key in model_shapes if key not in converted]
    return OrderedDict(
        (key, converted[key]) for key in model_shapes if key in converted)


def load_weights_only(path: str, safe_globals: Sequence[Any] = ()) -> Any:
    """Read a checkpoint on the CPU without running code from it.

    Args:
        path (str): The file.
        safe_globals (Sequence): Classes besides tensors and builtin
            containers that the file may hold (``torch.load``'s allowlist).
            Defaults to none.

    Returns:
        Any: What the file holds.

    Raises:
        FileNotFoundError: No such file.
        ValueError: ``torch.load(weights_only=True)`` cannot read it.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'no such checkpoint: {path!r}')
    with torch.serialization.safe_globals(list(safe_globals)):
        try:
            return torch.load(path, map_location='cpu', weights_only=True)
        except Exception as error:
            raise ValueError(
                f'cannot read {path!r} with torch.load(weights_only=True): '
                f'{error}') from error


def model_state_from_config(config: str) -> Dict[str, Tensor]:
    """Build the model of an mmrefseg config and return its state dict.

    Args:
        config (str): Path of the config.

    Returns:
        dict[str, Tensor]: The model's state dict (random weights).
    """
    from mmengine.config import Config

    from mmrefseg.registry import MODELS
    from mmrefseg.utils import register_all_modules
    register_all_modules()
    return MODELS.build(Config.fromfile(config).model).state_dict()


#: ``load(src) -> (source, record)``
Load = Callable[[str], Tuple[Any, Dict[str, Any]]]
#: ``convert(source, model_state) -> (state_dict, report)``
Convert = Callable[[Any, Dict[str, Tensor]],
                   Tuple['OrderedDict[str, Tensor]', ConversionReport]]


def convert_checkpoint(src: str,
                       dst: str,
                       config: str,
                       load: Load,
                       convert: Convert,
                       converter: str,
                       force: bool = False) -> ConversionReport:
    """Convert ``src`` for the model of ``config`` and write ``dst``.

    ``dst`` is written only if the conversion is complete, in mmengine's
    format ``{'meta': ..., 'state_dict': ...}``, atomically (a temporary
    file, then a rename).

    Args:
        src (str): The reference checkpoint.
        dst (str): The mmrefseg checkpoint to write.
        config (str): The mmrefseg config of the same model: its state dict
            is the check that every key is converted.
        load (callable): ``load(src) -> (source, record)``: what ``convert``
            reads, and the reference's training record for the meta (e.g.
            ``reference_epoch``).
        convert (callable): ``convert(source, model_state) -> (state_dict,
            report)``.
        converter (str): The converter named in the meta (the tool's path).
        force (bool): Replace an existing ``dst``. Defaults to False.

    Returns:
        ConversionReport: What the conversion did, and its problems.

    Raises:
        FileExistsError: ``dst`` exists and ``force`` is False; raised
            before ``src`` is read.
    """
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst!r} exists; pass --force to replace it')
    source, record = load(src)
    state_dict, report = convert(source, model_state_from_config(config))
    if report.complete:
        meta = dict(
            converted_from=osp.basename(src),
            converter=converter,
            config=osp.basename(config),
            **record)
        save_checkpoint_atomically(
            dict(meta=meta, state_dict=state_dict), dst, force=force)
    return report


def build_parser(description: str, src_help: str) -> argparse.ArgumentParser:
    """The command line of a converter: ``SRC DST --config CONFIG
    [--force]``.

    Args:
        description (str): The parser's description.
        src_help (str): The help of the ``src`` argument.

    Returns:
        argparse.ArgumentParser: The parser.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help=src_help)
    parser.add_argument('dst', help='mmrefseg checkpoint to write')
    parser.add_argument(
        '--config',
        required=True,
        help='mmrefseg config of the same model: its state dict is the '
        'check that every key is converted')
    parser.add_argument(
        '--force', action='store_true', help='replace an existing DST')
    return parser


def run_cli(args: argparse.Namespace,
            convert: Callable[[str, str, str, bool],
                              ConversionReport]) -> int:
    """Run a converter on parsed arguments and print its report.

    Args:
        args (argparse.Namespace): ``src``, ``dst``, ``config`` and
            ``force`` (from :func:`build_parser`).
        convert (callable): ``convert(src, dst, config, force) ->
            ConversionReport``, the source's ``convert_checkpoint``.

    Returns:
        int: The exit status: 0 when ``dst`` was written, 1 otherwise (the
        report names the problems; stderr says that nothing was written).
    """
    report = convert(args.src, args.dst, args.config, args.force)
    for line in report.lines():
        print(line)
    if not report.complete:
        print(f'conversion incomplete: {args.dst} NOT written',
              file=sys.stderr)
        return 1
    print(f'saved {args.dst}')
    return 0
