"""Convert a LAVT checkpoint (github.com/yz93/LAVT-RIS) into mmrefseg's.

The conversion is :mod:`mmrefseg.utils.checkpoint_conversion.lavt` (its
docstring lists how the reference's ``model`` and ``bert_model`` keys map
onto mmrefseg's). Every source key must be consumed (BERT's pooler and
constant buffers are dropped by name), every model key filled, every shape
equal, and the Swin ``relative_position_index`` buffers equal to the model's;
otherwise nothing is written and the problems are listed. The output, in
mmengine's format ``{'meta': ..., 'state_dict': ...}``, is written
atomically and never replaces an existing file unless ``--force`` is given.

Example::

    python tools/model_converters/lavt2mmrefseg.py refcoco.pth \\
        lavt_swinb_refcoco.pth --config configs/lavt/lavt_swinb_refcoco.py
"""
import sys

from mmrefseg.utils.checkpoint_conversion.lavt import (  # noqa: F401
    convert_checkpoint, convert_state_dicts, load_reference_checkpoint, main,
    map_reference_entry, model_state_from_config, parse_args)

if __name__ == '__main__':
    sys.exit(main())
