"""Latency and outputs of mmrefseg's CRIS against the reference CRIS code.

Both models are built in ONE process with the same (random) weights:

1. the reference ``CRIS`` (``model/`` of a CRIS.pytorch checkout, imported
   from ``--ref-repo``) on a random open_clip CLIP (``--arch``) saved as the
   TorchScript archive its constructor reads; every constant parameter is
   randomised and the BN statistics calibrated by two training-mode passes,
   so that the comparison exercises every weight;
2. mmrefseg's model from ``--config``, with the reference weights converted by
   ``tools/model_converters/cris2mmrefseg.py`` (in memory, strict load), in
   one or more *variants* (``--variants``):

   ``eager``        PyTorch, no inference option
                    (``NO_INFERENCE_TRANSFORMS``), ``torch.no_grad`` as the
                    reference: bit-identical to it;
   ``default``      PyTorch with the options of ``init_model`` (BatchNorm
                    folded, fused attention), ``torch.inference_mode``;
   ``onnxruntime``  the ``default`` model exported to ONNX (as
                    ``tools/deployment/pytorch2onnx.py`` exports it), run by
                    ONNX Runtime in fp32;
   ``openvino``     the same graph run by OpenVINO, precision hint f32;
   ``openvino-bf16`` the same graph, precision hint bf16 (bf16 only on CPUs
                    with AVX512-BF16 or AMX; elsewhere OpenVINO runs f32).

   The graph is exported once, into a temporary directory, for the input
   size and batch of the run. Every variant's timed call is the same:
   tokenisation, then the network from image and tokens to logits.

Then every model runs on the same image and sentence, alternating one call
each per round (the order reversed every other round, so that none always
runs right after another), ``--iters`` rounds after ``--warmup``. Reported
per model: the median wall time (and quartiles) and the median CPU time of
the process (robust when other processes share the cores), each also as a
ratio to the reference's; per variant, the precision it ran in (OpenVINO's
as it reports it) and the output differences to the reference: largest
|logit difference|, absolute and relative to the largest |logit|, largest
|probability difference| and the number of mask pixels (p > 0.35) that
differ. Also the preparation (export, runtime compilation) time and the
load average before and after: compare ratios from one run, not absolute
times across runs.

"The same outputs" is judged against the exact result: the untransformed
model (bit-identical to the reference in fp32, the ``eager`` row) evaluated
once in float64. Every fp32 run rounds away from it, the reference included;
the reference's own distance to it (for CRIS-R50 ~9e-6 of the largest
|logit| on 2 AVX2 cores, 6.0e-6 on 2 AVX-512 cores) is the yardstick. A
variant that ran in fp32 passes when its probabilities are within
``--prob-tol`` of the reference's and its logits are no farther from the
float64 result than ``--f64-slack`` (2) times the reference's distance: a
transform or a runtime may round differently, in the same order of
magnitude. The factor is not tighter because the reference's distance
itself moves with the CPU's kernels while ours need not move with it.
(Two fp32 results that each round by ~9e-6 can differ from each other by
more than that, which is why the difference to the reference alone is no
pass rule.) A variant that ran in bf16 (8 significant bits: a rounding
error of up to 3.9e-3 per operation, against fp32's 6e-8) is
reported, not judged.

Example::

    python tools/analysis_tools/compare_cris_reference.py \\
        --ref-repo /tmp/cris_ref --config configs/cris/cris_r50_refcoco.py \\
        --warmup 3 --iters 12 --num-threads 2
"""
import argparse
import copy
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import torch

from mmrefseg.apis.optimize import (NO_INFERENCE_TRANSFORMS,
                                    merge_inference_cfg)

#: PyTorch variant -> ``optimize_for_inference`` arguments.
PYTORCH_VARIANTS = dict(eager=NO_INFERENCE_TRANSFORMS,
                        default=merge_inference_cfg())
#: Runtime variant -> (backend, precision) of ``init_model``.
RUNTIME_VARIANTS = {
    'onnxruntime': ('onnxruntime', 'fp32'),
    'openvino': ('openvino', 'fp32'),
    'openvino-bf16': ('openvino', 'bf16'),
}
VARIANTS = (*PYTORCH_VARIANTS, *RUNTIME_VARIANTS)
SENTENCE = 'the man in the red shirt standing on the left'
CALIBRATION_SENTENCES = ('small white dog next to the bench',
                         'second car from the right', 'a tall lamp post')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Latency and logits of mmrefseg CRIS vs the reference')
    parser.add_argument(
        '--ref-repo', default='/tmp/cris_ref',
        help='CRIS.pytorch checkout (its model/ package is imported)')
    parser.add_argument(
        '--config', default='configs/cris/cris_r50_refcoco.py',
        help='mmrefseg config of the same model')
    parser.add_argument('--arch', default='RN50', choices=['RN50', 'RN101'])
    parser.add_argument('--input-size', type=int, default=416)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--variants', default=','.join(VARIANTS),
        help=f'comma-separated variants of ours, from {VARIANTS} (default: '
        'all)')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--iters', type=int, default=15)
    parser.add_argument(
        '--num-threads', type=int, default=None,
        help='torch intra-op threads (default: torch\'s choice)')
    parser.add_argument(
        '--prob-tol', type=float, default=1e-4,
        help='largest |probability difference| allowed (default: 1e-4)')
    parser.add_argument(
        '--f64-slack', type=float, default=2.0,
        help='largest distance of a variant\'s logits to the float64 result, '
        'as a multiple of the reference\'s distance (default: 2)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(',') if v.strip()]
    for variant in args.variants:
        if variant not in VARIANTS:
            parser.error(f'unknown variant {variant!r}; choose from '
                         f'{VARIANTS}')
    return args


def _load_average() -> str:
    try:
        return ' '.join(f'{x:.2f}' for x in os.getloadavg())
    except OSError:
        return 'n/a'


def build_reference(args, word_len: int, calibration_images,
                    calibration_ids, work_dir):
    """The reference CRIS with random, calibrated weights (eval mode).

    The BN statistics come from training-mode passes over distinct images
    and sentences (identical samples would give BatchNorm1d a zero variance
    and blow the activations up).
    """
    import open_clip
    import verify_cris_conversion as verify

    from mmrefseg.models.utils import save_clip_torchscript

    segmenter = verify.import_reference(args.ref_repo)
    clip_path = osp.join(work_dir, f'{args.arch}.pt')
    clip = open_clip.create_model(args.arch, pretrained=None)
    save_clip_torchscript(clip.state_dict(), clip_path)
    del clip
    reference = segmenter.CRIS(
        verify.reference_config(args.arch, word_len, clip_path))
    generator = torch.Generator().manual_seed(args.seed)
    verify.randomise_constant_parameters(reference, generator)
    calibrate_batchnorm(reference, calibration_images, calibration_ids)
    return reference.eval()


@torch.no_grad()
def calibrate_batchnorm(model, images, token_ids, steps: int = 2) -> None:
    """Running BN statistics of training-mode passes (cumulative mean)."""
    from verify_cris_conversion import cumulative_batchnorm_statistics
    masks = torch.zeros(images.shape[0], 1, images.shape[2] // 4,
                        images.shape[3] // 4)
    with cumulative_batchnorm_statistics(model):
        for step in range(steps):
            model(images + 0.1 * step, token_ids, masks)


def build_ours(config, reference):
    """mmrefseg's model with the reference weights converted onto it."""
    import cris2mmrefseg
    from mmengine.config import Config

    from mmrefseg.registry import MODELS
    model = MODELS.build(Config.fromfile(config).model)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    source = {'module.' + k: v for k, v in reference.state_dict().items()}
    state_dict, report = cris2mmrefseg.convert_state_dict(source, shapes)
    if not report.complete:
        raise RuntimeError('conversion incomplete:\n' +
                           '\n'.join(report.lines()))
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def make_variant(name, base, images, samples):
    """A PyTorch variant: (callable returning logits, seconds preparing)."""
    from mmrefseg.apis import optimize_for_inference
    model = copy.deepcopy(base)
    start = time.perf_counter()
    optimize_for_inference(model, **PYTORCH_VARIANTS[name])
    # The reference runs under no_grad: the untransformed model must too, to
    # stay bit-identical.
    context = torch.no_grad if name == 'eager' else torch.inference_mode

    def run():
        with context():
            return model(images, samples, mode='tensor')

    return run, time.perf_counter() - start


def export_default(base, work_dir: str, size: int, batch_size: int) -> str:
    """The ``default`` variant exported to ONNX in ``work_dir``; its file."""
    from mmrefseg.apis import optimize_for_inference
    from mmrefseg.deploy import export_onnx
    model = optimize_for_inference(
        copy.deepcopy(base), **PYTORCH_VARIANTS['default'])
    return export_onnx(
        model,
        osp.join(work_dir, 'cris.onnx'),
        input_shape=(size, size),
        dynamic_batch=batch_size > 1)


def make_runtime_variant(name, config, onnx_file, images, samples,
                         num_threads):
    """A runtime variant: (callable returning logits, seconds preparing,
    the precision the runtime runs)."""
    from mmrefseg.apis import init_model
    backend, precision = RUNTIME_VARIANTS[name]
    start = time.perf_counter()
    model = init_model(
        config,
        onnx_file,
        backend=backend,
        precision=precision,
        num_threads=num_threads)

    def run():
        with torch.no_grad():
            return model(images, samples, mode='tensor')

    return run, time.perf_counter() - start, _precision_name(
        model.backend.runs_precision)


def _precision_name(runs) -> str:
    """'fp32' or 'bf16' for a precision as a runtime reports it ('f32',
    'bfloat16', OpenVINO's element type...)."""
    text = str(runs).lower()
    if 'bf16' in text or 'bfloat16' in text:
        return 'bf16'
    if 'f32' in text or 'float32' in text:
        return 'fp32'
    return text


def alternate(runners: dict, warmup: int, iters: int) -> tuple:
    """Round-robin timing.

    Returns:
        tuple[dict, dict]: name -> wall seconds, name -> CPU seconds of this
        process (all threads): the second is robust to other processes
        sharing the cores, the first is what a user waits.
    """
    names = list(runners)
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for round_index in range(warmup + iters):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            runners[name]()
            elapsed = time.perf_counter() - start
            elapsed_cpu = time.process_time() - start_cpu
            if round_index >= warmup:
                wall[name].append(elapsed)
                cpu[name].append(elapsed_cpu)
    return wall, cpu


@torch.no_grad()
def float64_logits(model, images, samples):
    """The logits of ``model`` (untransformed) evaluated in float64."""
    exact = copy.deepcopy(model).double()
    return exact(images.double(), samples, mode='tensor')


def f64_distance(logits, exact_logits) -> float:
    """Largest |logits - exact|, relative to the largest exact |logit|."""
    diff = (logits.double() - exact_logits).abs().max().item()
    return diff / max(1.0, exact_logits.abs().max().item())


def output_differences(logits,
                       ref_logits,
                       exact_logits,
                       threshold: float = 0.35) -> dict:
    """How far ``logits`` are from the reference's, in several terms, and
    from the float64 result."""
    diff = (logits.float() - ref_logits).abs().max().item()
    probs, ref_probs = logits.float().sigmoid(), ref_logits.sigmoid()
    return dict(
        logit=diff,
        relative=diff / max(1.0, ref_logits.abs().max().item()),
        f64=f64_distance(logits, exact_logits),
        prob=(probs - ref_probs).abs().max().item(),
        mask=int(((probs > threshold) != (ref_probs > threshold)).sum()))


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(
        0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                    'model_converters'))
    from mmengine.config import Config
    from mmseg.structures import SegDataSample

    from mmrefseg.utils import register_all_modules
    register_all_modules()
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    torch.manual_seed(args.seed)
    word_len = Config.fromfile(args.config).model.text_encoder.context_length

    size = args.input_size
    generator = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch_size, 3, size, size, generator=generator)
    texts = [SENTENCE] * args.batch_size
    samples = [
        SegDataSample(metainfo=dict(
            text=text, img_shape=(size, size), ori_shape=(size, size)))
        for text in texts
    ]

    print(f'{_versions(args.variants)}, {torch.get_num_threads()} threads, '
          f'input {args.batch_size}x3x{size}x{size}')
    print(f'load average before: {_load_average()}')
    with tempfile.TemporaryDirectory() as work_dir:
        from mmrefseg.registry import MODELS
        tokenizer = MODELS.build(
            Config.fromfile(args.config).model.text_encoder)
        token_ids = tokenizer.tokenize(texts)
        calibration_ids = tokenizer.tokenize(CALIBRATION_SENTENCES)
        del tokenizer
        calibration_images = torch.randn(
            len(CALIBRATION_SENTENCES), 3, size, size, generator=generator)
        reference = build_reference(args, word_len, calibration_images,
                                    calibration_ids, work_dir)
    base = build_ours(args.config, reference)
    print(f'parameters: reference '
          f'{sum(p.numel() for p in reference.parameters()) / 1e6:.2f} M, '
          f'ours {sum(p.numel() for p in base.parameters()) / 1e6:.2f} M')

    def run_reference():
        with torch.no_grad():
            return reference(images, token_ids)

    runners = {'reference': run_reference}
    with torch.no_grad():
        ref_logits = run_reference()
    exact_logits = float64_logits(base, images, samples)
    ref_f64 = f64_distance(ref_logits, exact_logits)
    diffs, precisions = {}, {}
    with tempfile.TemporaryDirectory() as work_dir:
        onnx_file = None
        for name in args.variants:
            if name in PYTORCH_VARIANTS:
                runner, prepare = make_variant(name, base, images, samples)
                precisions[name] = 'fp32'
            else:
                if onnx_file is None:
                    start = time.perf_counter()
                    onnx_file = export_default(base, work_dir, size,
                                               args.batch_size)
                    print(f'exported to ONNX in '
                          f'{time.perf_counter() - start:.1f} s '
                          f'({osp.getsize(onnx_file) / 2**20:.0f} MiB)')
                runner, prepare, precisions[name] = make_runtime_variant(
                    name, args.config, onnx_file, images, samples,
                    args.num_threads)
            runners[name] = runner
            diffs[name] = output_differences(runner(), ref_logits,
                                             exact_logits)
            print(f'{name}: prepared in {prepare:.1f} s, runs '
                  f'{precisions[name]}')
        del base

        wall, cpu = alternate(runners, args.warmup, args.iters)
    print(f'load average after: {_load_average()}')
    print(f'\n{"model":<15}{"ran":>5}{"wall ms":>9}{"(q1-q3)":>15}'
          f'{"ratio":>7}{"cpu ms":>9}{"ratio":>7}{"|dlogit|":>10}'
          f'{"rel":>9}{"f64":>9}{"|dprob|":>9}{"mask px":>8}  judged')
    ok = True
    for name in wall:
        q1, median, q3 = _quartiles(wall[name])
        cpu_median = statistics.median(cpu[name])
        line = (f'{name:<15}{precisions.get(name, "fp32"):>5}'
                f'{median * 1e3:>9.1f}'
                f'{f"({q1 * 1e3:.0f}-{q3 * 1e3:.0f})":>15}'
                f'{median / statistics.median(wall["reference"]):>7.3f}'
                f'{cpu_median * 1e3:>9.1f}'
                f'{cpu_median / statistics.median(cpu["reference"]):>7.3f}')
        if name in diffs:
            d = diffs[name]
            line += (f'{d["logit"]:>10.2e}{d["relative"]:>9.1e}'
                     f'{d["f64"]:>9.1e}{d["prob"]:>9.1e}{d["mask"]:>8d}')
            if precisions[name] == 'fp32':
                passed = d['prob'] <= args.prob_tol and \
                    d['f64'] <= args.f64_slack * ref_f64
                ok &= passed
                line += '  ' + ('pass' if passed else 'FAIL')
            else:
                line += '  reported only'
        else:
            line += f'{"":>19}{ref_f64:>9.1e}'
        print(line)
    print(f'ran: the precision the model ran in; ratio: median of ours / '
          f'median of the reference; max |logit| of the reference '
          f'{ref_logits.abs().max().item():.2f}; rel: |dlogit| / max '
          '|logit|; f64: max |logit - float64 logit| / max |logit|; mask '
          f'px: pixels of the {tuple(ref_logits.shape[-2:])} mask '
          f'({ref_logits[0, 0].numel()} logits, p > 0.35) that differ')
    print(f'fp32 variants, |dprob| <= {args.prob_tol:.0e} and f64 <= '
          f'{args.f64_slack} x the reference\'s '
          f'({args.f64_slack * ref_f64:.1e}): {"PASS" if ok else "FAIL"}')
    return 0 if ok else 1


def _quartiles(values):
    if len(values) < 2:
        return values[0], values[0], values[0]
    return tuple(statistics.quantiles(values, n=4))


def _versions(variants) -> str:
    """torch's version and those of the runtimes ``variants`` use."""
    from importlib.metadata import PackageNotFoundError, version
    packages = ['torch'] + sorted(
        {RUNTIME_VARIANTS[name][0]
         for name in variants if name in RUNTIME_VARIANTS})
    found = []
    for package in packages:
        try:
            found.append(f'{package} {version(package)}')
        except PackageNotFoundError:
            found.append(f'{package} (not installed)')
    return ', '.join(found)


if __name__ == '__main__':
    sys.exit(main())
