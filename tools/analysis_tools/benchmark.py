"""Parameters, FLOPs, latency, throughput and peak memory of a segmentor.

The timed call is the tensor-mode forward (image + sentence -> mask logits
at the head's resolution), as the CRIS reference's latency script times it;
tokenisation is included, resizing the masks to the image is not. The same
call is timed on every backend (``--backend``):

* ``pytorch``: the model of :func:`mmrefseg.apis.init_model` (checkpoint or
  random weights) with the inference options chosen by the flags: BatchNorm
  folding (on unless ``--no-fuse-conv-bn``), ``--[no-]fused-attention``,
  ``--[no-]channels-last`` (off by default), ``--compile`` (inductor with
  ``freezing``; ``--compile-mode reduce-overhead`` adds CUDA graphs) and
  ``--dtype`` (bf16 / fp16 autocast). The defaults are those of
  :func:`mmrefseg.apis.init_model`.
* ``onnxruntime`` / ``openvino``: the graph exported by
  ``tools/deployment/pytorch2onnx.py`` (``--checkpoint FILE.onnx``, or an
  OpenVINO ``.xml`` IR), run by :class:`mmrefseg.deploy.
  DeployedReferSegmentor`: the same tokenizer, then the runtime from tokens
  to logits. The input size is the graph's; a graph of batch 1 runs a
  larger ``--batch-size`` one sample at a time. ``--dtype`` is the
  runtime's precision: ONNX Runtime runs fp32 only, OpenVINO fp32 or bf16
  (its precision hint; the precision it reports running is printed, f32 on
  CPUs without AVX512-BF16 / AMX).

``--num-threads`` sets torch's intra-op threads and the runtime's.

Reported: parameters and FLOPs of one sample, both of the PyTorch model as
built from the config, before any option is applied (mmengine's
fvcore-style counter: one multiply-add counts as one FLOP; for the
runtimes, counted on a randomly initialised PyTorch model of the same
config, released before timing), the first call's time (compilation
included), median / quartile latency over ``--iters`` timed calls after
``--warmup``, images per second, and peak memory during the timed calls
(PyTorch on CUDA: ``max_memory_allocated`` above what the loaded model
holds; otherwise the largest resident set of the process, sampled every
millisecond, above the one before the first call), and that of the first
call.

Example::

    python tools/analysis_tools/benchmark.py \\
        configs/cris/cris_r50_refcoco.py \\
        --batch-size 1 --device cpu --dtype fp32 --num-threads 2
    python tools/analysis_tools/benchmark.py \\
        configs/cris/cris_r50_refcoco.py \\
        --backend openvino --checkpoint cris_r50.onnx --num-threads 2
"""
import argparse
import os
import statistics
import sys
import threading
import time
from typing import Callable, List, Optional, Tuple

import torch
from mmengine.config import DictAction
from torch import nn

SENTENCE = 'the man in the red shirt standing on the left'
#: Backend -> the ``--dtype`` values it runs.
BACKEND_DTYPES = dict(
    pytorch=('fp32', 'bf16', 'fp16'),
    onnxruntime=('fp32', ),
    openvino=('fp32', 'bf16'))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Benchmark a referring segmentor')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--checkpoint',
        help='PyTorch checkpoint (default: random weights), or the exported '
        'model file of --backend onnxruntime / openvino (required there)')
    parser.add_argument(
        '--backend', choices=tuple(BACKEND_DTYPES), default='pytorch',
        help='what runs the network (default: pytorch)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--input-size', type=int, nargs=2, metavar=('H', 'W'),
        help='network input size (default: the test pipeline\'s resize '
        'scale; for an exported graph, its input size)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1')
    parser.add_argument(
        '--dtype', choices=['fp32', 'bf16', 'fp16'], default='fp32',
        help='pytorch: fp32, or autocast to bf16 / fp16; openvino: its '
        'precision hint, fp32 or bf16; onnxruntime: fp32 (default: fp32)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile backbone, neck, head, text '
                        'encoder (inductor, freezing=True)')
    parser.add_argument(
        '--compile-mode',
        choices=['default', 'reduce-overhead', 'max-autotune'],
        default='default',
        help="torch.compile mode with --compile; 'reduce-overhead' "
        'replays CUDA graphs (batch 1 on a GPU is launch-bound)')
    parser.add_argument(
        '--channels-last', action=argparse.BooleanOptionalAction,
        default=False,
        help='NHWC convolution weights and input (default: off, as '
        'init_model)')
    parser.add_argument('--no-fuse-conv-bn', action='store_true',
                        help='keep BatchNorm layers separate')
    parser.add_argument(
        '--fused-attention', action=argparse.BooleanOptionalAction,
        default=None,
        help='CRIS decoder attention through scaled_dot_product_attention '
        '(default: as init_model, on)')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument(
        '--num-threads', type=int,
        help='intra-op threads of torch and of the runtime (default: '
        'their own choice)')
    parser.add_argument('--no-flops', action='store_true',
                        help='skip the FLOP count (it traces the model)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, xxx=yyy')
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.iters < 1 or args.warmup < 0:
        parser.error('--batch-size and --iters must be >= 1, --warmup >= 0')
    if args.num_threads is not None and args.num_threads < 1:
        parser.error('--num-threads must be >= 1')
    if args.compile_mode != 'default' and not args.compile:
        parser.error(f'--compile-mode {args.compile_mode} needs --compile')
    if args.dtype not in BACKEND_DTYPES[args.backend]:
        hint = (' (bf16: --backend openvino, on a CPU with AVX512-BF16 or '
                'AMX)' if args.backend == 'onnxruntime' else '')
        parser.error(f'--backend {args.backend} runs --dtype '
                     f'{" or ".join(BACKEND_DTYPES[args.backend])}, not '
                     f'{args.dtype}{hint}')
    if args.backend != 'pytorch':
        if args.checkpoint is None:
            parser.error(f'--backend {args.backend} needs the exported model '
                         'file as --checkpoint (tools/deployment/'
                         'pytorch2onnx.py writes it)')
        pytorch_only = [
            flag for flag, given in (
                ('--compile', args.compile),
                ('--channels-last', args.channels_last),
                ('--no-fuse-conv-bn', args.no_fuse_conv_bn),
                ('--[no-]fused-attention', args.fused_attention is not None))
            if given
        ]
        if pytorch_only:
            parser.error(f'{", ".join(pytorch_only)}: PyTorch options, not '
                         f'for --backend {args.backend} (the exported graph '
                         'is fixed)')
    if args.device.startswith('cuda') and args.backend == 'pytorch' and \
            not torch.cuda.is_available():
        parser.error(f'--device {args.device}: CUDA is not available')
    return args


def default_input_size(cfg) -> Tuple[int, int]:
    """(H, W) of the test pipeline's resize, else 416 x 416."""
    from mmrefseg.deploy import config_input_shape
    try:
        return config_input_shape(cfg)
    except KeyError:
        return 416, 416


class FixedSentenceForward(nn.Module):
    """The tensor-mode forward with fixed sentences: ``images -> logits``.

    The FLOP counter traces a module called with tensors only; the segmentor
    reads its sentences from data samples, so they are fixed here (their
    token ids become constants of the trace).

    Args:
        model (nn.Module): A ``ReferSegmentor``.
        texts (list[str]): One sentence per image of the batch.
    """

    def __init__(self, model: nn.Module, texts: List[str]):
        super().__init__()
        from mmseg.structures import SegDataSample
        self.model = model
        self.data_samples = [
            SegDataSample(metainfo=dict(text=text)) for text in texts
        ]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> mask logits (B, 1, h, w)."""
        return self.model(images, self.data_samples, mode='tensor')


def _sdpa_flop_jit(inputs, outputs) -> int:
    """Multiply-adds of ``aten::scaled_dot_product_attention``: Q K^T and
    the weighted sum of V, ``B * heads * Nq * Nk * (d_k + d_v)``."""
    from mmengine.analysis.jit_handles import get_shape
    query, key, value = (get_shape(v) for v in inputs[:3])
    *batch, num_queries, dim_k = query
    num_keys, dim_v = key[-2], value[-1]
    batch_size = 1
    for size in batch:
        batch_size *= size
    return batch_size * num_queries * num_keys * (dim_k + dim_v)


def count_flops(model: nn.Module, height: int, width: int,
                device) -> Optional[int]:
    """FLOPs of one sample's forward (fvcore convention), or None."""
    from mmengine.analysis import FlopAnalyzer
    wrapper = FixedSentenceForward(model, [SENTENCE]).eval()
    images = torch.randn(1, 3, height, width, device=device)
    analyzer = FlopAnalyzer(wrapper, (images, ))
    # mmengine has no handle for fused attention: without this, every
    # attention product would be missing from the count.
    analyzer.set_op_handle('aten::scaled_dot_product_attention',
                           _sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        return int(analyzer.total())


def release_free_heap() -> None:
    """Returns freed heap memory to the OS (glibc ``malloc_trim``), so that
    the resident set measured next holds live memory only; a no-op where
    glibc is absent."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Samples the resident set size in a thread; ``peak`` - ``start``."""

    def __init__(self, interval: float = 1e-3):
        import psutil
        release_free_heap()
        self.process = psutil.Process(os.getpid())
        self.interval = interval
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def increase(self) -> int:
        return self.peak - self.start


def time_calls(run: Callable, iters: int, sync: Callable) -> List[float]:
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return times


def build_pytorch(args, device: torch.device):
    """The PyTorch model with the flags' options applied.

    Returns:
        tuple: model, (H, W), parameters, FLOPs (or None), the options
        applied (list of str) and the precision line.
    """
    from mmrefseg.apis import (DEFAULT_INFERENCE_CFG, NO_INFERENCE_TRANSFORMS,
                               init_model, optimize_for_inference)
    model = init_model(
        args.config,
        args.checkpoint,
        device=args.device,
        cfg_options=args.cfg_options,
        inference_cfg=NO_INFERENCE_TRANSFORMS)
    height, width = args.input_size or default_input_size(model.cfg)
    num_params = sum(p.numel() for p in model.parameters())
    flops = None if args.no_flops else count_flops(model, height, width,
                                                   device)
    transforms = dict(
        fuse_conv_bn=not args.no_fuse_conv_bn,
        fused_attention=DEFAULT_INFERENCE_CFG['fused_attention']
        if args.fused_attention is None else args.fused_attention,
        channels_last=args.channels_last,
        compile=args.compile)
    compile_cfg = dict(
        DEFAULT_INFERENCE_CFG['compile_cfg'], mode=args.compile_mode)
    optimize_for_inference(model, compile_cfg=compile_cfg, **transforms)
    options = [name for name, on in transforms.items() if on]
    precision = 'fp32' if args.dtype == 'fp32' else f'{args.dtype} autocast'
    return model, (height, width), num_params, flops, options, precision


def build_runtime(args):
    """The exported graph in its runtime, and the PyTorch model's counts.

    Returns:
        tuple: as :func:`build_pytorch`; the options are the runtime and
        graph, the precision line the one the runtime reports running.
    """
    from mmrefseg.apis import NO_INFERENCE_TRANSFORMS, init_model
    from mmrefseg.deploy.graph_io import IMAGE_INPUT
    model = init_model(
        args.config,
        args.checkpoint,
        device=args.device,
        cfg_options=args.cfg_options,
        backend=args.backend,
        precision=args.dtype,
        num_threads=args.num_threads)
    graph_shape = model.backend.input_shapes[IMAGE_INPUT]
    height, width = args.input_size or graph_shape[2:]
    # The graph's initializers are not the model's parameters (BatchNorm
    # folded, constants shared or split): count on the model as built.
    built = init_model(
        model.cfg,
        None,
        device='cpu',
        inference_cfg=NO_INFERENCE_TRANSFORMS)
    num_params = sum(p.numel() for p in built.parameters())
    flops = None if args.no_flops else count_flops(built, height, width,
                                                   'cpu')
    del built
    batch = 'dynamic' if graph_shape[0] is None else graph_shape[0]
    options = [
        f'{args.backend} graph {os.path.basename(args.checkpoint)} '
        f'(batch {batch})'
    ]
    precision = f'{model.backend.runs_precision} (requested {args.dtype})'
    return model, (height, width), num_params, flops, options, precision


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmrefseg.apis import inference_autocast
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    device = torch.device(args.device)
    torch_cuda = device.type == 'cuda' and args.backend == 'pytorch'
    if args.backend == 'pytorch':
        built = build_pytorch(args, device)
    else:
        built = build_runtime(args)
    model, (height, width), num_params, flops, options, precision = built
    autocast = None if args.dtype == 'fp32' or args.backend != 'pytorch' \
        else args.dtype
    images = torch.randn(
        args.batch_size, 3, height, width,
        device=device if args.backend == 'pytorch' else 'cpu')
    if args.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    forward = FixedSentenceForward(model, [SENTENCE] * args.batch_size)

    def run():
        if args.compile_mode == 'reduce-overhead':
            # Each call is a new step: the graphs may reuse the last
            # call's output memory.
            torch.compiler.cudagraph_mark_step_begin()
        with torch.inference_mode(), inference_autocast(device, autocast):
            return forward(images)

    sync = torch.cuda.synchronize if torch_cuda else (lambda: None)
    if torch_cuda:
        sync()
        allocated = torch.cuda.memory_allocated(device)
    else:
        rss = PeakRSS().__enter__()
    start = time.perf_counter()
    run()
    sync()
    first_call = time.perf_counter() - start
    if torch_cuda:
        first_peak = torch.cuda.max_memory_allocated(device) - allocated
        torch.cuda.reset_peak_memory_stats(device)
    else:
        first_peak = rss.increase
    time_calls(run, max(args.warmup - 1, 0), sync)
    times = time_calls(run, args.iters, sync)
    if torch_cuda:
        peak_memory = torch.cuda.max_memory_allocated(device) - allocated
        memory_kind = 'CUDA max_memory_allocated above the loaded model'
    else:
        rss.__exit__(None, None, None)
        peak_memory = rss.peak - rss.start
        memory_kind = 'CPU peak RSS above the loaded model'

    median = statistics.median(times)
    q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else \
        (times[0], ) * 3
    try:
        load = ' '.join(f'{x:.2f}' for x in os.getloadavg())
    except OSError:
        load = 'n/a'
    if torch_cuda:
        device_line = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads() if args.backend == 'pytorch' \
            else args.num_threads or "the runtime's default"
        device_line = f'{device} ({threads} threads)'
    lines = [
        ('config', args.config),
        ('backend', f'{args.backend} {_backend_version(args.backend)}'),
        ('device', device_line),
        ('input', f'{args.batch_size} x 3 x {height} x {width}'),
        ('precision', precision),
        ('inference options', ', '.join(options) or 'none'),
        ('parameters', f'{num_params / 1e6:.2f} M'),
        ('FLOPs (1 sample)', 'skipped' if flops is None else
         f'{flops / 1e9:.2f} G'),
        ('compile mode', args.compile_mode if args.compile else 'n/a'),
        ('first call' + (' (compile)' if args.compile else ''),
         f'{first_call:.2f} s'),
        ('latency median', f'{median * 1e3:.1f} ms '
         f'(q1 {q1 * 1e3:.1f}, q3 {q3 * 1e3:.1f}, {args.iters} iters)'),
        ('throughput', f'{args.batch_size / median:.2f} images/s'),
        ('peak memory', f'{peak_memory / 2**20:.1f} MiB ({memory_kind}; '
         f'first call {first_peak / 2**20:.1f} MiB)'),
        ('load average', load),
    ]
    width_key = max(len(key) for key, _ in lines)
    for key, value in lines:
        print(f'{key:<{width_key}}  {value}')
    return 0


def _backend_version(backend: str) -> str:
    """The version of the package that runs ``backend``."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version({'pytorch': 'torch'}.get(backend, backend))
    except PackageNotFoundError:
        return ''


if __name__ == '__main__':
    sys.exit(main())
