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

The model built from ``--config`` is the check: every source key must be
consumed, every model key filled, every shape equal. Otherwise nothing is
written and the problems are listed. The output, in mmengine's format
``{'meta': ..., 'state_dict': ...}``, is written atomically and never
replaces an existing file unless ``--force`` is given.

Example::

    python tools/model_converters/cris2mmrefseg.py \\
        exp/refcoco/CRIS_R50/best_model.pth cris_r50_refcoco.pth \\
        --config configs/cris/cris_r50_refcoco.py
"""
import argparse
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from mmrefseg.engine.fileio import save_checkpoint_atomically
from mmrefseg.models.layers.text_pixel_projector import REFERENCE_PROJ_RENAMES
from mmrefseg.models.necks.fusion_neck import REFERENCE_NECK_RENAMES

#: reference keys deliberately left out, with the reason
DROPPED_KEYS = {
    'backbone.logit_scale':
    "CLIP's contrastive temperature; CRIS never uses it",
}
_CLIP_TEXT_PARTS = ('token_embedding.', 'positional_embedding',
                    'transformer.', 'ln_final.', 'text_projection')
_TEXT_POSITIONS = 'text_encoder.text.positional_embedding'


def _rename(key: str, renames: Sequence[Tuple[str, str]]) -> str:
    for pattern, replacement in renames:
        renamed, count = re.subn(pattern, replacement, key, count=1)
        if count:
            return renamed
    return key


def map_reference_key(key: str) -> Optional[str]:
    """The mmrefseg name of a reference key (``module.`` removed).

    Returns None for a key no rule knows (and for the dropped ones).
    """
    if key.startswith('backbone.visual.attnpool.connect.'):
        index, _, name = key[len('backbone.visual.attnpool.connect.'):] \
            .partition('.')
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


class ConversionReport:
    """What a conversion did and what stands in its way."""

    def __init__(self):
        self.dropped: List[str] = []
        self.notes: List[str] = []
        self.not_consumed: List[str] = []
        self.not_filled: List[str] = []
        self.mismatched: List[str] = []

    @property
    def complete(self) -> bool:
        return not (self.not_consumed or self.not_filled or self.mismatched)

    def lines(self) -> List[str]:
        lines = [f'dropped {key}: {DROPPED_KEYS[key]}' for key in self.dropped]
        lines += self.notes
        for title, keys in (
            ('source keys not consumed (no rule, or no such model key)',
             self.not_consumed),
            ('model keys not filled', self.not_filled),
            ('shape mismatches', self.mismatched),
        ):
            if keys:
                lines.append(f'{title} ({len(keys)}):')
                lines += [f'  {key}' for key in keys]
        return lines


def convert_state_dict(
    source: Dict[str, torch.Tensor], model_shapes: Dict[str, tuple]
) -> Tuple['OrderedDict[str, torch.Tensor]', ConversionReport]:
    """Rename a reference state dict onto a model's keys.

    Args:
        source (dict[str, Tensor]): the reference ``state_dict`` (with or
            without the ``module.`` prefix).
        model_shapes (dict[str, tuple]): shape of every key of the target
            model's state dict.

    Returns:
        tuple: the converted state dict (model key order) and the report.
    """
    report = ConversionReport()
    converted = {}
    for key, value in source.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        if key in DROPPED_KEYS:
            report.dropped.append(key)
            continue
        target = map_reference_key(key)
        if target is None or target not in model_shapes:
            report.not_consumed.append(
                key if target is None else f'{key} (-> {target})')
            continue
        shape = model_shapes[target]
        if target == _TEXT_POSITIONS and value.shape[1:] == shape[1:] \
                and value.shape[0] > shape[0]:
            report.notes.append(
                f'cut {key} from {value.shape[0]} to {shape[0]} positions '
                '(word_len; CRIS never reads the others)')
            value = value[:shape[0]]
        if tuple(value.shape) != shape:
            report.mismatched.append(
                f'{key} {tuple(value.shape)} -> {target} {shape}')
            continue
        converted[target] = value
    report.not_filled = [key for key in model_shapes if key not in converted]
    ordered = OrderedDict(
        (key, converted[key]) for key in model_shapes if key in converted)
    return ordered, report


def load_reference_checkpoint(
        path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, float]]:
    """The ``state_dict`` of a reference checkpoint (or a bare state dict)
    and its training record (``epoch``, ``cur_iou``, ``best_iou``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'no such checkpoint: {path!r}')
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:
        raise ValueError(
            f'cannot read {path!r} with torch.load(weights_only=True): '
            f'{error}') from error
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
    """Build the model of an mmrefseg config; shapes of its state dict."""
    from mmengine.config import Config

    from mmrefseg.registry import MODELS
    from mmrefseg.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(Config.fromfile(config).model)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def convert_checkpoint(src: str, dst: str, config: str,
                       force: bool = False) -> ConversionReport:
    """Convert ``src`` for the model of ``config`` and write ``dst``.

    ``dst`` is written only if the conversion is complete.
    """
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst!r} exists; pass --force to replace it')
    source, record = load_reference_checkpoint(src)
    state_dict, report = convert_state_dict(source,
                                            model_shapes_from_config(config))
    if report.complete:
        meta = dict(
            converted_from=osp.basename(src),
            converter='tools/model_converters/cris2mmrefseg.py',
            config=osp.basename(config),
            **record)
        save_checkpoint_atomically(
            dict(meta=meta, state_dict=state_dict), dst, force=force)
    return report


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a CRIS.pytorch checkpoint to mmrefseg')
    parser.add_argument('src', help='reference checkpoint (.pth)')
    parser.add_argument('dst', help='mmrefseg checkpoint to write')
    parser.add_argument(
        '--config',
        required=True,
        help='mmrefseg config of the same model: its state dict is the '
        'check that every key is converted')
    parser.add_argument(
        '--force', action='store_true', help='replace an existing DST')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    report = convert_checkpoint(args.src, args.dst, args.config, args.force)
    for line in report.lines():
        print(line)
    if not report.complete:
        print(f'conversion incomplete: {args.dst} NOT written',
              file=sys.stderr)
        return 1
    print(f'saved {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
