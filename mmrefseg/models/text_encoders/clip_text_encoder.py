"""CLIP's text transformer as a word and sentence encoder (CRIS)."""
import functools
from typing import Dict, List, Optional

from mmengine.model import BaseModule
from open_clip.tokenizer import SimpleTokenizer
from open_clip.transformer import QuickGELU, TextTransformer
from torch import Tensor, nn

from mmrefseg.registry import MODELS
from ..utils import load_clip_state_dict, load_encoder_weights, select_prefix

__all__ = ['CLIPTextEncoder']

# The text tower's keys in a CLIP state dict: top level in OpenAI archives
# and open_clip's CLIP, under "text." in open_clip's CustomTextCLIP.
_TEXT_KEYS = ('token_embedding.', 'positional_embedding', 'transformer.',
              'ln_final.', 'text_projection')


@functools.lru_cache(maxsize=None)
def _bpe_tokenizer() -> SimpleTokenizer:
    """open_clip's BPE tokenizer (vocabulary shipped with open_clip)."""
    return SimpleTokenizer()


@MODELS.register_module()
class CLIPTextEncoder(BaseModule):
    """CLIP text transformer giving word features and a sentence feature.

    The tower is open_clip's ``TextTransformer`` (kept as ``text``, open_clip's
    own name in ``CustomTextCLIP``) built for ``context_length`` tokens: the
    positional embedding holds ``context_length`` positions and the causal
    mask is ``context_length`` square, as in CRIS, where the sentence length
    ``word_len`` (17 RefCOCO/+, 22 G-Ref) replaces CLIP's 77.

    Tokenisation is open_clip's CLIP BPE: ``[SOT] tokens [EOT]`` padded with
    0; a longer sentence is cut to ``context_length`` tokens whose last is
    replaced by EOT (the CRIS reference's ``tokenize(..., truncate=True)``).

    Args:
        context_length (int): tokens per sentence, ``word_len``.
            Defaults to 17.
        vocab_size (int): Defaults to 49408.
        width (int): word feature channels. Defaults to 512.
        heads (int): Defaults to 8.
        layers (int): Defaults to 12.
        embed_dim (int): sentence feature channels (``text_projection``
            output). Defaults to 1024 (RN50; RN101: 512).
        quick_gelu (bool): QuickGELU, as OpenAI's CLIP was trained with;
            False gives ``nn.GELU``. Defaults to True.
        pretrained (str, optional): local path of CLIP weights (OpenAI
            TorchScript archive or open_clip checkpoint), read by
            :meth:`init_weights`; the positional embedding is cut to
            ``context_length``. Defaults to None.
        init_cfg (dict | list[dict], optional): mmengine initialisation
            config. Defaults to None.
    """

    def __init__(self,
                 context_length: int = 17,
                 vocab_size: int = 49408,
                 width: int = 512,
                 heads: int = 8,
                 layers: int = 12,
                 embed_dim: int = 1024,
                 quick_gelu: bool = True,
                 pretrained: Optional[str] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if context_length < 2:
            raise ValueError('context_length must hold at least the SOT and '
                             f'EOT tokens, got {context_length}')
        self.text = TextTransformer(
            context_length=context_length,
            vocab_size=vocab_size,
            width=width,
            heads=heads,
            layers=layers,
            output_dim=embed_dim,
            act_layer=QuickGELU if quick_gelu else nn.GELU,
            output_tokens=True)
        # Run the blocks sequence first, open_clip's (L, B, C) mode and the
        # layout of the CRIS reference's CLIP: the same matrix products on
        # the same memory layout, so converted checkpoints reproduce the
        # reference's fp32 features bit for bit (batch first, they differ in
        # the last bits, which the CRIS logits amplify beyond 1e-4).
        self.text.transformer.batch_first = False
        for block in self.text.transformer.resblocks:
            block.attn.batch_first = False
        self.context_length = context_length
        self.pretrained = pretrained

    def init_weights(self):
        """Initialise, then load CLIP's text tower if given."""
        super().init_weights()
        if self.pretrained is None:
            return
        state_dict = load_clip_state_dict(self.pretrained)
        if 'text.token_embedding.weight' in state_dict:
            state_dict = select_prefix(state_dict, 'text.')
        state_dict = {
            key: value
            for key, value in state_dict.items() if key.startswith(_TEXT_KEYS)
        }
        if 'token_embedding.weight' not in state_dict:
            raise KeyError(f'{self.pretrained!r} has no "token_embedding" '
                           'key: it is not a CLIP checkpoint with a text '
                           'tower')
        positions = state_dict.get('positional_embedding')
        if positions is not None:
            if positions.shape[0] < self.context_length:
                raise ValueError(
                    f'{self.pretrained!r}: positional_embedding has '
                    f'{positions.shape[0]} positions, fewer than '
                    f'context_length={self.context_length}')
            state_dict['positional_embedding'] = \
                positions[:self.context_length]
        load_encoder_weights(
            self.text,
            state_dict,
            source=self.pretrained,
            name='CLIPTextEncoder.text')

    def tokenize(self, texts: List[str]) -> Tensor:
        """Sentences -> token ids.

        Args:
            texts (list[str]): sentences; any unicode, possibly empty.

        Returns:
            Tensor: (B, context_length) int64 on the CPU, 0 at padding.
        """
        if isinstance(texts, str):
            texts = [texts]
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f'texts[{index}] is a {type(text).__name__}, '
                                f'not a str: {text!r}')
        return _bpe_tokenizer()(list(texts), self.context_length)

    def token_inputs(self, texts: List[str]) -> Dict[str, Tensor]:
        """The keyword arguments of :meth:`forward_tokens` for ``texts``.

        Args:
            texts (list[str]): B sentences.

        Returns:
            dict[str, Tensor]: ``token_ids`` (B, context_length) int64 on the
            CPU.
        """
        return dict(token_ids=self.tokenize(texts))

    def count_tokens(self, texts: List[str]) -> List[int]:
        """Tokens each sentence needs before the cut to ``context_length``.

        Args:
            texts (list[str]): sentences.

        Returns:
            list[int]: per sentence, its BPE tokens plus SOT and EOT; more
            than ``context_length`` means :meth:`tokenize` truncates it.
        """
        tokenizer = _bpe_tokenizer()
        return [len(tokenizer.encode(text)) + 2 for text in texts]

    def forward_tokens(self, token_ids: Tensor) -> Dict[str, Tensor]:
        """Encode token ids.

        Args:
            token_ids (Tensor): (B, L) int64, ``L = context_length`` (the
                causal mask has that size), 0 at padding, EOT (the largest
                id) closing each sentence.

        Returns:
            dict: ``word_feats`` (B, L, width) the ``ln_final`` output, not
            projected; ``sentence_feat`` (B, embed_dim) the EOT token
            projected by ``text_projection``; ``pad_mask`` (B, L) bool, True
            at padding.
        """
        if token_ids.ndim != 2 or token_ids.shape[1] != self.context_length:
            raise ValueError(
                'token_ids must be (B, L) with L = context_length='
                f'{self.context_length}, got {tuple(token_ids.shape)}')
        sentence_feat, word_feats = self.text(token_ids)
        return dict(
            word_feats=word_feats,
            sentence_feat=sentence_feat,
            pad_mask=token_ids == 0)

    def forward(self, texts: List[str]) -> Dict[str, Tensor]:
        """Tokenise ``texts`` and encode them on the encoder's device."""
        device = self.text.token_embedding.weight.device
        return self.forward_tokens(
            self.token_inputs(texts)['token_ids'].to(device))
