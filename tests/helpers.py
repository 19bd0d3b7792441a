"""Tiny fakes shared by the tests (append yours; don't rewrite others')."""
import argparse
import contextlib
import logging
import os.path as osp
from typing import Iterator, List, Optional

import torch
from torch import nn


# --- Log capture ------------------------------------------------------------
@contextlib.contextmanager
def logged_messages(logger: Optional[logging.Logger] = None,
                    level: int = logging.NOTSET) -> Iterator[List[str]]:
    """The messages of ``level`` and above logged to ``logger`` while the
    context is open, in a list filled as they come.

    Args:
        logger (logging.Logger, optional): Defaults to the current
            ``MMLogger``, where ``print_log(logger='current')`` writes.
        level (int): Lowest level kept. Defaults to ``logging.NOTSET``.
    """
    from mmengine.logging import MMLogger
    logger = logger or MMLogger.get_current_instance()
    messages = []
    handler = logging.Handler(level)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


# --- Configs --------------------------------------------------------------
def flatten_config(cfg: dict, prefix: str = '') -> dict:
    """Nested config dicts as one dict keyed by dotted paths
    (``{'model.backbone.depths': ...}``); other values are kept as they are.
    """
    flat = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            flat.update(flatten_config(value, f'{prefix}{key}.'))
        else:
            flat[f'{prefix}{key}'] = value
    return flat


# --- GRES data samples for GReferMetric --------------------------------------
def grefer_sample(pred: torch.Tensor,
                  gt: torch.Tensor,
                  no_target: Optional[bool] = None,
                  pred_no_target: Optional[bool] = None,
                  as_dict: bool = True):
    """A data sample of sentence 0 of ``a.jpg`` as ``GReferMetric`` reads it.

    Args:
        pred (Tensor): (1, H, W) predicted mask.
        gt (Tensor): (1, H, W) ground-truth mask.
        no_target (bool, optional): The ground truth's flag. Defaults to
            None: unset, so the metric reads it from ``gt``.
        pred_no_target (bool, optional): The prediction's flag. Defaults to
            None: unset, so the metric reads it from ``pred``.
        as_dict (bool): Return ``SegDataSample.to_dict()`` (as the
            evaluator hands samples on) instead of the data element.
            Defaults to True.
    """
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    metainfo = dict(img_path='a.jpg', sent_id=0)
    if no_target is not None:
        metainfo['no_target'] = no_target
    sample = SegDataSample(metainfo=metainfo)
    sample.pred_sem_seg = PixelData(data=pred.long())
    sample.gt_sem_seg = PixelData(data=gt)
    if pred_no_target is not None:
        sample.pred_no_target = pred_no_target
    return sample.to_dict() if as_dict else sample


def evaluate_grefer(samples, **kwargs) -> dict:
    """``GReferMetric(**kwargs)``'s metrics on ``samples``, in one process."""
    from mmrefseg.evaluation import GReferMetric
    metric = GReferMetric(**kwargs)
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


# --- A no-target branch whose decisions are set by the test ----------------
@contextlib.contextmanager
def forced_no_target(head: nn.Module, decisions: List[bool]) -> Iterator[None]:
    """Make ``head``'s no-target classifier decide ``decisions``.

    The classifier's output layer is set to say "targeted" for any input
    (weight 0, bias -5), which stays after the context; inside it, a hook
    adds 10 to the logit of each sample whose decision is True.

    Args:
        head (nn.Module): A head built with ``no_target_classifier``.
        decisions (list[bool]): One per sample of the batch the head runs.
    """
    last = head.no_target_classifier.mlp[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(-5.0)
    sample_bias = 10.0 * torch.tensor(decisions, dtype=torch.float32)
    handle = last.register_forward_hook(
        lambda module, args, out: out + sample_bias[:, None])
    try:
        yield
    finally:
        handle.remove()


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


def make_grefer_data(root,
                     num_images: int = 8,
                     seed: int = 0,
                     min_size: int = 48,
                     max_size: int = 80) -> str:
    """Write a tiny synthetic gRefCOCO-format dataset (``grefcoco/``).

    Returns:
        str: The ``data_root`` to give ``GReferDataset``.
    """
    refer_generator().generate_grefer_data(
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


# --- Any shipped model config at tiny widths --------------------------------
def _merge_into(cfg: dict, override: dict) -> None:
    """Recursively set ``override``'s values in the config dict ``cfg``."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            _merge_into(cfg[key], value)
        else:
            cfg[key] = value


def tiny_model_cfg(model_cfg: dict, vocab_file: str, img_size: int = 64):
    """A ``ReferSegmentor`` config with the modules and switches of
    ``model_cfg`` (any config of configs/) at tiny widths and random weights.

    Only widths, depths and weight sources change: every switch (which
    neck gating, head, kernel source, estimator, residuals, number of
    queries, upsamplings...) stays as the config sets it. Swin + BERT models
    (EAVL's ``SwinAttnPool`` and LAVT's ``LAVTSwin``) get a one-block-per-stage
    Swin and the 2-layer ``TINY_BERT_CFG`` with the vocabulary ``vocab_file``
    (see :func:`write_tiny_bert_vocab`); CLIP models a one-block-per-stage
    ResNet and a one-layer text transformer. A no-target branch (GRES) gets
    the head's tiny widths.

    Args:
        model_cfg (dict): ``cfg.model`` of a config (copied, not changed).
        vocab_file (str): WordPiece vocabulary for a BERT text encoder.
        img_size (int): Square input size the model is built for. Defaults
            to 64.

    Returns:
        dict: The tiny model config.
    """
    import copy
    cfg = copy.deepcopy(dict(model_cfg))
    backbone = cfg['backbone']['type']
    tiny_swin = dict(
        pretrain_img_size=img_size,
        embed_dims=16,
        depths=(1, 1, 1, 1),
        num_heads=(1, 2, 2, 4),
        window_size=2,
        drop_path_rate=0.0,
        init_cfg=None)
    tiny_bert = dict(
        pretrained=None, bert_cfg=TINY_BERT_CFG, vocab_file=vocab_file)
    if backbone == 'SwinAttnPool':
        img_channels, global_channels = (32, 64, 128), 128
        word_channels = sentence_channels = 32
        _merge_into(
            cfg,
            dict(
                backbone=tiny_swin,
                text_encoder=dict(
                    tiny_bert,
                    word_dim=word_channels,
                    sentence_dim=sentence_channels)))
    elif backbone == 'LAVTSwin':
        # LAVT's BERT hands its hidden states on unprojected
        word_channels = sentence_channels = TINY_BERT_CFG['hidden_size']
        global_channels = None
        out_indices = cfg['backbone'].get('out_indices', (0, 1, 2, 3))
        img_channels = tuple(
            tiny_swin['embed_dims'] * 2**i for i in out_indices)
        _merge_into(
            cfg,
            dict(
                backbone=dict(tiny_swin, language_channels=word_channels),
                text_encoder=dict(tiny_bert, sentence_dim=sentence_channels)))
    elif backbone == 'CLIPResNet':
        # ModifiedResNet: layer2 8 * width, layer3 16 * width channels
        img_channels, global_channels = (64, 128, 64), 64
        word_channels, sentence_channels = 32, 64
        _merge_into(
            cfg,
            dict(
                backbone=dict(
                    layers=(1, 1, 1, 1),
                    width=8,
                    output_dim=global_channels,
                    heads=4,
                    image_size=img_size,
                    pretrained=None),
                text_encoder=dict(
                    width=word_channels,
                    heads=2,
                    layers=1,
                    embed_dim=sentence_channels,
                    pretrained=None)))
    else:
        raise ValueError(f'tiny_model_cfg: no tiny widths for backbone '
                         f'{backbone!r}')
    width = word_channels  # the fused map, decoder and queries
    neck = dict(
        in_channels=img_channels,
        out_channels=(16, width, 64),
        sentence_channels=sentence_channels)
    cfg['data_preprocessor'] = None
    if cfg.get('neck') is not None:
        _merge_into(cfg['neck'], neck)
    head = cfg['decode_head']
    if head.get('no_target_classifier') is not None:
        _merge_into(
            head['no_target_classifier'],
            dict(
                in_channels=width,
                sentence_channels=sentence_channels,
                hidden_channels=16))
    decoder = dict(
        in_channels=width,
        num_layers=1,
        num_heads=2,
        feedforward_channels=2 * width,
        dropout=0.0)
    if head['type'] == 'LAVTSimpleDecodingHead':
        _merge_into(head, dict(in_channels=img_channels, channels=width))
    elif head['type'] == 'VLDecoderHead':
        _merge_into(head,
                    dict(decoder, text_channels=sentence_channels,
                         proj_channels=16))
    elif head['type'] == 'VisionLanguageAlignerHead':
        _merge_into(head,
                    dict(decoder, sentence_channels=sentence_channels,
                         mask_channels=8))
        if head.get('query_generator') is not None:
            _merge_into(
                head['query_generator'],
                dict(
                    neck=dict(in_channels=img_channels,
                              out_channels=(16, width, 64)),
                    feat_size=img_size // 16,
                    neck_channels=width,
                    reduce_channels=(16, 8),
                    word_channels=word_channels,
                    embed_dims=width,
                    out_channels=width))
            if global_channels is not None:
                head['query_generator']['global_channels'] = global_channels
    else:
        raise ValueError(f'tiny_model_cfg: no tiny widths for head '
                         f"{head['type']!r}")
    return cfg


# --- The CRIS reference's decoder, re-stated with torch primitives ----------
def reference_attention(params, prefix, query, key, value, num_heads,
                        key_padding_mask=None):
    """``nn.MultiheadAttention`` (eval) from its parameters, batch first.

    Args:
        params (dict): holds ``prefix + 'in_proj_weight'`` (3C, C),
            ``'in_proj_bias'``, ``'out_proj.weight'``, ``'out_proj.bias'``.
        query, key, value (Tensor): (B, Nq, C), (B, Nk, C), (B, Nk, C).
        key_padding_mask (Tensor, optional): (B, Nk), True at padding.

    Returns:
        Tensor: (B, Nq, C).
    """
    import math
    weight = params[prefix + 'in_proj_weight']
    bias = params[prefix + 'in_proj_bias']
    dims = query.shape[-1]
    head_dims = dims // num_heads

    def heads(x, part):
        x = x @ weight[part * dims:(part + 1) * dims].t() + \
            bias[part * dims:(part + 1) * dims]
        return x.view(x.shape[0], x.shape[1], num_heads,
                      head_dims).transpose(1, 2)

    q, k, v = heads(query, 0), heads(key, 1), heads(value, 2)
    scores = q @ k.transpose(-1, -2) / math.sqrt(head_dims)
    if key_padding_mask is not None:
        scores = scores.masked_fill(key_padding_mask[:, None, None, :],
                                    float('-inf'))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(query.shape)
    return out @ params[prefix + 'out_proj.weight'].t() + \
        params[prefix + 'out_proj.bias']


def reference_decoder(params, num_layers, num_heads, pixels, memory,
                      pixel_pos=None, memory_pos=None, memory_mask=None):
    """The CRIS decoder (eval) from a state dict in the reference's layout
    (``layers.N.norm1.weight``, ..., ``norm.weight``), batch first.

    Per layer: ``x += self_attn_norm(SA(q=k=norm1(x)+pos, v=norm1(x)))``,
    ``x += cross_attn_norm(CA(q=norm2(x)+pos, k=mem+mem_pos, v=mem))``,
    ``x += ffn(norm3(x))`` with ``ffn = Linear, ReLU, LayerNorm, Linear``;
    then the final ``norm``.
    """
    import torch.nn.functional as F

    def norm(x, name, prefix):
        return F.layer_norm(x, x.shape[-1:], params[f'{prefix}{name}.weight'],
                            params[f'{prefix}{name}.bias'])

    def add(x, pos):
        return x if pos is None else x + pos

    x = pixels
    for i in range(num_layers):
        p = f'layers.{i}.'
        h = norm(x, 'norm1', p)
        h = reference_attention(params, p + 'self_attn.', add(h, pixel_pos),
                                add(h, pixel_pos), h, num_heads)
        x = x + norm(h, 'self_attn_norm', p)
        h = norm(x, 'norm2', p)
        h = reference_attention(params, p + 'multihead_attn.',
                                add(h, pixel_pos), add(memory, memory_pos),
                                memory, num_heads, memory_mask)
        x = x + norm(h, 'cross_attn_norm', p)
        h = norm(x, 'norm3', p)
        h = F.relu(h @ params[p + 'ffn.0.weight'].t() +
                   params[p + 'ffn.0.bias'])
        h = norm(h, 'ffn.3', p)
        x = x + h @ params[p + 'ffn.4.weight'].t() + params[p + 'ffn.4.bias']
    return norm(x, 'norm', '')


# --- A few-parameter model and dataset to run mmengine's Runner -------------
from mmengine.model import BaseModel as _BaseModel  # noqa: E402
from mmengine.runner import Runner as _Runner  # noqa: E402
from torch.utils.data import Dataset as _Dataset  # noqa: E402


class ToyDataset(_Dataset):
    """``size`` samples ``{'inputs': (4,), 'target': ()}``; a random draw
    from NumPy per item stands for a sampled sentence."""

    def __init__(self, size: int = 12):
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(size, 4, generator=generator)
        self.targets = self.inputs.sum(1)
        self.metainfo = dict(name='toy')

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        import numpy as np
        noise = float(np.random.rand())
        return dict(inputs=self.inputs[index] + noise,
                    target=self.targets[index])


@_register_test_model
class ToyRegressor(_BaseModel):
    """A linear regressor with dropout; ``poison_at`` (an iteration, from 1)
    makes that iteration's loss NaN."""

    def __init__(self, poison_at: int = 0):
        super().__init__()
        self.linear = nn.Linear(4, 1)
        self.dropout = nn.Dropout(0.5)
        self.poison_at = poison_at
        self.calls = 0

    def forward(self, inputs, target=None, mode='tensor'):
        # mmengine's default collate keeps the samples in lists.
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        if isinstance(target, list):
            target = torch.stack(target)
        out = self.linear(self.dropout(inputs)).squeeze(1)
        if mode == 'loss':
            self.calls += 1
            loss = ((out - target)**2).mean()
            if self.calls == self.poison_at:
                loss = loss * float('nan')
            return dict(loss=loss)
        return out


_TOY_RUNNERS = 0


def toy_runner(work_dir, max_epochs=3, seed=0, model=None, **cfg):
    """A Runner with the project's default hooks on the toy model."""
    default_hooks = dict(
        checkpoint=dict(
            type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1),
        epoch_seed=dict(type='EpochSeedHook'),
        non_finite_loss=dict(type='NonFiniteLossHook'),
        logger=dict(type='LoggerHook', interval=1))
    default_hooks.update(cfg.pop('default_hooks', {}))
    default_hooks = {k: v for k, v in default_hooks.items() if v is not None}
    # mmengine shares one MessageHub per experiment name, by default the
    # start time to the second: runners of one test must not share it.
    global _TOY_RUNNERS
    _TOY_RUNNERS += 1
    return _Runner(
        model=model or dict(type='TestOnlyToyRegressor'),
        experiment_name=f'toy_runner_{_TOY_RUNNERS}',
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=default_hooks,
        randomness=dict(seed=seed),
        default_scope='mmrefseg',
        **cfg)


# --- A head whose output is a known function of the input position ----------
def _ramp_head():
    from mmrefseg.models.decode_heads import BaseReferHead

    @_register_test_model
    class RampHead(BaseReferHead):
        """Ignores its features: the foreground probability at the pixel
        centre (x, y) of the network input (``input_size`` = (h, w)) is
        ``bias + slope[0] * x + slope[1] * y``, emitted as logits at
        ``1 / stride`` of the input on the ``align_corners=True`` grid (the
        segmentor's default upsampling convention)."""

        def __init__(self,
                     input_size,
                     stride=1,
                     slope=(0.004, 0.006),
                     bias=0.05,
                     loss_decode=dict(type='TextPixelContrastiveLoss')):
            super().__init__(loss_decode=loss_decode)
            self.input_size, self.stride = tuple(input_size), stride
            self.slope, self.bias = slope, bias

        def probability(self, x, y):
            return self.bias + self.slope[0] * x + self.slope[1] * y

        def forward(self, feats):
            height, width = self.input_size
            ys = torch.linspace(0, height - 1, height // self.stride)
            xs = torch.linspace(0, width - 1, width // self.stride)
            prob = self.probability(xs[None, :], ys[:, None]).double()
            logits = torch.logit(prob).float()
            batch = feats['word_feats'].shape[0]
            return logits.to(feats['word_feats'].device).expand(
                batch, 1, -1, -1)

    return RampHead


RampHead = _ramp_head()


# --- Tiny reference checkpoints (CRIS.pytorch, LAVT-RIS) --------------------
# The reference key names and shapes written out (no checkout needed), and
# configs of the models they convert to: for the converter tests
# (tests/test_utils/test_checkpoint_conversion/, tests/test_tools/).
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')

# --------------------------------------------------------------------- CRIS
CRIS_WORD_LEN = 8
CRIS_DECODER_LAYERS = 2
CRIS_REFERENCE_CONTEXT = 20  # positions of the reference's CLIP

TINY_CRIS_CONFIG = f"""
_base_ = {osp.join(REPO, 'configs', '_base_', 'models', 'cris_r50.py')!r}
model = dict(
    backbone=dict(layers=(1, 1, 1, 1), width=8, output_dim=64, heads=4,
                  image_size=64, pretrained=None),
    text_encoder=dict(context_length={CRIS_WORD_LEN}, width=32, heads=2,
                      layers=1, embed_dim=64, pretrained=None),
    neck=dict(in_channels=(64, 128, 64), out_channels=(16, 32, 64),
              sentence_channels=64),
    decode_head=dict(in_channels=32, text_channels=64,
                     num_layers={CRIS_DECODER_LAYERS}, num_heads=2,
                     feedforward_channels=64, proj_channels=16))
"""

# The reference CRIS's own names for its neck, decoder (one layer, repeated)
# and projector, as CRIS.pytorch saves them.
_CONV_BN = ['0.weight'] + [f'1.{n}' for n in BN]
CRIS_REFERENCE_NECK = (
    ['neck.txt_proj.0.weight'] + [f'neck.txt_proj.1.{n}' for n in BN] +
    [f'neck.norm_layer.0.{n}' for n in BN] + [
        f'neck.{block}.{name}'
        for block in ('f1_v_proj', 'f2_v_proj', 'f2_cat', 'f3_v_proj',
                      'f3_cat', 'f4_proj5', 'f4_proj4', 'f4_proj3', 'aggr',
                      'coordconv.0.conv1', 'coordconv.1') for name in _CONV_BN
    ])
CRIS_REFERENCE_DECODER_LAYER = [
    f'{norm}.{p}' for norm in ('self_attn_norm', 'cross_attn_norm', 'norm1',
                               'norm2', 'norm3') for p in ('weight', 'bias')
] + [
    f'{attn}.{p}' for attn in ('self_attn', 'multihead_attn')
    for p in ('in_proj_weight', 'in_proj_bias', 'out_proj.weight',
              'out_proj.bias')
] + [f'ffn.{i}.{p}' for i in (0, 3, 4) for p in ('weight', 'bias')]
CRIS_REFERENCE_PROJ = [
    f'proj.vis.{i}.{name}' for i in (1, 3) for name in _CONV_BN
] + ['proj.vis.4.weight', 'proj.vis.4.bias', 'proj.txt.weight',
     'proj.txt.bias']


def write_tiny_cris_config(directory) -> str:
    """Write the tiny CRIS config into ``directory``; return its path."""
    path = osp.join(str(directory), 'tiny_cris.py')
    with open(path, 'w') as file:
        file.write(TINY_CRIS_CONFIG)
    return path


def cris_reference_checkpoint(model_shapes, map_reference_key):
    """A CRIS.pytorch checkpoint for the tiny model.

    CLIP (20 positions, ``logit_scale``) under ``backbone.``, the new
    ``connect`` branch and the reference's neck / decoder / projector names,
    all with ``module.``; the shapes of the non-CLIP parts come from the
    model through ``map_reference_key`` (the converter's). Besides the state
    dict, the training record, the optimizer and the scheduler, as the
    reference's ``train.py`` saves them.
    """
    state = {
        'backbone.' + k: v
        for k, v in tiny_clip_state_dict(
            context_length=CRIS_REFERENCE_CONTEXT).items()
    }
    head_names = CRIS_REFERENCE_NECK + CRIS_REFERENCE_PROJ + [
        f'decoder.layers.{i}.{name}' for i in range(CRIS_DECODER_LAYERS)
        for name in CRIS_REFERENCE_DECODER_LAYER
    ] + ['decoder.norm.weight', 'decoder.norm.bias']
    head_names += ['backbone.visual.attnpool.connect.0.weight'] + [
        f'backbone.visual.attnpool.connect.1.{n}' for n in BN
    ]
    for name in head_names:
        target = map_reference_key(name)
        assert target in model_shapes, f'{name} -> {target}'
        state[name] = torch.randn(model_shapes[target])
    # train.py also saves the optimizer and scheduler (a Counter inside)
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.Adam([param], lr=1e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [35], 0.1)
    return {
        'epoch': 50,
        'cur_iou': 0.69,
        'best_iou': 0.7,
        'prec': {'Pr@50': 0.8},
        'state_dict': {'module.' + k: v
                       for k, v in state.items()},
        'optimizer': optimizer.state_dict(),
        'scheduler': scheduler.state_dict(),
    }


# --------------------------------------------------------------------- LAVT
LAVT_DIMS, LAVT_DEPTHS = (8, 16, 32, 64), (2, 1, 1, 1)
LAVT_HEADS, LAVT_WINDOW = (1, 1, 2, 2), 2
LAVT_LANG, LAVT_HIDDEN = 8, 32  # BERT width = stage-1 width: PWAMs share
LAVT_BERT = dict(hidden_size=LAVT_LANG, num_hidden_layers=1,
                 num_attention_heads=2, intermediate_size=16,
                 max_position_embeddings=32, vocab_size=64)


def write_tiny_lavt_config(directory) -> str:
    """Write the tiny LAVT config (and its vocab) into ``directory``."""
    vocab = write_tiny_bert_vocab(osp.join(str(directory), 'vocab.txt'))
    path = osp.join(str(directory), 'lavt_tiny.py')
    base = osp.join(REPO, 'configs', '_base_', 'models', 'lavt_swinb.py')
    with open(path, 'w') as file:
        file.write(f"""
_base_ = {base!r}
model = dict(
    backbone=dict(language_channels={LAVT_LANG}, pretrain_img_size=64,
                  embed_dims={LAVT_DIMS[0]}, depths={LAVT_DEPTHS},
                  num_heads={LAVT_HEADS}, window_size={LAVT_WINDOW},
                  init_cfg=None),
    text_encoder=dict(pretrained=None, bert_cfg={LAVT_BERT!r},
                      vocab_file={vocab!r}),
    decode_head=dict(in_channels={LAVT_DIMS}, channels={LAVT_HIDDEN}))
""")
    return path


def reference_position_index(window):
    """The official Swin's relative_position_index."""
    coords = torch.stack(torch.meshgrid(torch.arange(window),
                                        torch.arange(window),
                                        indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    return rel.sum(-1)


def lavt_reference_layout():
    """LAVT's ``model`` keys (lib/backbone.py, lib/mask_predictor.py) and
    their shapes, for the tiny sizes above; and the expected mmrefseg key
    of each (with how the value changes: 'same', 'squeeze', 'merge',
    'index')."""
    shapes, expected = {}, {}

    def add(key, shape, target, how='same'):
        shapes[key], expected[key] = shape, (target, how)

    add('backbone.patch_embed.proj.weight', (8, 3, 4, 4),
        'backbone.patch_embed.projection.weight')
    add('backbone.patch_embed.proj.bias', (8, ),
        'backbone.patch_embed.projection.bias')
    for p in ('weight', 'bias'):
        add(f'backbone.patch_embed.norm.{p}', (8, ),
            f'backbone.patch_embed.norm.{p}')
    table = ((2 * LAVT_WINDOW - 1)**2, )
    for i, (dim, depth, heads) in enumerate(
            zip(LAVT_DIMS, LAVT_DEPTHS, LAVT_HEADS)):
        src, dst = f'backbone.layers.{i}.', f'backbone.stages.{i}.'
        for j in range(depth):
            s, d = f'{src}blocks.{j}.', f'{dst}blocks.{j}.'
            for p in ('weight', 'bias'):
                add(f'{s}norm1.{p}', (dim, ), f'{d}norm1.{p}')
                add(f'{s}norm2.{p}', (dim, ), f'{d}norm2.{p}')
                out = {'weight': (dim, dim), 'bias': (dim, )}[p]
                add(f'{s}attn.qkv.{p}', (3 * dim, ) + out[1:],
                    f'{d}attn.w_msa.qkv.{p}')
                add(f'{s}attn.proj.{p}', out, f'{d}attn.w_msa.proj.{p}')
                add(f'{s}mlp.fc1.{p}', (4 * dim, ) + out[1:],
                    f'{d}ffn.layers.0.0.{p}')
                add(f'{s}mlp.fc2.{p}', (dim, 4 * dim)[:len(out)],
                    f'{d}ffn.layers.1.{p}')
            add(f'{s}attn.relative_position_bias_table', table + (heads, ),
                f'{d}attn.w_msa.relative_position_bias_table')
            add(f'{s}attn.relative_position_index',
                (LAVT_WINDOW**2, LAVT_WINDOW**2),
                f'{d}attn.w_msa.relative_position_index', 'index')
        if i < 3:
            add(f'{src}downsample.reduction.weight', (2 * dim, 4 * dim),
                f'{dst}downsample.reduction.weight', 'merge')
            for p in ('weight', 'bias'):
                add(f'{src}downsample.norm.{p}', (4 * dim, ),
                    f'{dst}downsample.norm.{p}', 'merge')
        pwam = f'backbone.pixel_word_attns.{i}.'
        for name, layer, cin in (
            ('vis_project.0', 'vis_proj', dim),
            ('image_lang_att.f_query.0', 'query_proj', dim),
            ('image_lang_att.f_key.0', 'key_proj', LAVT_LANG),
            ('image_lang_att.f_value.0', 'value_proj', LAVT_LANG),
            ('image_lang_att.W.0', 'out_proj', dim),
            ('project_mm.0', 'mm_proj', dim),
        ):
            add(f'{src}fusion.{name}.weight', (dim, cin, 1),
                f'{pwam}{layer}.weight', 'squeeze')
            add(f'{src}fusion.{name}.bias', (dim, ), f'{pwam}{layer}.bias')
        add(f'{src}res_gate.0.weight', (dim, dim),
            f'backbone.language_gates.{i}.fc1.weight')
        add(f'{src}res_gate.2.weight', (dim, dim),
            f'backbone.language_gates.{i}.fc2.weight')
        for p in ('weight', 'bias'):
            add(f'backbone.norm{i}.{p}', (dim, ), f'backbone.norm{i}.{p}')
    for level, block, cin in (('4', 'fuse_c3', 64 + 32),
                              ('3', 'fuse_c2', LAVT_HIDDEN + 16),
                              ('2', 'fuse_c1', LAVT_HIDDEN + 8)):
        for index, width in (('1', cin), ('2', LAVT_HIDDEN)):
            n = int(index) - 1
            add(f'classifier.conv{index}_{level}.weight',
                (LAVT_HIDDEN, width, 3, 3),
                f'decode_head.{block}.{n}.conv.weight')
            for p in BN:
                add(f'classifier.bn{index}_{level}.{p}',
                    () if p == 'num_batches_tracked' else (LAVT_HIDDEN, ),
                    f'decode_head.{block}.{n}.bn.{p}')
    add('classifier.conv1_1.weight', (2, LAVT_HIDDEN, 1, 1),
        'decode_head.conv_seg.weight')
    add('classifier.conv1_1.bias', (2, ), 'decode_head.conv_seg.bias')
    return shapes, expected


def distinct_tensors(shapes):
    """A different value in every element of every tensor (the Swin
    ``relative_position_index`` buffers excepted: the official indexing)."""
    tensors, offset = {}, 0
    for key, shape in shapes.items():
        if key.endswith('relative_position_index'):
            tensors[key] = reference_position_index(LAVT_WINDOW)
            continue
        numel = int(torch.tensor(shape).prod()) if shape else 1
        values = torch.arange(offset, offset + numel, dtype=torch.float32)
        tensors[key] = (values.long() if key.endswith('num_batches_tracked')
                        else values).reshape(shape)
        offset += numel
    return tensors


def merge_order(value, channel_dim):
    """Official merge (blocks (0,0), (1,0), (0,1), (1,1) of C channels) ->
    nn.Unfold's order (per channel: (0,0), (0,1), (1,0), (1,1))."""
    value = value.movedim(channel_dim, -1)
    channels = value.shape[-1] // 4
    block_of_unfold = (0, 2, 1, 3)
    index = [block_of_unfold[k] * channels + c for c in range(channels)
             for k in range(4)]
    return value[..., index].movedim(-1, channel_dim)


def lavt_reference_bert_state():
    """A transformers-3-era BERT state dict: pooler and position_ids kept."""
    torch.manual_seed(0)
    from transformers import BertConfig, BertModel
    state = BertModel(BertConfig(**LAVT_BERT)).state_dict()
    state['embeddings.position_ids'] = torch.arange(32)[None]
    return {k: v + 1000 * i if v.is_floating_point() else v
            for i, (k, v) in enumerate(state.items())}


def lavt_reference_checkpoint():
    """A LAVT ``train.py`` checkpoint of the tiny model."""
    shapes, _ = lavt_reference_layout()
    return dict(
        model=distinct_tensors(shapes),
        bert_model=lavt_reference_bert_state(),
        optimizer={},
        epoch=39,
        lr_scheduler={},
        args=argparse.Namespace(model='lavt'))
