"""Convert a LAVT checkpoint (github.com/yz93/LAVT-RIS) into mmrefseg's.

The reference's ``train.py`` saves ``{'model', 'bert_model', 'optimizer',
'epoch', 'args', 'lr_scheduler'}``: ``model`` is the ``lavt`` model (Swin
backbone with its fusion modules, ``classifier``), ``bert_model`` the BERT
that runs beside it. (A ``lavt_one`` checkpoint keeps BERT inside ``model``
as ``text_encoder.*``; it converts the same way.) Onto mmrefseg's
``ReferSegmentor`` with ``LAVTSwin``, ``BertTextEncoder`` and
``LAVTSimpleDecodingHead``:

- ``backbone.layers.{i}.fusion.vis_project.0.*`` ->
  ``backbone.pixel_word_attns.{i}.vis_proj.*``; likewise
  ``image_lang_att.f_query.0`` -> ``query_proj``, ``image_lang_att.f_key.0``
  -> ``key_proj``, ``image_lang_att.f_value.0`` -> ``value_proj``,
  ``image_lang_att.W.0`` -> ``out_proj``, ``project_mm.0`` -> ``mm_proj``;
  the 1x1 ``Conv1d`` weights (C_out, C_in, 1) become ``Linear`` weights
- ``backbone.layers.{i}.res_gate.{0,2}.weight`` ->
  ``backbone.language_gates.{i}.{fc1,fc2}.weight``
- the other ``backbone.*`` keys (Swin) -> ``backbone.*`` renamed for mmseg's
  Swin by ``convert_official_swin`` (patch merging reordered);
  ``backbone.norm{i}.*`` keep their names
- ``classifier.{conv,bn}{1,2}_4.*`` ->
  ``decode_head.fuse_c3.{0,1}.{conv,bn}.*``,
  ``_3`` -> ``fuse_c2``, ``_2`` -> ``fuse_c1``; ``classifier.conv1_1.*`` ->
  ``decode_head.conv_seg.*``
- ``bert_model.*`` (or ``text_encoder.*`` of ``model``) ->
  ``text_encoder.bert.*``

Dropped, by name: BERT's pooler (LAVT never reads it; ``BertTextEncoder``
builds none) and the constant ``position_ids`` / ``token_type_ids`` buffers
where the model does not store them. Every other source key must be
consumed, every model key filled, every shape equal, and the Swin
``relative_position_index`` buffers equal to the model's; otherwise nothing is
written and the problems are listed. The output, in mmengine's format
``{'meta': ..., 'state_dict': ...}``, is written atomically and never
replaces an existing file unless ``--force`` is given.

Example::

    python tools/model_converters/lavt2mmrefseg.py refcoco.pth \\
        lavt_swinb_refcoco.pth --config configs/lavt/lavt_swinb_refcoco.py
"""
import argparse
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

from mmrefseg.engine.fileio import save_checkpoint_atomically
from mmrefseg.models.backbones.swin_attn_pool import convert_official_swin

#: PWAM sub-module of the reference -> ``PixelWordAttention`` layer
PWAM_RENAMES = {
    'vis_project.0': 'vis_proj',
    'image_lang_att.f_query.0': 'query_proj',
    'image_lang_att.f_key.0': 'key_proj',
    'image_lang_att.f_value.0': 'value_proj',
    'image_lang_att.W.0': 'out_proj',
    'project_mm.0': 'mm_proj',
}
#: ``SimpleDecoding`` level suffix -> ``LAVTSimpleDecodingHead`` block
DECODER_LEVELS = {'4': 'fuse_c3', '3': 'fuse_c2', '2': 'fuse_c1'}
#: source prefixes whose keys are dropped, with the reason
DROPPED_PREFIXES = {
    'bert_model.pooler.':
    "BERT's pooler: LAVT never reads it and BertTextEncoder builds none",
    'text_encoder.pooler.':
    "BERT's pooler: LAVT never reads it and BertTextEncoder builds none",
}
#: constant buffers dropped when the model does not store them
CONSTANT_BUFFERS = ('embeddings.position_ids', 'embeddings.token_type_ids')


def _map_backbone(name: str, value: torch.Tensor
                  ) -> Tuple[Optional[str], torch.Tensor]:
    """A reference backbone key (without ``backbone.``) and its value."""
    match = re.match(r'^layers\.(\d+)\.fusion\.(.+)\.(weight|bias)$', name)
    if match:
        stage, module, param = match.groups()
        layer = PWAM_RENAMES.get(module)
        if layer is None:
            return None, value
        if param == 'weight' and value.dim() == 3:
            value = value.squeeze(-1)
        return f'pixel_word_attns.{stage}.{layer}.{param}', value
    match = re.match(r'^layers\.(\d+)\.res_gate\.(\d)\.weight$', name)
    if match:
        stage, index = match.groups()
        layer = {'0': 'fc1', '2': 'fc2'}.get(index)
        return (f'language_gates.{stage}.{layer}.weight'
                if layer else None), value
    if not name.startswith(('patch_embed.', 'layers.', 'norm')):
        return None, value
    ((new_name, new_value), ) = convert_official_swin({name: value}).items()
    return new_name, new_value


def _map_classifier(name: str) -> Optional[str]:
    """A reference ``SimpleDecoding`` key (without ``classifier.``)."""
    if name.startswith('conv1_1.'):
        return 'conv_seg.' + name[len('conv1_1.'):]
    match = re.match(r'^(conv|bn)([12])_([234])\.(.+)$', name)
    if not match:
        return None
    kind, index, level, param = match.groups()
    block = int(index) - 1
    layer = 'conv' if kind == 'conv' else 'bn'
    return f'{DECODER_LEVELS[level]}.{block}.{layer}.{param}'


def map_reference_entry(key: str, value: torch.Tensor
                        ) -> Tuple[Optional[str], torch.Tensor]:
    """The mmrefseg key and value of one reference entry.

    Args:
        key (str): ``backbone.*``, ``classifier.*`` or ``text_encoder.*``
            (a ``model`` key, ``module.`` removed) or ``bert_model.*``.
        value (Tensor): Its tensor.

    Returns:
        tuple: the mmrefseg key (None when no rule knows ``key``) and the
        value, reshaped or reordered where the layouts differ.
    """
    if key.startswith('backbone.'):
        name, value = _map_backbone(key[len('backbone.'):], value)
        return (None if name is None else 'backbone.' + name), value
    if key.startswith('classifier.'):
        name = _map_classifier(key[len('classifier.'):])
        return (None if name is None else 'decode_head.' + name), value
    for prefix in ('bert_model.', 'text_encoder.'):
        if key.startswith(prefix):
            return 'text_encoder.bert.' + key[len(prefix):], value
    return None, value


class ConversionReport:
    """What a conversion did and what stands in its way."""

    def __init__(self):
        self.dropped: List[Tuple[str, str]] = []
        self.not_consumed: List[str] = []
        self.not_filled: List[str] = []
        self.mismatched: List[str] = []

    @property
    def complete(self) -> bool:
        return not (self.not_consumed or self.not_filled or self.mismatched)

    def lines(self) -> List[str]:
        lines = [f'dropped {key}: {why}' for key, why in self.dropped]
        for title, keys in (
            ('source keys not consumed (no rule, or no such model key)',
             self.not_consumed),
            ('model keys not filled', self.not_filled),
            ('mismatches', self.mismatched),
        ):
            if keys:
                lines.append(f'{title} ({len(keys)}):')
                lines += [f'  {key}' for key in keys]
        return lines


def _drop_reason(key: str, model_state: Dict[str, torch.Tensor],
                 target: Optional[str]) -> Optional[str]:
    for prefix, why in DROPPED_PREFIXES.items():
        if key.startswith(prefix):
            return why
    if key.endswith(CONSTANT_BUFFERS) and target not in model_state:
        return 'a constant buffer that transformers rebuilds'
    return None


def convert_state_dicts(
    model: Dict[str, torch.Tensor],
    bert: Optional[Dict[str, torch.Tensor]],
    model_state: Dict[str, torch.Tensor],
) -> Tuple['OrderedDict[str, torch.Tensor]', ConversionReport]:
    """Map LAVT's ``model`` and ``bert_model`` state dicts onto a model.

    Args:
        model (dict[str, Tensor]): The reference's ``model`` (keys with or
            without ``module.``).
        bert (dict[str, Tensor], optional): Its ``bert_model``; None for a
            ``lavt_one`` checkpoint.
        model_state (dict[str, Tensor]): The target model's state dict (its
            shapes, and its ``relative_position_index`` values to compare).

    Returns:
        tuple: the converted state dict (model key order) and the report.
    """
    report = ConversionReport()
    sources = [(k[len('module.'):] if k.startswith('module.') else k, v)
               for k, v in model.items()]
    sources += [('bert_model.' +
                 (k[len('module.'):] if k.startswith('module.') else k), v)
                for k, v in (bert or {}).items()]
    converted = {}
    for key, value in sources:
        target, value = map_reference_entry(key, value)
        why = _drop_reason(key, model_state, target)
        if why is not None:
            report.dropped.append((key, why))
            continue
        if target is None or target not in model_state:
            report.not_consumed.append(
                key if target is None else f'{key} (-> {target})')
            continue
        own = model_state[target]
        if tuple(value.shape) != tuple(own.shape):
            report.mismatched.append(f'{key} {tuple(value.shape)} -> '
                                     f'{target} {tuple(own.shape)}')
            continue
        if target.endswith('relative_position_index') and \
                not torch.equal(value.to(own.dtype), own):
            report.mismatched.append(
                f'{key}: the window indexing differs from {target}')
            continue
        if target in converted:
            report.mismatched.append(f'{key}: {target} filled twice')
            continue
        converted[target] = value
    report.not_filled = [key for key in model_state if key not in converted]
    ordered = OrderedDict(
        (key, converted[key]) for key in model_state if key in converted)
    return ordered, report


def load_reference_checkpoint(path: str) -> Tuple[dict, Optional[dict], dict]:
    """``model``, ``bert_model`` (None if absent) and the training record
    (``epoch``) of a LAVT checkpoint."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'no such checkpoint: {path!r}')
    # LAVT stores its argparse.Namespace under 'args'
    with torch.serialization.safe_globals([argparse.Namespace]):
        try:
            checkpoint = torch.load(
                path, map_location='cpu', weights_only=True)
        except Exception as error:
            raise ValueError(
                f'cannot read {path!r} with torch.load(weights_only=True): '
                f'{error}') from error
    if not isinstance(checkpoint, dict) or not isinstance(
            checkpoint.get('model'), dict):
        raise ValueError(f"{path!r} has no 'model' state dict (a LAVT "
                         "checkpoint holds 'model' and 'bert_model')")
    bert = checkpoint.get('bert_model')
    for name, state in (('model', checkpoint['model']), ('bert_model',
                                                        bert or {})):
        if not all(torch.is_tensor(v) for v in state.values()):
            raise ValueError(f"{path!r}: '{name}' is not a state dict of "
                             'tensors')
    record = {
        f'reference_{key}': checkpoint[key]
        for key in ('epoch', ) if isinstance(checkpoint.get(key), int)
    }
    return checkpoint['model'], bert, record


def model_state_from_config(config: str) -> Dict[str, torch.Tensor]:
    """Build the model of an mmrefseg config; its state dict."""
    from mmengine.config import Config

    from mmrefseg.registry import MODELS
    from mmrefseg.utils import register_all_modules
    register_all_modules()
    return MODELS.build(Config.fromfile(config).model).state_dict()


def convert_checkpoint(src: str, dst: str, config: str,
                       force: bool = False) -> ConversionReport:
    """Convert ``src`` for the model of ``config`` and write ``dst``.

    ``dst`` is written only if the conversion is complete.
    """
    if osp.exists(dst) and not force:
        raise FileExistsError(f'{dst!r} exists; pass --force to replace it')
    model, bert, record = load_reference_checkpoint(src)
    state_dict, report = convert_state_dicts(model, bert,
                                             model_state_from_config(config))
    if report.complete:
        meta = dict(
            converted_from=osp.basename(src),
            converter='tools/model_converters/lavt2mmrefseg.py',
            config=osp.basename(config),
            **record)
        save_checkpoint_atomically(
            dict(meta=meta, state_dict=state_dict), dst, force=force)
    return report


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a LAVT (LAVT-RIS) checkpoint to mmrefseg')
    parser.add_argument('src', help="LAVT checkpoint (.pth with 'model' "
                        "and 'bert_model')")
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
