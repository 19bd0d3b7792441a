"""Convert a CRIS.pytorch checkpoint into an mmrefseg checkpoint.

The reference (github.com/DerrickWang005/CRIS.pytorch) saves
``{'epoch', 'cur_iou', 'best_iou', 'prec', 'state_dict', 'optimizer',
'scheduler'}`` with DDP's ``module.`` prefix on every key. Its modules map
onto mmrefseg's ``ReferSegmentor`` as follows:

- ``backbone.visual.attnpool.connect.{0,1}.*`` ->
  ``backbone.connect.{conv,bn}.*``
- ``backbone.visual.*`` -> ``backbone.visual.*``
- ``backbone.{token_embedding,positional_embedding,transformer,ln_final,
  text_projection}*`` -> ``text_encoder.text.*``; the positional embedding is
  cut from CLIP's 77 positions to ``word_len`` (CRIS reads only those)
- ``backbone.logit_scale``: dropped (CLIP's contrastive temperature, unused
  by CRIS)
- ``neck.*`` -> ``neck.*``, conv blocks renamed by ``REFERENCE_NECK_RENAMES``
- ``decoder.*`` -> ``decode_head.decoder.*``
- ``proj.*`` -> ``decode_head.proj.*``, renamed by ``REFERENCE_PROJ_RENAMES``

The model built from the config is the check: every source key must be
consumed, every model key filled, every shape equal. Otherwise nothing is
written and the problems are listed. ``tools/model_converters/
cris2mmrefseg.py`` is the command line (:func:`main`).
"""
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .base import (ConversionReport, build_parser, convert_entries,
                   load_weights_only, model_state_from_config, run_cli,
                   strip_prefix)
from .base import convert_checkpoint as _convert_checkpoint

__all__ = [
    'DROPPED_KEYS', 'CONVERTER', 'REFERENCE_NECK_RENAMES',
    'REFERENCE_PROJ_RENAMES', 'map_reference_key', 'convert_state_dict',
    'load_reference_checkpoint', 'model_shapes_from_config',
    'convert_checkpoint', 'parse_args', 'main'
]

#: reference keys deliberately left out, with the reason
DROPPED_KEYS = {
    'backbone.logit_scale':
    "CLIP's contrastive temperature; CRIS never uses it",
}
#: the command line, named in the meta of the checkpoints it writes
CONVERTER = 'tools/model_converters/cris2mmrefseg.py'
# FusionNeck's ConvModules, whose reference counterparts are
# Sequential(Conv2d, BN, ReLU)
_CONV_NAMES = ('f1_v_proj|f2_v_proj|f2_cat|f3_v_proj|f3_cat|'
               'f4_proj5|f4_proj4|f4_proj3|aggr')

#: ``(pattern, replacement)`` pairs for ``re.sub`` mapping a reference neck key
#: (without the ``neck.`` prefix) to ``FusionNeck``'s key, e.g.
#: ``f2_cat.1.running_mean -> f2_cat.bn.running_mean``,
#: ``coordconv.0.conv1.0.weight -> coordconv.0.conv.weight``,
#: ``coordconv.1.1.weight -> coordconv.1.bn.weight``. ``txt_proj.{0,1}`` and
#: ``norm_layer.0`` keep their names.
REFERENCE_NECK_RENAMES = (
    (rf'^({_CONV_NAMES})\.0\.', r'\1.conv.'),
    (rf'^({_CONV_NAMES})\.1\.', r'\1.bn.'),
    (r'^coordconv\.0\.conv1\.0\.', 'coordconv.0.conv.'),
    (r'^coordconv\.0\.conv1\.1\.', 'coordconv.0.bn.'),
    (r'^coordconv\.1\.0\.', 'coordconv.1.conv.'),
    (r'^coordconv\.1\.1\.', 'coordconv.1.bn.'),
)

#: ``(pattern, replacement)`` pairs for ``re.sub`` mapping a reference
#: projector key (without the ``proj.`` prefix) to ``TextPixelProjector``'s
#: key: the
#: reference's conv blocks ``vis.{1,3}`` are ``Sequential(Conv2d, BN, ReLU)``,
#: here ConvModules, e.g. ``vis.1.0.weight -> vis.1.conv.weight``,
#: ``vis.3.1.running_var -> vis.3.bn.running_var``. ``vis.4.*`` and
#: ``txt.*`` keep their names.
REFERENCE_PROJ_RENAMES = (
    (r'^vis\.(\d+)\.0\.', r'vis.\1.conv.'),
    (r'^vis\.(\d+)\.1\.', r'vis.\1.bn.'),
)

_CLIP_TEXT_PARTS = ('token_embedding.', 'positional_embedding',
                    'transformer.', 'ln_final.', 'text_projection')
_TEXT_POSITIONS = 'text_encoder.text.positional_embedding'
_CONNECT = 'backbone.visual.attnpool.connect.'


def _rename(key: str, renames: Sequence[Tuple[str, str]]) -> str:
    """``key`` rewritten by the first of ``renames`` that matches it."""
    for pattern, replacement in renames:  # each anchored at the start
        renamed, count = re.subn(pattern, replacement, key)
        if count:
            return renamed
    return key


def map_reference_key(key: str) -> Optional[str]:
    """The mmrefseg name of a reference key.

    Args:
        key (str): A reference key, ``module.`` removed.

    Returns:
        str | None: The mmrefseg key; None for a key no rule knows (and for
        the dropped ones).
    """
    if key.startswith(_CONNECT):
        index, _, name = key[len(_CONNECT):].partition('.')
        part = {'0': 'conv', '1': 'bn'}.get(index)
        return f'backbone.connect.{part}.{name}' if part else None
    if key.startswith('backbone.visual.'):
        return key
    if key.startswith('backbone.'):
        name = key[len('backbone.'):]
        return 'text_encoder.text.' + name \
            if name.startswith(_CLIP_TEXT_PARTS) else None
    if key.startswith('neck.'):
        return 'neck.' + _rename(key[len('neck.'):], REFERENCE_NECK_RENAMES)
    if key.startswith('decoder.'):
        return 'decode_head.' + key
    if key.startswith('proj.'):
        return 'decode_head.proj.' + _rename(key[len('proj.'):],
                                             REFERENCE_PROJ_RENAMES)
    return None


def _cut_positions(key: str, target: str, value: torch.Tensor, shape: tuple,
                   report: ConversionReport) -> torch.Tensor:
    """CLIP's positional embedding cut to the model's ``word_len``."""
    if target == _TEXT_POSITIONS and tuple(value.shape[1:]) == shape[1:] \
            and value.shape[0] > shape[0]:
        report.notes.append(
            f'cut {key} from {value.shape[0]} to {shape[0]} positions '
            '(word_len; CRIS never reads the others)')
        return value[:shape[0]]
    return value


def convert_state_dict(
    source: Dict[str, torch.Tensor], model_shapes: Dict[str, tuple]
) -> Tuple['OrderedDict[str, torch.Tensor]', ConversionReport]:
    """Rename a reference state dict onto a model's keys.

    Args:
        source (dict[str, Tensor]): The reference ``state_dict`` (with or
            without the ``module.`` prefix).
        model_shapes (dict[str, tuple]): The shape of every key of the
            target model's state dict.

    Returns:
        tuple: The converted state dict (model key order) and the
        :class:`~.base.ConversionReport` (mismatches under ``'shape
        mismatches'``).
    """
    report = ConversionReport(mismatch_title='shape mismatches')
    converted = convert_entries(
        ((strip_prefix(key), value) for key, value in source.items()),
        model_shapes,
        lambda key, value: (map_reference_key(key), value),
        lambda key, target: DROPPED_KEYS.get(key),
        report,
        fit=_cut_positions)
    return converted, report


def load_reference_checkpoint(
        path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, float]]:
    """Read a reference checkpoint (or a bare state dict).

    Args:
        path (str): The file.

    Returns:
        tuple: Its ``state_dict`` and its training record
        (``reference_epoch``, ``reference_cur_iou``, ``reference_best_iou``,
        those present as numbers).

    Raises:
        FileNotFoundError: No such file.
        ValueError: ``torch.load(weights_only=True)`` cannot read it, or it
            holds no state dict of tensors.
    """
    checkpoint = load_weights_only(path)
    state_dict = checkpoint.get('state_dict', checkpoint) \
        if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict) or not all(
            torch.is_tensor(v) for v in state_dict.values()):
        raise ValueError(f'{path!r} holds no state dict of tensors (looked '
                         "under 'state_dict' and at the top level)")
    record = {
        f'reference_{key}': checkpoint[key]
        for key in ('epoch', 'cur_iou', 'best_iou')
        if isinstance(checkpoint.get(key), (int, float))
    }
    return state_dict, record


def model_shapes_from_config(config: str) -> Dict[str, tuple]:
    """Build the model of an mmrefseg config; the shapes of its state dict.

    Args:
        config (str): Path of the config.

    Returns:
        dict[str, tuple]: Key -> shape, in the model's order.
    """
    return {
        key: tuple(value.shape)
        for key, value in model_state_from_config(config).items()
    }


def _convert_source(source: Dict[str, torch.Tensor],
                    model_state: Dict[str, torch.Tensor]):
    return convert_state_dict(
        source, {key: tuple(value.shape)
                 for key, value in model_state.items()})


def convert_checkpoint(src: str,
                       dst: str,
                       config: str,
                       force: bool = False) -> ConversionReport:
    """Convert the CRIS checkpoint ``src`` for ``config``; write ``dst``.

    Args:
        src (str): The reference checkpoint.
        dst (str): The mmrefseg checkpoint, written only if the conversion
            is complete.
        config (str): The mmrefseg config of the same model.
        force (bool): Replace an existing ``dst``. Defaults to False.

    Returns:
        ConversionReport: What the conversion did, and its problems.
    """
    return _convert_checkpoint(src, dst, config, load_reference_checkpoint,
                               _convert_source, CONVERTER, force)


def parse_args(argv: Optional[List[str]] = None):
    """Parse the command line of ``cris2mmrefseg.py``.

    Args:
        argv (list[str], optional): The arguments. Defaults to None:
            ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: ``src``, ``dst``, ``config``, ``force``.
    """
    return build_parser('Convert a CRIS.pytorch checkpoint to mmrefseg',
                        'reference checkpoint (.pth)').parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """The command line: convert, print the report, return the status.

    Args:
        argv (list[str], optional): The arguments. Defaults to None:
            ``sys.argv[1:]``.

    Returns:
        int: 0 when the checkpoint was written, 1 otherwise.
    """
    return run_cli(parse_args(argv), convert_checkpoint)
