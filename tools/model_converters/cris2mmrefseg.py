"""Convert a CRIS.pytorch checkpoint into an mmrefseg checkpoint.

The conversion is :mod:`mmrefseg.utils.checkpoint_conversion.cris` (its
docstring lists how the reference's keys map onto mmrefseg's). The model
built from ``--config`` is the check: every source key must be consumed,
every model key filled, every shape equal. Otherwise nothing is written and
the problems are listed. The output, in mmengine's format
``{'meta': ..., 'state_dict': ...}``, is written atomically and never
replaces an existing file unless ``--force`` is given.

Example::

    python tools/model_converters/cris2mmrefseg.py \\
        exp/refcoco/CRIS_R50/best_model.pth cris_r50_refcoco.pth \\
        --config configs/cris/cris_r50_refcoco.py
"""
import sys

from mmrefseg.utils.checkpoint_conversion.cris import (  # noqa: F401
    DROPPED_KEYS, convert_checkpoint, convert_state_dict,
    load_reference_checkpoint, main, map_reference_key,
    model_shapes_from_config, parse_args)

if __name__ == '__main__':
    sys.exit(main())
