from .clip_checkpoint import (check_local_checkpoint, load_clip_state_dict,
                              load_encoder_weights, select_prefix)

__all__ = [
    'check_local_checkpoint', 'load_clip_state_dict', 'load_encoder_weights',
    'select_prefix'
]
