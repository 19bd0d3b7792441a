from .clip_checkpoint import (check_local_checkpoint, load_clip_state_dict,
                              load_encoder_weights, save_clip_torchscript,
                              select_prefix)

__all__ = [
    'check_local_checkpoint', 'load_clip_state_dict', 'load_encoder_weights',
    'select_prefix', 'save_clip_torchscript'
]
