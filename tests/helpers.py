"""Tiny fakes shared by the tests (append yours; don't rewrite others')."""
import torch
from torch import nn


# --- CLIP weights (image + text towers) -------------------------------------
def tiny_clip_state_dict(context_length: int = 20,
                         embed_dim: int = 64) -> dict:
    """A random open_clip CLIP with OpenAI key names, small enough for tests.

    Image tower: ModifiedResNet layers (1, 1, 1, 1), width 8 (layer4 has 256
    channels), 4 heads, pre-trained grid 2x2 (image_size 64). Text tower:
    width 32, 2 heads, 1 layer, CLIP's vocabulary (49408).
    """
    from open_clip.model import CLIP
    model = CLIP(
        embed_dim=embed_dim,
        vision_cfg=dict(layers=[1, 1, 1, 1], width=8, image_size=64),
        text_cfg=dict(
            context_length=context_length,
            vocab_size=49408,
            width=32,
            heads=2,
            layers=1),
        quick_gelu=True)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


TINY_CLIP_RESNET = dict(
    layers=(1, 1, 1, 1), width=8, output_dim=64, heads=4, image_size=64)
TINY_CLIP_TEXT = dict(width=32, heads=2, layers=1, embed_dim=64)


# --- Fake encoders for segmentor tests (test-only registry names) -----------
def _register_test_model(cls):
    """Registers ``cls`` as ``'TestOnly' + cls.__name__`` in MODELS."""
    from mmrefseg.registry import MODELS
    MODELS.register_module(
        name='TestOnly' + cls.__name__, module=cls, force=True)
    return cls


@_register_test_model
class FakeReferBackbone(nn.Module):
    """C3/C4/C5 at strides 8/16/32 from pooled pixels and 1x1 convs.

    With ``global_channels`` set, ``with_global`` is True and a global
    feature (B, global_channels) closes the output tuple.
    """

    def __init__(self, out_channels=(8, 16, 16), global_channels=None):
        super().__init__()
        self.with_global = global_channels is not None
        self.projs = nn.ModuleList(nn.Conv2d(3, c, 1) for c in out_channels)
        if self.with_global:
            self.global_proj = nn.Linear(3, global_channels)

    def forward(self, inputs):
        import torch.nn.functional as F
        outs = tuple(
            proj(F.avg_pool2d(inputs, stride))
            for proj, stride in zip(self.projs, (8, 16, 32)))
        if self.with_global:
            outs += (self.global_proj(inputs.mean((2, 3))), )
        return outs


@_register_test_model
class FakeTextEncoder(nn.Module):
    """Hashes words to ids (0 is padding), embeds them, no tokenizer files.

    ``forward(texts)`` returns the text-encoder contract: ``word_feats``
    (B, L, word_channels), ``pad_mask`` (B, L) True at padding and
    ``sentence_feat`` (B, sentence_channels), the last real word projected.
    """

    def __init__(self,
                 word_len=6,
                 word_channels=16,
                 sentence_channels=16,
                 vocab_size=97):
        super().__init__()
        self.word_len = word_len
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, word_channels)
        self.sentence_proj = nn.Linear(word_channels, sentence_channels)

    def tokenize(self, texts):
        ids = torch.zeros(len(texts), self.word_len, dtype=torch.long)
        for i, text in enumerate(texts):
            words = text.split()[:self.word_len]
            for j, word in enumerate(words):
                ids[i, j] = 1 + sum(map(ord, word)) % (self.vocab_size - 1)
        return ids

    def forward_tokens(self, token_ids):
        word_feats = self.embed(token_ids)
        pad_mask = token_ids == 0
        last = (~pad_mask).sum(1).clamp(min=1) - 1
        sentence = word_feats[torch.arange(len(token_ids)), last]
        return dict(
            word_feats=word_feats,
            pad_mask=pad_mask,
            sentence_feat=self.sentence_proj(sentence))

    def forward(self, texts):
        device = self.embed.weight.device
        return self.forward_tokens(self.tokenize(texts).to(device))


# --- The CRIS reference's positional-encoding formulas, as test oracles -----
def reference_pos1d(dim, length):
    """(length, dim): ``pe[:, 0::2] = sin(p * div)``, ``pe[:, 1::2] = cos``."""
    import math
    pe = torch.zeros(length, dim)
    position = torch.arange(0, length).unsqueeze(1).float()
    div = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float) *
        -(math.log(10000.0) / dim))
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)
    return pe


def reference_pos2d(dim, height, width):
    """(height * width, dim): x in the first half of the channels, y in the
    second, each interleaved sin/cos with ``dim / 2`` frequencies."""
    import math
    half = dim // 2
    div = torch.exp(torch.arange(0., half, 2) * -(math.log(10000.0) / half))
    pe = torch.zeros(dim, height, width)
    xs = torch.arange(0., width).unsqueeze(1) * div  # (W, half/2)
    ys = torch.arange(0., height).unsqueeze(1) * div  # (H, half/2)
    pe[0:half:2] = xs.sin().t()[:, None, :].expand(-1, height, -1)
    pe[1:half:2] = xs.cos().t()[:, None, :].expand(-1, height, -1)
    pe[half::2] = ys.sin().t()[:, :, None].expand(-1, -1, width)
    pe[half + 1::2] = ys.cos().t()[:, :, None].expand(-1, -1, width)
    return pe.flatten(1).t()


# --- Refer-format data ------------------------------------------------------
_REFER_GENERATOR = None


def refer_generator():
    """The module ``tools/dataset_converters/generate_refer_data.py``."""
    global _REFER_GENERATOR
    if _REFER_GENERATOR is None:
        import importlib.util
        import os.path as osp
        path = osp.join(
            osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools',
            'dataset_converters', 'generate_refer_data.py')
        spec = importlib.util.spec_from_file_location('generate_refer_data',
                                                      path)
        _REFER_GENERATOR = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_REFER_GENERATOR)
    return _REFER_GENERATOR


def make_refer_data(root,
                    num_images: int = 8,
                    seed: int = 0,
                    min_size: int = 48,
                    max_size: int = 80) -> str:
    """Write a tiny synthetic refer dataset (all of RefCOCO/+/g's files).

    Layout and splits as the real data (see the generator); 8 images of at
    most 80 px take ~50 ms.

    Returns:
        str: The ``data_root`` to give ``ReferDataset``.
    """
    refer_generator().generate_refer_data(
        str(root), num_images, seed, min_size=min_size, max_size=max_size)
    return str(root)


# --- A tiny uncased BERT (WordPiece vocabulary + random weights) ------------
TINY_BERT_WORDS = ('the man woman dog cat left right on in of an red blue '
                   'shirt car tall small next to standing near ##s ##ing '
                   'sitting white black big').split()

TINY_BERT_CFG = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=64,
    vocab_size=64)


def write_tiny_bert_vocab(path) -> str:
    """Write a WordPiece ``vocab.txt``: BERT's special tokens (``[PAD]`` is
    id 0, ``[CLS]`` 2, ``[SEP]`` 3), ``TINY_BERT_WORDS`` and the lower-case
    letters as single characters. Returns the path as a str."""
    import string
    tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    tokens += list(TINY_BERT_WORDS) + list(string.ascii_lowercase)
    with open(path, 'w') as f:
        f.write('\n'.join(tokens) + '\n')
    return str(path)
