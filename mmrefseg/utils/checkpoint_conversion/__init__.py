"""Conversion of reference checkpoints (CRIS.pytorch, LAVT-RIS) to mmrefseg.

:mod:`.base` holds what every converter shares (the report, the conversion
loop, the atomic writing, the command line); :mod:`.cris` and :mod:`.lavt`
hold the key mapping of one reference each; :mod:`.verification` holds the
helpers of the tools that compare a converted model with the reference code.
The command lines are ``tools/model_converters/{cris,lavt}2mmrefseg.py``.
No module of :mod:`mmrefseg.models` imports this package.
"""
from . import cris, lavt, verification
from .base import (ConversionReport, build_parser, convert_checkpoint,
                   convert_entries, model_state_from_config, run_cli,
                   strip_prefix)

__all__ = [
    'ConversionReport', 'build_parser', 'convert_checkpoint',
    'convert_entries', 'model_state_from_config', 'run_cli', 'strip_prefix',
    'cris', 'lavt', 'verification'
]
