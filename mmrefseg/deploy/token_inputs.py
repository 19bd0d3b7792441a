"""The token tensors a text encoder reads, and how to make them."""
import inspect
from typing import Dict, List, Tuple

from torch import Tensor, nn

__all__ = ['token_input_names', 'tokenize_texts']


def token_input_names(text_encoder: nn.Module) -> Tuple[str, ...]:
    """The token inputs of ``text_encoder.forward_tokens``, in call order.

    Read from the method's signature, so any encoder following the
    ``tokenize`` / ``forward_tokens`` contract works: ``('token_ids',)`` for
    :class:`~mmrefseg.models.CLIPTextEncoder` (padding is id 0),
    ``('token_ids', 'attention_mask')`` for
    :class:`~mmrefseg.models.BertTextEncoder`.

    Args:
        text_encoder (nn.Module): A text encoder with ``forward_tokens``.

    Returns:
        tuple[str]: The parameter names, ``token_ids`` first.
    """
    forward_tokens = getattr(text_encoder, 'forward_tokens', None)
    if forward_tokens is None:
        raise TypeError(f'{type(text_encoder).__name__} has no '
                        '`forward_tokens(token_ids, ...)`: it cannot be '
                        'exported with tensor inputs')
    names = tuple(inspect.signature(forward_tokens).parameters)
    if not names or names[0] != 'token_ids':
        raise TypeError(f'{type(text_encoder).__name__}.forward_tokens must '
                        f'take `token_ids` first, got {names}')
    unknown = set(names) - {'token_ids', 'attention_mask'}
    if unknown:
        raise TypeError(f'{type(text_encoder).__name__}.forward_tokens takes '
                        f'{sorted(unknown)}, which no exporter input feeds')
    return names


def tokenize_texts(text_encoder: nn.Module,
                   texts: List[str]) -> Dict[str, Tensor]:
    """Tokenise as the encoder's own ``forward(texts)`` does.

    Args:
        text_encoder (nn.Module): A text encoder with ``token_inputs`` and
            ``forward_tokens``.
        texts (list[str]): B sentences.

    Returns:
        dict[str, Tensor]: The encoder's ``token_inputs(texts)`` as int64:
        ``token_ids`` (B, L) and, for encoders that read one,
        ``attention_mask`` (B, L), 1 at real tokens; on the CPU.
    """
    names = token_input_names(text_encoder)
    tokens = text_encoder.token_inputs(list(texts))
    if set(tokens) != set(names):
        raise TypeError(f'{type(text_encoder).__name__}.token_inputs gives '
                        f'{sorted(tokens)}, but forward_tokens takes {names}')
    return {name: tokens[name].long() for name in names}
