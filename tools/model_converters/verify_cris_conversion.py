"""Check cris2mmrefseg against the CRIS reference code, logits to logits.

Needs a checkout of CRIS.pytorch (github.com/DerrickWang005/CRIS.pytorch);
only its ``model/`` package is imported, and ``utils/`` for the tokenizer
comparison. Nothing is downloaded:

1. a random open_clip CLIP (``--arch``) is saved as a TorchScript archive,
   the form of OpenAI's ``RN50.pt`` that the reference reads;
2. the reference ``CRIS`` is built on it; every parameter that its
   initialisation leaves constant (norm weights and biases, zeroed ``bn3``,
   attention biases) is randomised, so that a swapped or skipped key shows,
   and the BN statistics are calibrated by a few training-mode passes;
3. its weights are saved in the reference's checkpoint layout (``module.``
   prefix, optimizer and scheduler states) and converted by
   ``cris2mmrefseg.py`` (:mod:`mmrefseg.utils.checkpoint_conversion.cris`)
   for ``--config``;
4. mmrefseg's model is built from ``--config``, the converted checkpoint
   loaded strictly, and both models run in eval mode (``--dtype``, fp32 by
   default) on the same images and sentences. The token ids of the two
   tokenizers are compared, then the outputs stage by stage: end to end,
   and each mmrefseg stage on the reference's input to it (which separates
   a stage's own error from the rounding it inherits).

Exit status 0 when the largest absolute logit difference is at most
``--tol``.

Example::

    python tools/model_converters/verify_cris_conversion.py /tmp/cris_ref \\
        --config configs/cris/cris_r50_50e_refcoco.py --arch RN50
"""
import argparse
import importlib
import importlib.util
import os.path as osp
import sys
import tempfile
import types

import torch
from torch import nn

from mmrefseg.utils.checkpoint_conversion import cris as cris_conversion
from mmrefseg.utils.checkpoint_conversion.verification import (  # noqa: F401
    cumulative_batchnorm_statistics, max_diff, millions, print_diff,
    print_verdict, randomise_constant_parameters, report_conversion,
    verification_parser)

SENTENCES = [
    'the man in the red shirt on the left',
    'small white dog',
    'a very long description of the second person from the right who is '
    'holding a blue umbrella and wearing a hat',
]
# only tokenised, by both tokenizers
TOKENIZER_SENTENCES = SENTENCES + [
    '', '   ', 'café à gauche, le chien 左边的狗 🐶', 'two  spaces\tand\ttabs',
    "The MAN'S hat", 'x' * 300, 'a &amp; b', 'third from left 3rd'
]
# BN statistics come from these (a BN1d sees the sentence features: few
# sentences would give it tiny variances that amplify rounding errors)
CALIBRATION_SENTENCES = [
    'giraffe in the back', 'left most zebra', 'bowl of rice near the top',
    'a woman holding an umbrella', 'the blue car parked on the street',
    'man with glasses', 'middle pizza slice', 'the chair nearest to us',
    'black cat sleeping', 'right side of the couch', 'player in white',
    'tallest tree', 'red bus', 'the smaller elephant', 'green apple',
    'person bottom right'
]


def import_reference(ref_root: str):
    """The reference's ``model.segmenter`` module, without its
    ``model/__init__.py`` (which needs loguru)."""
    package = types.ModuleType('model')
    package.__path__ = [osp.join(ref_root, 'model')]
    sys.modules['model'] = package
    return importlib.import_module('model.segmenter')


def _load_file_module(name: str, path: str, package: str = None):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if package:
        module.__package__ = package
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def reference_tokenize(ref_root: str):
    """The reference's ``utils.dataset.tokenize``, or None if it won't load.

    Its module imports lmdb and pyarrow (for the dataset, unused here): they
    are stubbed when missing. The checkout lacks the BPE file, so the
    tokenizer's default path is pointed at open_clip's copy of the same
    vocabulary.
    """
    import open_clip.tokenizer
    for missing in ('lmdb', 'pyarrow'):
        if importlib.util.find_spec(missing) is None:
            sys.modules[missing] = types.ModuleType(missing)
    package = types.ModuleType('cris_ref_utils')
    package.__path__ = [osp.join(ref_root, 'utils')]
    sys.modules['cris_ref_utils'] = package
    try:
        tokenizer = _load_file_module(
            'cris_ref_utils.simple_tokenizer',
            osp.join(ref_root, 'utils', 'simple_tokenizer.py'))
        tokenizer.SimpleTokenizer.__init__.__defaults__ = (
            open_clip.tokenizer.default_bpe(), )
        dataset = _load_file_module(
            'cris_ref_utils.dataset',
            osp.join(ref_root, 'utils', 'dataset.py'),
            package='cris_ref_utils')
    except Exception as error:  # report and go on with our token ids
        print(f'reference tokenizer unavailable ({error!r}); both models '
              'get mmrefseg\'s token ids')
        return None
    return dataset.tokenize


def reference_config(arch: str, word_len: int, clip_path: str):
    """The reference's cfg for ``CRIS`` (its yaml files, model part)."""
    word_dim = {'RN50': 1024, 'RN101': 512}[arch]
    return argparse.Namespace(
        clip_pretrain=clip_path,
        word_len=word_len,
        word_dim=word_dim,
        vis_dim=512,
        fpn_in=[512, 1024, word_dim],
        fpn_out=[256, 512, 1024],
        num_layers=3,
        num_head=8,
        dim_ffn=2048,
        dropout=0.1,
        intermediate=False)


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, token_ids, size: int,
                        batch_size: int, generator) -> None:
    """Running BN statistics from training-mode passes over random images
    and the given sentences (cumulative mean over the batches)."""
    with cumulative_batchnorm_statistics(model):
        for batch_ids in token_ids.split(batch_size):
            images = torch.randn(
                len(batch_ids), 3, size, size, generator=generator)
            masks = torch.rand(
                len(batch_ids), 1, size // 4, size // 4, generator=generator)
            model(images, batch_ids, masks)


def save_reference_checkpoint(model: nn.Module, path: str) -> None:
    """The reference's ``train.py`` checkpoint layout, DDP prefix included."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [35], 0.1)
    torch.save(
        {
            'epoch': 50,
            'cur_iou': 0.70,
            'best_iou': 0.71,
            'prec': {f'Pr@{t}': 0.5 for t in (50, 60, 70, 80, 90)},
            'state_dict': {'module.' + k: v
                           for k, v in model.state_dict().items()},
            'optimizer': optimizer.state_dict(),
            'scheduler': scheduler.state_dict(),
        }, path)


def compare(reference, ours, images, token_ids, samples) -> float:
    """Print the differences stage by stage; return the logits' one.

    Besides the end-to-end outputs, each of mmrefseg's neck, decoder and
    projector is also fed the reference's input to that stage, which
    separates a stage's own error from the one it inherits.
    """
    ref_vis = reference.backbone.encode_image(images)
    ref_words, ref_state = reference.backbone.encode_text(token_ids)
    pad_mask = token_ids == 0
    ref_fused = reference.neck(ref_vis, ref_state)
    ref_decoded = reference.decoder(ref_fused, ref_words,
                                    pad_mask).reshape(ref_fused.shape)
    ref_logits = reference.proj(ref_decoded, ref_state)
    assert torch.equal(ref_logits, reference(images, token_ids))

    feats = ours.extract_feat(images, samples)
    head = ours.decode_head
    for name, ref, our in zip(('C3', 'C4', 'C5'), ref_vis,
                              feats['img_feats']):
        print_diff(f'end-to-end {name}', ref, our)
    print_diff('end-to-end word features', ref_words, feats['word_feats'])
    print_diff('end-to-end sentence feature', ref_state,
                feats['sentence_feat'])
    print_diff('end-to-end neck', ref_fused, feats['fused'])
    print_diff('neck alone', ref_fused, ours.neck(ref_vis, ref_state))
    print_diff('decoder alone', ref_decoded,
                head.decode(ref_fused, ref_words, pad_mask))
    print_diff('projector alone', ref_logits,
                head.proj(ref_decoded, ref_state))
    ref_feats = dict(
        feats, word_feats=ref_words, sentence_feat=ref_state,
        pad_mask=pad_mask, fused=ref_fused)
    print_diff('decoder + projector on the reference neck output',
                ref_logits, head(ref_feats))
    ref_feats['fused'] = ours.neck(feats['img_feats'], ref_state)
    print_diff('neck + decoder + projector on the reference encoders',
                ref_logits, head(ref_feats))
    logits = ours(images, samples, mode='tensor')
    disagree = ((ref_logits.sigmoid() > 0.35) != (logits.sigmoid() > 0.35))
    print(f'masks at threshold 0.35: {int(disagree.sum())} of '
          f'{disagree.numel()} pixels differ')
    return print_diff('end-to-end logits', ref_logits, logits)


def parse_args():
    parser = verification_parser(
        __doc__.split('\n')[0],
        ref_help='CRIS.pytorch checkout (default: /tmp/cris_ref)',
        ref_default='/tmp/cris_ref',
        input_size=416,
        dtype_help='precision of the comparison (float64 separates rounding '
        'from conversion errors)')
    parser.add_argument('--arch', default='RN50', choices=['RN50', 'RN101'])
    parser.add_argument(
        '--calibration-batch', type=int, default=8,
        help='batch size of the BN calibration passes over '
        f'{len(CALIBRATION_SENTENCES)} sentences')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    import open_clip
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mmseg.structures import SegDataSample

    from mmrefseg.models.utils import save_clip_torchscript
    from mmrefseg.registry import MODELS
    from mmrefseg.utils import register_all_modules

    register_all_modules()
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    cfg = Config.fromfile(args.config)
    word_len = cfg.model.text_encoder.context_length
    segmenter = import_reference(args.ref)
    ref_tokenize = reference_tokenize(args.ref)

    with tempfile.TemporaryDirectory(dir=args.work_dir) as work_dir:
        clip_path = osp.join(work_dir, f'{args.arch}.pt')
        clip = open_clip.create_model(args.arch, pretrained=None)
        save_clip_torchscript(clip.state_dict(), clip_path)
        del clip
        reference = segmenter.CRIS(
            reference_config(args.arch, word_len, clip_path))
        print(f'reference CRIS: {millions(reference)} parameters; '
              'randomised '
              f'{randomise_constant_parameters(reference, generator)} '
              'constant parameters')

        ours = MODELS.build(cfg.model)
        size = args.input_size
        images = torch.randn(len(SENTENCES), 3, size, size,
                             generator=generator)
        token_ids = ours.text_encoder.tokenize(SENTENCES)
        if ref_tokenize is not None:
            ref_ids = ref_tokenize(TOKENIZER_SENTENCES, word_len, True)
            our_ids = ours.text_encoder.tokenize(TOKENIZER_SENTENCES)
            if not torch.equal(ref_ids, our_ids):
                print(f'TOKEN IDS DIFFER:\nreference {ref_ids}\nours '
                      f'{our_ids}')
                return 1
            print(f'token ids equal on {len(TOKENIZER_SENTENCES)} sentences '
                  f'(empty, non-ASCII, cut to word_len={word_len}, ...)')
        calibrate_batchnorm(
            reference, ours.text_encoder.tokenize(CALIBRATION_SENTENCES),
            size, args.calibration_batch, generator)

        ref_ckpt = osp.join(work_dir, 'cris_reference.pth')
        converted = osp.join(work_dir, 'cris_mmrefseg.pth')
        save_reference_checkpoint(reference, ref_ckpt)
        report = cris_conversion.convert_checkpoint(
            ref_ckpt, converted, args.config, force=True)
        if not report_conversion(report):
            return 1
        load_checkpoint(ours, converted, map_location='cpu', strict=True)
        ours.eval()
        print(f'ours: {millions(ours)} parameters')

        samples = [
            SegDataSample(metainfo=dict(
                text=text, img_shape=(size, size), ori_shape=(size, size)))
            for text in SENTENCES
        ]
        dtype = getattr(torch, args.dtype)
        if dtype != torch.float32:
            # the reference's LayerNorm casts its input to fp32 (for fp16
            # weights); a no-op in fp32, it would break the fp64 run
            sys.modules['model.clip'].LayerNorm.forward = \
                nn.LayerNorm.forward
        reference.to(dtype)
        ours.to(dtype)
        with torch.no_grad():
            diff = compare(reference, ours, images.to(dtype), token_ids,
                           samples)
        print(f'{args.dtype}; tolerance on the logits: {args.tol:.0e}')
    return print_verdict(diff, args.tol)


if __name__ == '__main__':
    sys.exit(main())
