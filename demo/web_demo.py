"""A web page to try a referring segmentor: an image, sentences, masks.

Usage::

    python demo/web_demo.py CONFIG CHECKPOINT \\
        [--backend pytorch|onnxruntime|openvino] [--precision fp32|bf16] \\
        [--device cpu] [--host 127.0.0.1] [--port 7860] \\
        [--examples-dir data/refer_toy] [--max-sentences 8]

then open http://127.0.0.1:7860 in a browser. Upload an image (or click one
of the examples, taken from the generated refer data), type one sentence per
line and press "Segment": each sentence gets its own picture (the mask over
the image, the sentence printed on top) captioned with the mask's score.
Models whose head makes one mask per query (EAVL's aligner) also show every
query's mask with its estimator score (EAVL, Fig. 4); a model that can
answer "no such object" (GRES) shows its verdict. The latency of each request
is printed above the results, and the masks can be downloaded as JSON (COCO
RLE, the ``pycocotools.mask`` encoding).

The page runs the same code as ``demo/image_demo.py``: ``init_model`` and
``inference_model`` of :mod:`mmrefseg.apis`, and the config's visualizer.
It serves on localhost only unless ``--host`` says otherwise, and fetches
nothing from the network: Gradio's analytics are off and the theme uses the
fonts shipped with Gradio and the system's.

Bad input (a file that is not an image, no sentence, too many sentences, an
image too large) is answered with a message on the page; the server keeps
serving.
"""
import argparse
import json
import logging
import os
import os.path as osp
import pickle
import shutil
import sys
import tempfile
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

# Before gradio and huggingface_hub are imported: they read these once.
os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import cv2  # noqa: E402
import mmcv  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402

from mmrefseg.apis import (BACKENDS, PRECISIONS, check_sentences,  # noqa: E402
                           inference_model, init_model)
from mmrefseg.registry import VISUALIZERS  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: Where the README's quick start writes the generated data.
DEFAULT_EXAMPLES_DIR = osp.join(REPO, 'data', 'refer_toy')
#: Larger uploads are refused: the masks are drawn at the image's size.
MAX_IMAGE_PIXELS = 40_000_000
#: Side of one tile of the per-query mosaic, in pixels.
QUERY_TILE = 160
#: Decodable image formats (OpenCV), named in the message for a bad upload.
IMAGE_FORMATS = 'JPEG, PNG, BMP, WebP or TIFF'

logger = logging.getLogger('web_demo')


class InputError(ValueError):
    """Bad input from the page: its message is shown there as it is."""


# --- Input checks ------------------------------------------------------------
def parse_sentences(text: Optional[str], max_sentences: int) -> List[str]:
    """The sentences of the text box: one per line, blank lines skipped.

    Raises:
        InputError: No sentence, or more than ``max_sentences``.
    """
    sentences = [line.strip() for line in (text or '').splitlines()]
    sentences = [sentence for sentence in sentences if sentence]
    if not sentences:
        raise InputError('Type at least one sentence (one per line), e.g. '
                         '"the red circle".')
    if len(sentences) > max_sentences:
        raise InputError(f'{len(sentences)} sentences given; this page takes '
                         f'at most {max_sentences} per request.')
    try:
        check_sentences(sentences)
    except (TypeError, ValueError) as error:
        raise InputError(str(error)) from error
    return sentences


def uploaded_path(payload: Any) -> Tuple[str, str]:
    """(path on the server, name the user gave) of an image payload.

    ``payload`` is what the page sends for an image component: a dict with
    ``path`` and ``orig_name`` (or a plain path).

    Raises:
        InputError: Nothing uploaded.
    """
    if isinstance(payload, dict):
        path = payload.get('path')
        name = payload.get('orig_name') or osp.basename(path or '')
    else:
        path = payload
        name = osp.basename(payload or '')
    if not path:
        raise InputError('Upload an image (or click one of the examples) '
                         'first.')
    return str(path), str(name)


def read_image(path: str, name: str) -> np.ndarray:
    """Decodes an uploaded file as the CLI demo does: (H, W, 3) RGB uint8.

    Raises:
        InputError: The file is not a decodable image, or is too large.
    """
    try:
        image = mmcv.imread(path)
    except Exception:  # any decoder failure means "not an image"
        image = None
    if image is None or image.ndim != 3 or image.size == 0:
        raise InputError(f'"{name}" is not an image this page can read; '
                         f'upload a {IMAGE_FORMATS} file.')
    height, width = image.shape[:2]
    if height * width > MAX_IMAGE_PIXELS:
        raise InputError(f'"{name}" is {width} x {height} pixels; this page '
                         f'takes images of at most '
                         f'{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels.')
    return mmcv.bgr2rgb(image)


def truncation_notes(model, sentences: Sequence[str]) -> List[str]:
    """Notes for sentences longer than the text encoder reads."""
    encoder = getattr(model, 'text_encoder', None)
    counter = getattr(encoder, 'count_tokens', None)
    limit = getattr(encoder, 'context_length', None) or getattr(
        encoder, 'word_len', None)
    if counter is None or not isinstance(limit, int):
        return []
    return [
        f'Sentence {index + 1} has {count} tokens; the model reads only its '
        f'first {limit}.'
        for index, count in enumerate(counter(list(sentences)))
        if count > limit
    ]


# --- Results -----------------------------------------------------------------
def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE of an (H, W) bool mask, ``counts`` as text (JSON-safe)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=[int(v) for v in rle['size']],
                counts=rle['counts'].decode('ascii'))


def decode_rle(rle: dict) -> np.ndarray:
    """The (H, W) bool mask of :func:`encode_rle`'s output."""
    return mask_utils.decode(
        dict(size=rle['size'], counts=rle['counts'].encode('ascii'))) > 0


def no_target_verdict(prediction) -> Optional[bool]:
    """True if the model says the sentence refers to nothing (GRES models
    set ``pred_no_target`` on their data samples); None for models that
    always segment something."""
    verdict = getattr(prediction, 'no_target', None)
    if verdict is not None:
        return bool(verdict)
    value = getattr(prediction.data_sample, 'pred_no_target', None)
    if value is None:
        return None
    value = getattr(value, 'data', value)  # LabelData / PixelData
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return bool(np.asarray(value).any())


def query_threshold(model) -> float:
    """The probability above which a pixel is foreground (test_cfg)."""
    return float((getattr(model, 'test_cfg', None) or {}).get(
        'threshold', 0.35))


@dataclass
class SegmentResult:
    """What one request shows: pictures, captions, the JSON and timings."""
    overlays: List[Tuple[np.ndarray, str]]
    query_mosaics: List[Tuple[np.ndarray, str]]
    record: dict
    notes: List[str] = field(default_factory=list)

    def summary(self) -> str:
        timing = self.record['latency_ms']
        count = len(self.overlays)
        lines = [
            f'**{count} sentence{"s" if count > 1 else ""}** in '
            f'{timing["total"]:.0f} ms (inference {timing["inference"]:.0f} '
            f'ms, drawing {timing["drawing"]:.0f} ms)'
        ]
        for index, entry in enumerate(self.record['sentences']):
            if entry['no_target'] is not None:
                verdict = ('no object matches it' if entry['no_target'] else
                           'it refers to the masked region')
                lines.append(f'Sentence {index + 1} ("{entry["text"]}"): '
                             f'{verdict}.')
        lines += self.notes
        return '\n\n'.join(lines)


class WebDemo:
    """The page's logic, apart from Gradio: checks, inference, drawing.

    Args:
        model (nn.Module): From :func:`mmrefseg.apis.init_model`.
        max_sentences (int): Most sentences per request. Defaults to 8.
        opacity (float): Opacity of the mask fill. Defaults to 0.5.
        out_dir (str, optional): Where the JSON files go; a temporary
            folder if None. Defaults to None.
        description (dict, optional): What the JSON says about the model
            (config, backend, ...). Defaults to None.
    """

    #: JSON files kept; older ones are deleted (Gradio holds its own copy).
    KEEP_FILES = 16

    def __init__(self,
                 model,
                 max_sentences: int = 8,
                 opacity: float = 0.5,
                 out_dir: Optional[str] = None,
                 description: Optional[dict] = None):
        self.model = model
        self.max_sentences = max_sentences
        self.description = dict(description or {})
        vis_cfg = dict(model.cfg.get('visualizer') or
                       dict(type='ReferLocalVisualizer'))
        vis_cfg.pop('vis_backends', None)
        vis_cfg.pop('save_dir', None)
        vis_cfg.update(name=f'web_demo_{id(self)}', alpha=opacity)
        self.visualizer = VISUALIZERS.build(vis_cfg)
        # The query tiles are small: their captions get a larger font.
        self.tile_visualizer = VISUALIZERS.build(
            dict(
                type='ReferLocalVisualizer',
                name=f'web_demo_tiles_{id(self)}',
                alpha=opacity,
                font_size=QUERY_TILE // 7))
        if out_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix='mmrefseg_web_')
            out_dir = self._tmp.name
        self.out_dir = out_dir
        os.makedirs(out_dir, exist_ok=True)
        self._written: deque = deque()
        self._requests = 0

    def draw(self, rgb: np.ndarray, prediction) -> np.ndarray:
        """The overlay of one sentence, as ``demo/image_demo.py`` draws it."""
        return self.visualizer.add_datasample(
            'web_demo', rgb, prediction.data_sample, draw_gt=False,
            out_file=None)

    def query_mosaic(self, rgb: np.ndarray, prediction) -> np.ndarray:
        """Every query's mask on a small copy of the image, captioned with
        its index and estimator score, best score first."""
        height, width = rgb.shape[:2]
        scale = QUERY_TILE / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        threshold = query_threshold(self.model)
        order = np.argsort(-prediction.query_scores, kind='stable')
        tiles = []
        for query in order:
            prob = cv2.resize(prediction.query_probs[query], size,
                              interpolation=cv2.INTER_LINEAR)
            tiles.append(
                self.tile_visualizer.draw_refer(
                    small, f'q{query} {prediction.query_scores[query]:.3f}',
                    prob > threshold))
        # Square: the gallery shows each picture in a square cell.
        columns = int(np.ceil(np.sqrt(len(tiles))))
        rows = int(np.ceil(len(tiles) / columns))
        gap = 4
        mosaic = np.full((rows * (size[1] + gap) - gap,
                          columns * (size[0] + gap) - gap, 3),
                         255,
                         dtype=np.uint8)
        for index, tile in enumerate(tiles):
            top = (index // columns) * (size[1] + gap)
            left = (index % columns) * (size[0] + gap)
            mosaic[top:top + size[1], left:left + size[0]] = tile
        return mosaic

    def segment(self, image_payload: Any,
                text: Optional[str]) -> SegmentResult:
        """Checks the input, runs ``inference_model`` and draws the results.

        Raises:
            InputError: Bad input, with a message for the page.
        """
        start = time.perf_counter()
        path, name = uploaded_path(image_payload)
        sentences = parse_sentences(text, self.max_sentences)
        rgb = read_image(path, name)
        notes = truncation_notes(self.model, sentences)

        inference_start = time.perf_counter()
        predictions = inference_model(
            self.model, path, sentences, with_query_masks=True)
        inference_ms = (time.perf_counter() - inference_start) * 1e3

        drawing_start = time.perf_counter()
        overlays, mosaics, entries = [], [], []
        for prediction in predictions:
            no_target = no_target_verdict(prediction)
            caption = f'{prediction.text} | score {prediction.score:.3f}'
            if no_target:
                caption += ' | no target'
            overlays.append((self.draw(rgb, prediction), caption))
            entry = dict(
                text=prediction.text,
                score=round(float(prediction.score), 6),
                area=int(prediction.mask.sum()),
                no_target=no_target,
                mask_rle=encode_rle(prediction.mask),
                queries=None)
            if prediction.query_probs is not None:
                mosaics.append((self.query_mosaic(rgb, prediction),
                                f'{prediction.text} | '
                                f'{len(prediction.query_scores)} queries, '
                                'highest estimator score first'))
                threshold = query_threshold(self.model)
                entry['queries'] = [
                    dict(index=index, score=round(float(score), 6),
                         mask_rle=encode_rle(prob > threshold))
                    for index, (score, prob) in enumerate(
                        zip(prediction.query_scores, prediction.query_probs))
                ]
            entries.append(entry)
        drawing_ms = (time.perf_counter() - drawing_start) * 1e3
        record = dict(
            self.description,
            image=name,
            height=int(rgb.shape[0]),
            width=int(rgb.shape[1]),
            sentences=entries,
            latency_ms=dict(
                inference=round(inference_ms, 2),
                drawing=round(drawing_ms, 2),
                total=round((time.perf_counter() - start) * 1e3, 2)))
        return SegmentResult(overlays, mosaics, record, notes)

    def write_record(self, record: dict) -> str:
        """Writes a request's JSON; keeps the last :attr:`KEEP_FILES`."""
        self._requests += 1
        path = osp.join(self.out_dir, f'masks_{self._requests:06d}.json')
        with open(path, 'w') as f:
            json.dump(record, f)
        self._written.append(path)
        while len(self._written) > self.KEEP_FILES:
            stale = self._written.popleft()
            if osp.exists(stale):
                os.remove(stale)
        return path


# --- Examples from the generated refer data ----------------------------------
def _generator_module():
    """``tools/dataset_converters/generate_refer_data.py`` as a module."""
    import importlib.util
    path = osp.join(REPO, 'tools', 'dataset_converters',
                    'generate_refer_data.py')
    spec = importlib.util.spec_from_file_location('generate_refer_data', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_examples(data_root: str,
                  max_examples: int = 4) -> List[Tuple[str, str]]:
    """(image path, two sentences) pairs from refer-format data.

    The val split first (images a model trained on the data has not seen);
    per image the first sentence of its first two referred objects.

    Raises:
        FileNotFoundError: ``data_root`` lacks ``refcoco/refs(unc).p`` or
            ``refcoco/instances.json``.
    """
    refs_file = osp.join(data_root, 'refcoco', 'refs(unc).p')
    instances_file = osp.join(data_root, 'refcoco', 'instances.json')
    for path in (refs_file, instances_file):
        if not osp.isfile(path):
            raise FileNotFoundError(f'No refer data for the examples: {path} '
                                    'is missing')
    with open(refs_file, 'rb') as f:
        refs = pickle.load(f)
    with open(instances_file) as f:
        file_names = {
            image['id']: image['file_name']
            for image in json.load(f)['images']
        }
    by_image: Dict[int, List[str]] = {}
    split_of: Dict[int, str] = {}
    for ref in refs:
        if ref['sentences']:
            by_image.setdefault(ref['image_id'], []).append(
                ref['sentences'][0]['sent'])
            split_of[ref['image_id']] = ref['split']
    image_ids = sorted(
        (image_id for image_id, sents in by_image.items() if len(sents) >= 2),
        key=lambda image_id: (split_of[image_id] != 'val', image_id))
    examples = []
    for image_id in image_ids[:max_examples]:
        path = osp.join(data_root, 'images', 'train2014',
                        file_names[image_id])
        if osp.isfile(path):
            examples.append((path, '\n'.join(by_image[image_id][:2])))
    return examples


def prepare_examples(examples_dir: Optional[str],
                     tmp_root: str) -> List[Tuple[str, str]]:
    """Examples from ``examples_dir`` if it holds refer data, else from a
    few images generated into ``tmp_root`` (seed 0, as the README's data).

    The images are copied into ``tmp_root``: Gradio serves files from the
    temporary folder wherever the data lies and whatever the working
    directory."""
    if examples_dir and osp.isfile(
            osp.join(examples_dir, 'refcoco', 'refs(unc).p')):
        examples = load_examples(examples_dir)
    else:
        data_root = osp.join(tmp_root, 'refer_examples')
        _generator_module().generate_refer_data(
            data_root, num_images=12, seed=0)
        examples = load_examples(data_root)
    image_dir = osp.join(tmp_root, 'examples')
    os.makedirs(image_dir, exist_ok=True)
    copied = []
    for path, sentences in examples:
        target = osp.join(image_dir, osp.basename(path))
        shutil.copyfile(path, target)
        copied.append((target, sentences))
    return copied


# --- The page ----------------------------------------------------------------
def offline_theme():
    """Gradio's default look with fonts that need no download: those
    shipped inside the gradio package, then the system's."""
    import gradio as gr
    fonts = gr.themes.utils.fonts
    return gr.themes.Default(
        font=[
            fonts.LocalFont('Source Sans Pro'), 'ui-sans-serif', 'system-ui',
            'sans-serif'
        ],
        font_mono=[
            fonts.LocalFont('IBM Plex Mono'), 'ui-monospace', 'monospace'
        ])


#: Example cells keep their line breaks: one sentence per line.
PAGE_CSS = ('[data-testid^="dataset-cell"] div '
            '{white-space: pre-line !important;}')


def message(text: str) -> str:
    """A bad-input message as the status box shows it."""
    return f'**Cannot segment:** {text}'


def build_app(demo: WebDemo,
              examples: Sequence[Tuple[str, str]] = (),
              title: str = 'mmrefseg web demo',
              model_line: str = ''):
    """The Gradio page: inputs on the left, results on the right.

    Returns:
        gradio.Blocks: Call ``.launch(theme=offline_theme(), css=PAGE_CSS,
        ...)``.
    """
    import gradio as gr

    def on_segment(image_payload, text):
        empty = ([], gr.update(value=[], visible=False), None)
        try:
            result = demo.segment(image_payload, text)
        except InputError as error:
            return (*empty, message(str(error)))
        except Exception as error:  # the page stays up whatever happens
            logger.error('request failed:\n%s', traceback.format_exc())
            return (*empty,
                    message(f'the model failed on this input '
                            f'({type(error).__name__}: {error}).'))
        json_path = demo.write_record(result.record)
        return (result.overlays,
                gr.update(value=result.query_mosaics,
                          visible=bool(result.query_mosaics)), json_path,
                result.summary())

    def on_image(image_payload):
        if image_payload is None:
            return ''
        try:
            read_image(*uploaded_path(image_payload))
        except InputError as error:
            return message(str(error))
        return 'Image loaded. Type one sentence per line and press Segment.'

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f'# {title}\n{model_line}\n\n'
                    'Upload an image (or click an example), type one '
                    'sentence per line, press **Segment**: each sentence '
                    'gets the mask of the object it refers to.')
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(
                    label='Image',
                    type='filepath',
                    sources=['upload'],
                    elem_id='image-input',
                    height=320)
                sentences = gr.Textbox(
                    label='Sentences, one per line',
                    info=f'At most {demo.max_sentences}; each gets its own '
                    'mask.',
                    lines=3,
                    placeholder='the red circle\nrectangle on the right',
                    elem_id='sentences')
                run = gr.Button('Segment', variant='primary',
                                elem_id='segment')
                if examples:
                    gr.Examples(
                        examples=[list(example) for example in examples],
                        inputs=[image, sentences],
                        label='Examples (generated data)',
                        cache_examples=False)
            with gr.Column(scale=2):
                status = gr.Markdown(elem_id='status')
                overlays = gr.Gallery(
                    label='One picture per sentence: mask, sentence, score',
                    format='png',
                    columns=2,
                    object_fit='contain',
                    height='auto',
                    elem_id='overlays')
                queries = gr.Gallery(
                    label='Each query\'s mask and estimator score (EAVL)',
                    format='png',
                    columns=1,
                    object_fit='contain',
                    height='auto',
                    visible=False,
                    elem_id='query-masks')
                masks_json = gr.File(
                    label='Masks as JSON (COCO RLE), scores, latency',
                    elem_id='masks-json')
        # preprocess=False: the handlers decode the upload themselves, so
        # that a file that is not an image gets a message, not an error.
        run.click(
            on_segment,
            inputs=[image, sentences],
            outputs=[overlays, queries, masks_json, status],
            preprocess=False,
            concurrency_limit=1)
        # On an upload, an example or a clear: the status fits the image.
        image.change(
            on_image, inputs=image, outputs=status, preprocess=False)
    return app


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='A web page for referring segmentation of one image')
    parser.add_argument('config', help='model config (.py)')
    parser.add_argument(
        'checkpoint',
        help='checkpoint (.pth), or the .onnx file for --backend '
        'onnxruntime / openvino')
    parser.add_argument(
        '--backend', choices=BACKENDS, default='pytorch',
        help='where the model runs (default: pytorch)')
    parser.add_argument(
        '--precision', choices=PRECISIONS, default='fp32',
        help='fp32, or bf16 (PyTorch: autocast; OpenVINO: its inference '
        'precision) (default: fp32)')
    parser.add_argument(
        '--device', default='cpu', help='cpu, cuda or cuda:N (default: cpu)')
    parser.add_argument(
        '--host', default='127.0.0.1',
        help='address to serve on (default: 127.0.0.1, this machine only)')
    parser.add_argument('--port', type=int, default=7860,
                        help='port (default: 7860)')
    parser.add_argument(
        '--examples-dir', default=DEFAULT_EXAMPLES_DIR,
        help='refer-format data to take the examples from; if it holds none '
        'a few images are generated into a temporary folder '
        '(default: data/refer_toy)')
    parser.add_argument(
        '--max-sentences', type=int, default=8,
        help='most sentences per request (default: 8)')
    parser.add_argument(
        '--opacity', type=float, default=0.5,
        help='opacity of the mask fill, in [0, 1] (default: 0.5)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. model.test_cfg.threshold=0.5')
    args = parser.parse_args(argv)
    for path, what in ((args.config, 'config'),
                       (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            parser.error(f'{what} file not found: {path}')
    if args.max_sentences < 1:
        parser.error('--max-sentences must be at least 1')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    # Gradio checks its own page with httpx at start-up; one line each.
    logging.getLogger('httpx').setLevel(logging.WARNING)
    try:
        import gradio  # noqa: F401  (before the model: fail early)
    except ImportError as error:
        sys.exit(f'The web demo needs gradio ({error}): run '
                 'tools/setup_env.sh or pip install -r '
                 'requirements/optional.txt')

    model = init_model(
        args.config,
        args.checkpoint,
        device=args.device,
        cfg_options=args.cfg_options,
        backend=args.backend,
        precision=args.precision)
    with tempfile.TemporaryDirectory(prefix='mmrefseg_web_') as tmp_root:
        examples = prepare_examples(args.examples_dir, tmp_root)
        demo = WebDemo(
            model,
            max_sentences=args.max_sentences,
            opacity=args.opacity,
            out_dir=osp.join(tmp_root, 'results'),
            description=dict(
                config=osp.basename(args.config),
                checkpoint=osp.basename(args.checkpoint),
                backend=args.backend,
                precision=args.precision,
                device=args.device))
        if examples:
            # The first request pays for lazy set-up; the user's should not.
            warm_up = demo.segment(*examples[0])
            logger.info('warm-up request: %.0f ms',
                        warm_up.record['latency_ms']['total'])
        model_line = (f'Model `{osp.basename(args.config)}` '
                      f'(`{osp.basename(args.checkpoint)}`) on '
                      f'{args.device}, {args.backend} {args.precision}.')
        app = build_app(demo, examples, model_line=model_line)
        if args.host not in ('127.0.0.1', 'localhost', '::1'):
            logger.warning('Serving on %s: other machines can reach this '
                           'page.', args.host)
        app.queue(max_size=32).launch(
            server_name=args.host,
            server_port=args.port,
            theme=offline_theme(),
            css=PAGE_CSS,
            share=False,
            inbrowser=False,
            show_error=False,
            max_file_size='25mb',
            allowed_paths=[tmp_root])
    return 0


if __name__ == '__main__':
    sys.exit(main())
