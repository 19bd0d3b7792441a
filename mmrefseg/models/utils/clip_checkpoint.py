"""Reading CLIP weights from a local file, for both CLIP encoders.

Two layouts are understood, both with the OpenAI key names (``visual.*`` for
the image tower; ``token_embedding``, ``positional_embedding``,
``transformer.resblocks.*``, ``ln_final``, ``text_projection`` for the text
tower):

- OpenAI's TorchScript archives (``RN50.pt``, ``RN101.pt``), which plain
  ``torch.load`` (and so mmengine's ``Pretrained`` initialiser) cannot read;
- open_clip checkpoints: a state dict, possibly under ``'state_dict'`` and with
  the ``module.`` prefix of DDP, saved with ``torch.save`` or as
  ``.safetensors``.

Weights are never downloaded: a URL or a hub name is refused.
"""
import logging
import os
import os.path as osp
import zipfile
from typing import Dict, Iterable, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

__all__ = [
    'load_clip_state_dict', 'select_prefix', 'load_encoder_weights',
    'check_local_checkpoint', 'save_clip_torchscript'
]

# The bookkeeping entries of OpenAI's archives (not weights).
_OPENAI_ARCHIVE_INFO = (('input_resolution', 224), ('context_length', 77),
                        ('vocab_size', 49408))


def check_local_checkpoint(path) -> str:
    """Return ``path`` as a str if it names an existing local file.

    Raises:
        TypeError: ``path`` is not a str or path-like.
        ValueError: ``path`` is a URL.
        FileNotFoundError: no such file (for example a hub name like
            ``'RN50'`` or ``'openai'``).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError('a CLIP checkpoint must be given as a local file '
                        f'path, got {type(path).__name__}: {path!r}')
    path = os.fspath(path)
    if '://' in path:
        raise ValueError(
            f'CLIP checkpoint {path!r} is a URL; mmrefseg never downloads '
            'weights. Download the file yourself and pass its local path.')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'CLIP checkpoint {path!r} is not a local file. mmrefseg never '
            'downloads weights (hub names such as "RN50" or "openai" are not '
            'understood): pass the path of OpenAI\'s RN50.pt / RN101.pt '
            'archive or of an open_clip checkpoint.')
    return path


def _is_torchscript_archive(path: str) -> bool:
    """TorchScript archives are zip files holding ``<name>/constants.pkl``."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(
            name.endswith('/constants.pkl') for name in archive.namelist())


def load_clip_state_dict(path) -> Dict[str, Tensor]:
    """Read a CLIP state dict from a local OpenAI archive or open_clip file.

    Args:
        path (str | os.PathLike): local path of OpenAI's TorchScript archive
            (``RN50.pt``), an open_clip checkpoint saved with ``torch.save``
            (a state dict, or a dict holding it under ``'state_dict'``) or a
            ``.safetensors`` file.

    Returns:
        dict[str, Tensor]: the tensors on the CPU with OpenAI key names (the
        ``module.`` prefix of DDP removed).
    """
    path = check_local_checkpoint(path)
    if _is_torchscript_archive(path):
        state_dict = torch.jit.load(path, map_location='cpu').state_dict()
    elif path.endswith('.safetensors'):
        from safetensors.torch import load_file
        state_dict = load_file(path, device='cpu')
    else:
        try:
            checkpoint = torch.load(
                path, map_location='cpu', weights_only=True)
        except Exception as error:  # pickle errors come in many types
            raise ValueError(
                f'cannot read CLIP checkpoint {path!r} as a TorchScript '
                'archive or a state dict of tensors saved with torch.save: '
                f'{error}') from error
        state_dict = checkpoint
        if isinstance(checkpoint, dict) and 'state_dict' in checkpoint:
            state_dict = checkpoint['state_dict']
    if not isinstance(state_dict, dict):
        raise ValueError(f'CLIP checkpoint {path!r} holds a '
                         f'{type(state_dict).__name__}, not a state dict')
    not_tensors = [k for k, v in state_dict.items() if not torch.is_tensor(v)]
    if not_tensors:
        raise ValueError(f'CLIP checkpoint {path!r} is not a state dict of '
                         f'tensors: keys {not_tensors[:5]} hold other values')
    return {_strip_ddp_prefix(k): v for k, v in state_dict.items()}


def save_clip_torchscript(state_dict: Dict[str, Tensor], path) -> None:
    """Save tensors as a TorchScript archive laid out as OpenAI ships CLIP.

    The archive holds a scripted module tree whose ``state_dict()`` gives the
    same keys back (as :func:`load_clip_state_dict` reads it), plus OpenAI's
    bookkeeping entries ``input_resolution``, ``context_length`` and
    ``vocab_size``. For code that, like the CRIS reference, only reads
    OpenAI archives: tests and the conversion checks.

    Args:
        state_dict (dict[str, Tensor]): OpenAI key names.
        path (str | os.PathLike): Where to write the archive.
    """
    root = nn.Module()
    for key, value in state_dict.items():
        *parents, leaf = key.split('.')
        module = root
        for name in parents:
            if name not in module._modules:
                module.add_module(name, nn.Module())
            module = module._modules[name]
        module.register_parameter(leaf, nn.Parameter(value.clone(), False))
    for name, value in _OPENAI_ARCHIVE_INFO:
        root.register_buffer(name, torch.tensor(value))
    torch.jit.script(root).save(str(path))


def _strip_ddp_prefix(key: str) -> str:
    return key[len('module.'):] if key.startswith('module.') else key


def select_prefix(state_dict: Dict[str, Tensor],
                  prefix: str) -> Dict[str, Tensor]:
    """The entries whose key starts with ``prefix``, with it removed."""
    return {
        key[len(prefix):]: value
        for key, value in state_dict.items() if key.startswith(prefix)
    }


def load_encoder_weights(module: nn.Module,
                         state_dict: Dict[str, Tensor],
                         source: str,
                         new_modules: Iterable[str] = (),
                         name: Optional[str] = None,
                         logger: Optional[str] = 'current'
                         ) -> Tuple[List[str], List[str]]:
    """Copy ``state_dict`` into ``module``, reporting every key left out.

    Shapes must agree: a mismatch raises, naming the key and both shapes.
    Keys of ``module`` missing from the file and keys of the file unknown to
    ``module`` are reported by name (a warning: a partial checkpoint still
    loads); ``new_modules`` names parts that CLIP never had, reported once
    as randomly initialised.

    Args:
        module (nn.Module): the module to fill.
        state_dict (dict[str, Tensor]): weights with ``module``'s key names.
        source (str): the file they came from, for the messages.
        new_modules (Iterable[str]): names of parts of the encoder that are
            not in CLIP. Defaults to ().
        name (str, optional): the encoder's name in the messages. Defaults
            to None (``module``'s class name).
        logger (str, optional): mmengine logger. Defaults to 'current'.

    Returns:
        tuple[list[str], list[str]]: the missing and the unexpected keys.
    """
    own = module.state_dict()
    for key, value in state_dict.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(
                f'{source}: {key!r} has shape {tuple(value.shape)} but '
                f'{type(module).__name__} expects {tuple(own[key].shape)}; '
                'check that the architecture in the config matches the '
                'checkpoint')
    missing, unexpected = module.load_state_dict(state_dict, strict=False)
    name = name or type(module).__name__
    if missing:
        print_log(
            f'{name}: keys missing from {source}, left randomly '
            f'initialised: {", ".join(missing)}',
            logger=logger,
            level=logging.WARNING)
    if unexpected:
        print_log(
            f'{name}: keys of {source} not used: {", ".join(unexpected)}',
            logger=logger,
            level=logging.WARNING)
    new_modules = list(new_modules)
    if new_modules:
        print_log(
            f'{name}: {", ".join(new_modules)} not part of CLIP, randomly '
            'initialised',
            logger=logger)
    print_log(
        f'{name}: loaded {len(state_dict) - len(unexpected)} tensors from '
        f'{source}',
        logger=logger)
    return missing, unexpected
