"""A referring segmentor as a module of tensors only, for graph export."""
from typing import Optional, Tuple

from torch import Tensor, nn

from .token_inputs import token_input_names

__all__ = ['ReferExportModule']


class ReferExportModule(nn.Module):
    """``(image, token ids[, attention mask]) -> mask logits``.

    Computes what ``ReferSegmentor._forward`` computes, from token tensors
    instead of sentences in data samples: the text encoder's
    ``forward_tokens``, then ``ReferSegmentor.extract_feat_from_text`` and
    the head's ``forward``. The segmentor's submodules are shared, not
    copied. As there, one image may be described by several sentences: an
    image batch of 1 is encoded once.

    Args:
        segmentor (nn.Module): A ``ReferSegmentor`` (``backbone``,
            ``text_encoder``, ``neck`` or None, ``decode_head``).
    """

    def __init__(self, segmentor: nn.Module):
        super().__init__()
        self.segmentor = segmentor
        self.text_encoder = segmentor.text_encoder
        self.token_names = token_input_names(self.text_encoder)

    @property
    def input_names(self) -> Tuple[str, ...]:
        """``('image', 'token_ids'[, 'attention_mask'])``."""
        return ('image', ) + self.token_names

    def forward(self,
                image: Tensor,
                token_ids: Tensor,
                attention_mask: Optional[Tensor] = None) -> Tensor:
        """Mask logits of a batch.

        Args:
            image (Tensor): (B, 3, H, W) or (1, 3, H, W) normalised images.
            token_ids (Tensor): (B, L) int64.
            attention_mask (Tensor, optional): (B, L) int64, 1 at real
                tokens, for encoders that read one. Defaults to None.

        Returns:
            Tensor: (B, 1, h, w) mask logits at the head's resolution.
        """
        if attention_mask is None:
            text = self.text_encoder.forward_tokens(token_ids)
        else:
            text = self.text_encoder.forward_tokens(token_ids, attention_mask)
        feats = self.segmentor.extract_feat_from_text(image, text)
        return self.segmentor.decode_head.forward(feats)
