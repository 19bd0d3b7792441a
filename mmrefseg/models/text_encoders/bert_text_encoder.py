"""BERT text encoder (EAVL, LAVT) on HuggingFace ``transformers``."""
import os.path as osp
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_init
from torch import Tensor
from transformers import BertConfig, BertModel, BertTokenizer

from mmrefseg.registry import MODELS

__all__ = ['BertTextEncoder']


@MODELS.register_module()
class BertTextEncoder(BaseModule):
    """BERT words and [CLS] sentence feature, each linearly projected.

    Everything is read from local files; nothing is downloaded. Either
    ``pretrained`` names a directory saved by ``save_pretrained`` (e.g. a copy
    of ``bert-base-uncased``: ``config.json``, the weights and ``vocab.txt``),
    or ``bert_cfg`` gives ``BertConfig`` arguments for a randomly initialised
    BERT together with a ``vocab_file``. BERT's pooler is not built: EAVL
    uses the raw [CLS] state, and unused parameters would trouble DDP. For
    the same reason ``use_sentence=False`` builds no sentence projection,
    for models that never read the sentence feature (EAVL's "global text
    feature off" ablation, whose neck has ``use_sentence=False`` too).

    Args:
        pretrained (str, optional): Local directory of a pretrained BERT.
            Defaults to None.
        bert_cfg (dict, optional): ``BertConfig`` keyword arguments, for a
            random BERT. Exactly one of ``pretrained``/``bert_cfg`` is given.
            Defaults to None.
        vocab_file (str, optional): WordPiece ``vocab.txt``; overrides the
            tokenizer of ``pretrained``. Defaults to None.
        do_lower_case (bool): Lower-case text before WordPiece, for a
            tokenizer built from ``vocab_file`` (uncased BERT; the tokenizer
            of ``pretrained`` keeps its saved setting). Defaults to True.
        word_len (int): Token sequence length L, [CLS] and [SEP] included:
            longer sentences are truncated, shorter ones padded. The papers
            use 17 (RefCOCO/+) and 22 (G-Ref). Defaults to 17.
        word_dim (int, optional): Channels of the projected word features;
            None returns BERT's hidden states unprojected (LAVT). Defaults to
            512.
        sentence_dim (int): Channels of the projected sentence feature.
            Defaults to 768.
        use_sentence (bool): Build the sentence projection and return the
            sentence feature; False returns ``sentence_feat=None``.
            Defaults to True.
        keep_sep_when_truncating (bool): A sentence longer than ``word_len``
            keeps its closing [SEP] (the tokenizer's truncation); False cuts
            [CLS] ... [SEP] at ``word_len``, dropping the [SEP] of a long
            sentence, as LAVT's dataset does. Defaults to True.
        init_cfg (dict, optional): Unused: BERT weights come from
            ``pretrained``; the projections are initialised here. Defaults to
            None.
    """

    def __init__(self,
                 pretrained: Optional[str] = None,
                 bert_cfg: Optional[dict] = None,
                 vocab_file: Optional[str] = None,
                 do_lower_case: bool = True,
                 word_len: int = 17,
                 word_dim: int = 512,
                 sentence_dim: int = 768,
                 use_sentence: bool = True,
                 keep_sep_when_truncating: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if (pretrained is None) == (bert_cfg is None):
            raise ValueError('BertTextEncoder needs exactly one of '
                             '`pretrained` (a local BERT directory) and '
                             '`bert_cfg` (BertConfig arguments), got '
                             f'pretrained={pretrained!r}, bert_cfg={bert_cfg}')
        if pretrained is not None:
            if not osp.isdir(pretrained):
                raise FileNotFoundError(
                    f'BertTextEncoder: pretrained={pretrained!r} is not a '
                    'local directory (nothing is downloaded)')
            self.bert = BertModel.from_pretrained(
                pretrained, local_files_only=True, add_pooling_layer=False)
        else:
            if vocab_file is None:
                raise ValueError('BertTextEncoder with `bert_cfg` (random '
                                 'weights) needs a `vocab_file`')
            self.bert = BertModel(
                BertConfig(**bert_cfg), add_pooling_layer=False)
        self.tokenizer = self._build_tokenizer(pretrained, vocab_file,
                                               do_lower_case)
        vocab_size = self.bert.config.vocab_size
        if len(self.tokenizer) > vocab_size:
            raise ValueError(f'the tokenizer has {len(self.tokenizer)} tokens '
                             f'but BERT only {vocab_size} embeddings')
        self.word_len = word_len
        self.use_sentence = use_sentence
        hidden = self.bert.config.hidden_size
        self.keep_sep_when_truncating = keep_sep_when_truncating
        self.word_proj = nn.Linear(hidden, word_dim) \
            if word_dim is not None else None
        if use_sentence:
            self.sentence_proj = nn.Linear(hidden, sentence_dim)

    @staticmethod
    def _build_tokenizer(pretrained: Optional[str], vocab_file: Optional[str],
                         do_lower_case: bool):
        if vocab_file is not None:
            if not osp.isfile(vocab_file):
                raise FileNotFoundError(
                    f'BertTextEncoder: vocab_file={vocab_file!r} not found')
            # transformers 5: the WordPiece file is `vocab`, not `vocab_file`
            return BertTokenizer(vocab=vocab_file, do_lower_case=do_lower_case)
        return BertTokenizer.from_pretrained(pretrained, local_files_only=True)

    def init_weights(self) -> None:
        """Initialise the projections; BERT keeps its loaded weights.

        Not delegating to mmengine's recursive init keeps it away from
        ``BertModel.init_weights``, which would re-initialise BERT.
        """
        layers = [self.word_proj] if self.word_proj is not None else []
        if self.use_sentence:
            layers.append(self.sentence_proj)
        for layer in layers:
            trunc_normal_init(layer, std=.02, bias=0.)

    def _encode(self, texts: List[str]) -> Dict[str, Tensor]:
        if self.keep_sep_when_truncating:
            return self.tokenizer(
                list(texts),
                padding='max_length',
                truncation=True,
                max_length=self.word_len,
                return_tensors='pt')
        sequences = [
            ids[:self.word_len]
            for ids in self.tokenizer(list(texts))['input_ids']
        ]
        input_ids = torch.full((len(sequences), self.word_len),
                               self.tokenizer.pad_token_id)
        attention_mask = torch.zeros_like(input_ids)
        for i, ids in enumerate(sequences):
            input_ids[i, :len(ids)] = torch.tensor(ids)
            attention_mask[i, :len(ids)] = 1
        return dict(input_ids=input_ids, attention_mask=attention_mask)

    def tokenize(self, texts: List[str]) -> Tensor:
        """Token ids, [CLS] ... [SEP] then [PAD] up to ``word_len``.

        Args:
            texts (list[str]): B sentences.

        Returns:
            Tensor: (B, word_len) int64, on the CPU.
        """
        return self._encode(texts)['input_ids']

    def token_inputs(self, texts: List[str]) -> Dict[str, Tensor]:
        """The keyword arguments of :meth:`forward_tokens` for ``texts``.

        The attention mask is the tokenizer's own, so that a sentence that
        spells a special token such as "[PAD]" is still read.

        Args:
            texts (list[str]): B sentences.

        Returns:
            dict[str, Tensor]: ``token_ids`` and ``attention_mask`` (1 at real
            tokens), both (B, word_len) int64 on the CPU.
        """
        encoded = self._encode(texts)
        return dict(
            token_ids=encoded['input_ids'],
            attention_mask=encoded['attention_mask'])

    def count_tokens(self, texts: List[str]) -> List[int]:
        """Tokens each sentence needs before the cut to ``word_len``.

        Args:
            texts (list[str]): sentences.

        Returns:
            list[int]: per sentence, its WordPiece tokens plus [CLS] and
            [SEP]; more than ``word_len`` means :meth:`tokenize` truncates it.
        """
        return [len(ids) for ids in self.tokenizer(list(texts))['input_ids']]

    def forward_tokens(self,
                       token_ids: Tensor,
                       attention_mask: Optional[Tensor] = None) -> dict:
        """Encode token ids.

        Args:
            token_ids (Tensor): (B, L) int64.
            attention_mask (Tensor, optional): (B, L), 1 at real tokens.
                Defaults to None: ``token_ids != pad id``.

        Returns:
            dict: ``word_feats`` (B, L, word_dim), ``pad_mask`` (B, L) bool,
            True at padding, ``sentence_feat`` (B, sentence_dim) from [CLS]
            (None when built with ``use_sentence=False``).
        """
        if attention_mask is None:
            attention_mask = token_ids != self.tokenizer.pad_token_id
        attention_mask = attention_mask.long()
        hidden = self.bert(
            input_ids=token_ids,
            attention_mask=attention_mask).last_hidden_state
        sentence_feat = None
        if self.use_sentence:
            sentence_feat = self.sentence_proj(hidden[:, 0])
        return dict(
            word_feats=hidden
            if self.word_proj is None else self.word_proj(hidden),
            pad_mask=attention_mask == 0,
            sentence_feat=sentence_feat)

    def forward(self, texts: List[str]) -> dict:
        """Tokenise and encode on the encoder's device; see forward_tokens."""
        device = self.bert.embeddings.word_embeddings.weight.device
        return self.forward_tokens(**{
            name: tokens.to(device)
            for name, tokens in self.token_inputs(texts).items()
        })
