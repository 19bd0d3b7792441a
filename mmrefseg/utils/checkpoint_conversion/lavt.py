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
written and the problems are listed. ``tools/model_converters/
lavt2mmrefseg.py`` is the command line (:func:`main`).
"""
import argparse
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from mmrefseg.models.backbones.swin_attn_pool import convert_official_swin
from .base import (ConversionReport, build_parser, convert_entries,
                   load_weights_only, model_state_from_config, run_cli,
                   strip_prefix)
from .base import convert_checkpoint as _convert_checkpoint

__all__ = [
    'PWAM_RENAMES', 'DECODER_LEVELS', 'DROPPED_PREFIXES', 'CONSTANT_BUFFERS',
    'CONVERTER', 'map_reference_entry', 'convert_state_dicts',
    'load_reference_checkpoint', 'model_state_from_config',
    'convert_checkpoint', 'parse_args', 'main'
]

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
_POOLER = "BERT's pooler: LAVT never reads it and BertTextEncoder builds none"
#: source prefixes whose keys are dropped, with the reason
DROPPED_PREFIXES = {
    'bert_model.pooler.': _POOLER,
    'text_encoder.pooler.': _POOLER,
}
#: constant buffers dropped when the model does not store them
CONSTANT_BUFFERS = ('embeddings.position_ids', 'embeddings.token_type_ids')
#: the command line, named in the meta of the checkpoints it writes
CONVERTER = 'tools/model_converters/lavt2mmrefseg.py'


def _map_backbone(name: str, value: torch.Tensor
                  ) -> Tuple[Optional[str], torch.Tensor]:
    """A reference backbone key (without ``backbone.``) and its value."""
    match = re.match(r'^layers\.(\d+)\.fusion\.(.+)\.(weight|bias)$', name)
    if match:
        stage, module, param = match.groups()
        layer = PWAM_RENAMES.get(module)
        if layer is None:
            return None, value
        if value.dim() == 3:  # a Conv1d weight: (C_out, C_in, 1)
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
    return f'{DECODER_LEVELS[level]}.{block}.{kind}.{param}'


def map_reference_entry(key: str, value: torch.Tensor
                        ) -> Tuple[Optional[str], torch.Tensor]:
    """The mmrefseg key and value of one reference entry.

    Args:
        key (str): ``backbone.*``, ``classifier.*`` or ``text_encoder.*``
            (a ``model`` key, ``module.`` removed) or ``bert_model.*``.
        value (Tensor): Its tensor.

    Returns:
        tuple: The mmrefseg key (None when no rule knows ``key``) and the
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


def _drop_reason(key: str, target: Optional[str],
                 model_shapes: Mapping[str, tuple]) -> Optional[str]:
    """Why ``key`` is left out (None: convert it)."""
    for prefix, why in DROPPED_PREFIXES.items():
        if key.startswith(prefix):
            return why
    if key.endswith(CONSTANT_BUFFERS) and target not in model_shapes:
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
        tuple: The converted state dict (model key order) and the
        :class:`~.base.ConversionReport`.
    """
    sources = [(strip_prefix(key), value) for key, value in model.items()]
    sources += [('bert_model.' + strip_prefix(key), value)
                for key, value in (bert or {}).items()]
    shapes = {key: tuple(value.shape) for key, value in model_state.items()}

    def check(key: str, target: str, value: torch.Tensor) -> Optional[str]:
        own = model_state[target]
        if target.endswith('relative_position_index') and \
                not torch.equal(value, own):
            return f'{key}: the window indexing differs from {target}'
        return None

    report = ConversionReport()
    converted = convert_entries(
        sources,
        shapes,
        map_reference_entry,
        lambda key, target: _drop_reason(key, target, shapes),
        report,
        check=check)
    return converted, report


def load_reference_checkpoint(path: str) -> Tuple[dict, Optional[dict], dict]:
    """Read a LAVT checkpoint.

    Args:
        path (str): The file.

    Returns:
        tuple: ``model``, ``bert_model`` (None if absent) and the training
        record (``reference_epoch`` when present).

    Raises:
        FileNotFoundError: No such file.
        ValueError: ``torch.load(weights_only=True)`` cannot read it, it has
            no ``model`` dict, or ``model`` / ``bert_model`` hold other
            things than tensors.
    """
    # LAVT stores its argparse.Namespace under 'args'
    checkpoint = load_weights_only(path, safe_globals=[argparse.Namespace])
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


def _load_source(path: str):
    model, bert, record = load_reference_checkpoint(path)
    return (model, bert), record


def _convert_source(source, model_state: Dict[str, torch.Tensor]):
    model, bert = source
    return convert_state_dicts(model, bert, model_state)


def convert_checkpoint(src: str,
                       dst: str,
                       config: str,
                       force: bool = False) -> ConversionReport:
    """Convert the LAVT checkpoint ``src`` for ``config``; write ``dst``.

    Args:
        src (str): The reference checkpoint.
        dst (str): The mmrefseg checkpoint, written only if the conversion
            is complete.
        config (str): The mmrefseg config of the same model.
        force (bool): Replace an existing ``dst``. Defaults to False.

    Returns:
        ConversionReport: What the conversion did, and its problems.
    """
    return _convert_checkpoint(src, dst, config, _load_source,
                               _convert_source, CONVERTER, force)


def parse_args(argv: Optional[List[str]] = None):
    """Parse the command line of ``lavt2mmrefseg.py``.

    Args:
        argv (list[str], optional): The arguments. Defaults to None:
            ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: ``src``, ``dst``, ``config``, ``force``.
    """
    return build_parser(
        'Convert a LAVT (LAVT-RIS) checkpoint to mmrefseg',
        "LAVT checkpoint (.pth with 'model' and 'bert_model')").parse_args(
            argv)


def main(argv: Optional[List[str]] = None) -> int:
    """The command line: convert, print the report, return the status.

    Args:
        argv (list[str], optional): The arguments. Defaults to None:
            ``sys.argv[1:]``.

    Returns:
        int: 0 when the checkpoint was written, 1 otherwise.
    """
    return run_cli(parse_args(argv), convert_checkpoint)
