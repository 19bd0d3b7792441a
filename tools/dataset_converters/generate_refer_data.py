"""Generate a small synthetic dataset in the refer format.

Every image holds a few coloured shapes (circles, rectangles, triangles) on a
noisy background, each of a colour no other shape of its image has. Each
shape is one referred object, described by sentences that single it out in
its image: its colour and shape, optionally with its position ("on the
left", "top right") or a superlative ("leftmost", "largest") when that holds
with a margin. The files follow the public refer API exactly::

    OUT_DIR/images/train2014/COCO_train2014_%012d.jpg
    OUT_DIR/refcoco/{instances.json, refs(unc).p}
    OUT_DIR/refcoco+/{instances.json, refs(unc).p}    (no location words)
    OUT_DIR/refcocog/{instances.json, refs(umd).p, refs(google).p}

Splits are by image (an image belongs to one split of a refs file): unc
train / val / testA / testB, umd train / val / test, google train / val.

With ``--hard`` either format gets harder images: a coloured, textured
background (a smooth colour field, stripes or checks, noise), 4-7 shapes
per image drawn from a palette of two or three colours, so that most
shapes share their colour or their shape with a distractor (colour and
shape together still name each one), and sizes from about 1/12 of the
image's short side up.

With ``--gres`` it writes a gRefCOCO-format set instead (GRES: expressions
with several targets or none)::

    OUT_DIR/images/train2014/COCO_train2014_%012d.jpg
    OUT_DIR/grefcoco/{instances.json, grefs(unc).json}

There an image may hold two shapes of one colour (of different shapes), and
besides one ref per shape (``ann_id`` a one-element list) the refs hold
multi-target expressions ("all the circles", "both red shapes", "the red
circle and the blue triangle", "the shapes on the left", "all the shapes";
``ann_id`` lists their annotations) and no-target ones ("the purple
triangle" where there is none, ``ann_id`` ``[-1]``): about 25 % and 15 % of
the expressions.

Examples::

    python tools/dataset_converters/generate_refer_data.py data/refer_toy \
        --num-images 360 --seed 0
    python tools/dataset_converters/generate_refer_data.py data/grefer_toy \
        --gres --num-images 360 --seed 0
    python tools/dataset_converters/generate_refer_data.py \
        data/refer_toy_hard --hard
"""
import argparse
import json
import math
import os
import os.path as osp
import pickle
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

# name -> RGB; far from each other and from the grey backgrounds.
COLOURS = {
    'red': (220, 30, 30),
    'green': (30, 170, 50),
    'blue': (30, 70, 230),
    'yellow': (235, 215, 30),
    'purple': (140, 40, 180),
    'orange': (245, 135, 20),
    'white': (250, 250, 250),
    'black': (15, 15, 15),
}
CATEGORIES = [
    dict(supercategory='shape', id=1, name='circle'),
    dict(supercategory='shape', id=2, name='rectangle'),
    dict(supercategory='shape', id=3, name='triangle'),
]
SHAPE_IDS = {cat['name']: cat['id'] for cat in CATEGORIES}
IMAGE_PREFIX = 'COCO_train2014_'


@dataclass
class Shape:
    """One drawn object: its polygon and the facts a sentence may use."""
    ann_id: int
    shape: str
    colour: str
    polygon: List[float]
    cx: float
    cy: float
    area: float


@dataclass
class Scene:
    """One image: its size, background and objects."""
    image_id: int
    width: int
    height: int
    shapes: List[Shape]
    seed: int
    textured: bool = False

    @property
    def file_name(self) -> str:
        return f'{IMAGE_PREFIX}{self.image_id:012d}.jpg'


def _polygon(shape: str, cx: float, cy: float, radius: float,
             rng: np.random.Generator) -> np.ndarray:
    """Vertices (N, 2) of a shape inscribed in a circle of ``radius``."""
    angle = rng.uniform(-math.pi / 6, math.pi / 6)
    if shape == 'circle':
        thetas = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        points = np.stack([np.cos(thetas), np.sin(thetas)], 1) * radius
    elif shape == 'rectangle':
        # Half-diagonal == radius, so the bounding circle holds it.
        aspect = rng.uniform(0.5, 1.0)
        half_w = radius / math.hypot(1, aspect)
        half_h = half_w * aspect
        if rng.random() < 0.5:
            half_w, half_h = half_h, half_w
        points = np.array([[-half_w, -half_h], [half_w, -half_h],
                           [half_w, half_h], [-half_w, half_h]])
    else:
        thetas = np.array([-math.pi / 2, math.pi / 6, 5 * math.pi / 6])
        points = np.stack([np.cos(thetas), np.sin(thetas)], 1) * radius
    rotation = np.array([[math.cos(angle), -math.sin(angle)],
                         [math.sin(angle), math.cos(angle)]])
    return points @ rotation.T + np.array([cx, cy])


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def _scene_palette(num_objects: int, rng: np.random.Generator,
                   shared_colours: bool, hard: bool) -> List[tuple]:
    """(colour, shape) of each object; no pair twice in an image.

    The shape is left ``None`` where any shape not yet taken in that colour
    will do.
    """
    if hard:
        # Two or three colours for 4-7 shapes: most shapes share a colour
        # with another one and a shape with a third.
        colours = rng.choice(
            list(COLOURS), size=int(rng.integers(2, 4)), replace=False)
        pairs = [(str(c), s) for c in colours for s in SHAPE_IDS]
        order = rng.permutation(len(pairs))[:num_objects]
        return [pairs[int(i)] for i in order]
    colours = rng.choice(list(COLOURS), size=num_objects, replace=False)
    if shared_colours and num_objects >= 3 and rng.random() < 0.5:
        colours[-1] = colours[0]
    return [(str(colour), None) for colour in colours]


def make_scene(image_id: int,
               first_ann_id: int,
               rng: np.random.Generator,
               min_size: int,
               max_size: int,
               shared_colours: bool = False,
               hard: bool = False) -> Scene:
    """Place non-overlapping shapes, no colour and shape twice.

    By default 2-4 shapes of distinct colours. With ``shared_colours`` (the
    GRES set) 2-5 shapes, and in about half of the images with three or
    more, the last one takes the first one's colour (with another shape, so
    that colour and shape still name each shape). With ``hard`` 4-7 shapes
    in two or three colours, radii from 1/24 of the short side up (log-
    uniform, so small shapes are common) and a textured background.
    """
    width = int(rng.integers(min_size, max_size + 1))
    height = int(rng.integers(min_size, max_size + 1))
    short = min(width, height)
    if hard:
        num_objects = int(rng.integers(4, 8))
    else:
        num_objects = int(rng.integers(2, 6 if shared_colours else 5))
    palette = _scene_palette(num_objects, rng, shared_colours, hard)
    placed = []  # (cx, cy, radius)
    shapes = []
    for colour, shape in palette:
        for _ in range(200):
            if hard:
                radius = math.exp(rng.uniform(math.log(1 / 24),
                                              math.log(0.2))) * short
            else:
                radius = rng.uniform(0.10, 0.24) * short
            cx = rng.uniform(radius + 1, width - radius - 1)
            cy = rng.uniform(radius + 1, height - radius - 1)
            if all(
                    math.hypot(cx - x, cy - y) > radius + r + 2
                    for x, y, r in placed):
                break
        else:
            continue
        placed.append((cx, cy, radius))
        if shape is None:
            taken = {s.shape for s in shapes if s.colour == colour}
            shape = str(rng.choice([s for s in SHAPE_IDS if s not in taken]))
        points = _polygon(shape, cx, cy, radius, rng)
        shapes.append(
            Shape(
                ann_id=first_ann_id + len(shapes),
                shape=shape,
                colour=colour,
                polygon=[round(float(v), 2) for v in points.reshape(-1)],
                cx=float(cx),
                cy=float(cy),
                area=_polygon_area(points)))
    return Scene(image_id, width, height, shapes, int(rng.integers(2**31)),
                 textured=hard)


def _textured_background(height: int, width: int,
                         rng: np.random.Generator) -> np.ndarray:
    """A coloured background (H, W, 3) in [0, 255]: a smooth colour field
    with stripes or checks and pixel noise."""
    # A coarse grid of muted random colours, bilinearly enlarged.
    grid = rng.uniform(40, 215, size=(3, 3, 3))
    grid = 0.6 * grid + 0.4 * grid.mean(-1, keepdims=True)
    field = np.asarray(
        Image.fromarray(grid.astype(np.uint8)).resize((width, height),
                                                      Image.BILINEAR),
        dtype=np.float64)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    angle = rng.uniform(0, math.pi)
    period = rng.uniform(6, 24)
    along = xs * math.cos(angle) + ys * math.sin(angle)
    if rng.random() < 0.5:
        pattern = np.sign(np.sin(2 * math.pi * along / period))
    else:
        across = -xs * math.sin(angle) + ys * math.cos(angle)
        pattern = np.sign(
            np.sin(2 * math.pi * along / period) *
            np.sin(2 * math.pi * across / period))
    tint = rng.uniform(10, 35) * rng.choice([-1.0, 1.0], size=3)
    field += pattern[..., None] * tint
    field += rng.normal(0, 12, (height, width, 3))
    return np.clip(field, 0, 255)


def render(scene: Scene) -> Image.Image:
    """Draw a scene: a grey, noisy background (or a textured one) and the
    filled polygons."""
    rng = np.random.default_rng(scene.seed)
    if scene.textured:
        background = _textured_background(scene.height, scene.width, rng)
    else:
        grey = rng.uniform(80, 175)
        tint = rng.uniform(-12, 12, size=3)
        background = np.clip(
            grey + tint +
            rng.normal(0, 10, (scene.height, scene.width, 3)), 0, 255)
    image = Image.fromarray(background.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        jitter = rng.integers(-12, 13, size=3)
        fill = np.clip(np.array(COLOURS[shape.colour]) + jitter, 0, 255)
        points = np.array(shape.polygon).reshape(-1, 2)
        draw.polygon([tuple(p) for p in points.tolist()],
                     fill=tuple(int(v) for v in fill))
    return image


def _facts(shape: Shape, scene: Scene) -> dict:
    """What is true of ``shape`` in its scene, with margins."""
    others = [s for s in scene.shapes if s is not shape]
    margin_x, margin_y = 0.08 * scene.width, 0.08 * scene.height
    facts = dict(
        colour=shape.colour,
        shape=shape.shape,
        shape_unique=all(s.shape != shape.shape for s in others),
        colour_unique=all(s.colour != shape.colour for s in others),
        hpos=_side(shape.cx / scene.width, 'left', 'right'),
        vpos=_side(shape.cy / scene.height, 'top', 'bottom'),
        leftmost=_beats(others, lambda s: shape.cx + margin_x < s.cx),
        rightmost=_beats(others, lambda s: shape.cx - margin_x > s.cx),
        topmost=_beats(others, lambda s: shape.cy + margin_y < s.cy),
        bottommost=_beats(others, lambda s: shape.cy - margin_y > s.cy),
        largest=_beats(others, lambda s: shape.area > 1.5 * s.area),
        smallest=_beats(others, lambda s: shape.area * 1.5 < s.area))
    return facts


def _side(fraction: float, low: str, high: str) -> Optional[str]:
    """The side of the image a centre at ``fraction`` of its size is on."""
    if fraction < 0.38:
        return low
    if fraction > 0.62:
        return high
    return None


def _beats(others: List[Shape], holds) -> bool:
    """Whether a comparison holds against every other shape (and one is)."""
    return bool(others) and all(holds(other) for other in others)


def _sentences(facts: dict, style: str) -> Dict[str, List[str]]:
    """Candidate sentences, split into those naming the colour or not.

    ``style``: 'refcoco' (short, location words), 'refcoco+' (no location
    words, as RefCOCO+ forbids them) or 'refcocog' (longer, full clauses).
    """
    c, s = facts['colour'], facts['shape']
    hpos, vpos = facts['hpos'], facts['vpos']
    superlatives = [
        word
        for word, key in (('leftmost', 'leftmost'), ('rightmost', 'rightmost'),
                          ('top', 'topmost'), ('bottom', 'bottommost'))
        if facts[key]
    ]
    sizes = [
        w for w, k in (('largest', 'largest'), ('smallest', 'smallest'))
        if facts[k]
    ]
    named, unnamed = [], []
    if style == 'refcoco':
        named += [f'{c} {s}', f'the {c} {s}', f'{c} one', f'{c}']
        if hpos:
            named.append(f'{c} {s} on the {hpos}')
        if vpos:
            named.append(f'{c} {s} at the {vpos}')
        if hpos and vpos:
            named.append(f'{vpos} {hpos} {c} {s}')
        named += [f'{size} {c} {s}' for size in sizes]
        unnamed += [f'{word} {s}' for word in superlatives]
        unnamed += [f'{word} shape' for word in superlatives + sizes]
        if facts['shape_unique']:
            unnamed.append(f'the {s}')
            if hpos:
                unnamed.append(f'{s} on the {hpos}')
    elif style == 'refcoco+':
        named += [
            f'{c} {s}', f'the {c} {s}', f'{c} one', f'{s} that is {c}',
            f'{c} colored {s}'
        ]
        named += [f'{size} {c} {s}' for size in sizes]
        unnamed += [f'{size} shape' for size in sizes]
        if facts['shape_unique']:
            unnamed += [f'the {s}', f'{s}']
    elif style == 'refcocog':
        named += [f'a {c} {s} in the picture', f'the {s} that is {c}']
        if hpos or vpos:
            where = ' '.join(p for p in (vpos, hpos) if p)
            named.append(f'a {c} {s} in the {where} part of the image')
        named += [f'the {size} {c} {s} among the shapes' for size in sizes]
        unnamed += [f'the {word} shape of the image' for word in superlatives]
        if facts['shape_unique']:
            unnamed.append(f'the only {s} in the image')
    else:
        raise ValueError(f'Unknown sentence style {style!r}.')
    if not facts['colour_unique']:
        # Another shape has this colour: only sentences naming the shape too.
        named = [text for text in named if s in text.split()]
    return dict(named=named, unnamed=unnamed)


def _choose(candidates: Dict[str, List[str]], count: int,
            rng: np.random.Generator) -> List[str]:
    """Pick ``count`` distinct sentences, at most one without the colour."""
    named = list(rng.permutation(candidates['named']))
    chosen = []
    if candidates['unnamed'] and rng.random() < 0.3:
        chosen.append(str(rng.choice(candidates['unnamed'])))
    chosen += [str(s) for s in named[:max(count - len(chosen), 1)]]
    return chosen


def split_images(image_ids: Sequence[int],
                 rng: np.random.Generator) -> Dict[str, Dict[int, str]]:
    """Assign each image to one split of every split_by."""
    if len(image_ids) < 4:
        raise ValueError('At least 4 images are needed for the unc splits '
                         f'(train/val/testA/testB), got {len(image_ids)}.')
    order = [int(i) for i in rng.permutation(list(image_ids))]
    num = len(order)
    num_val = max(1, round(0.11 * num))
    num_test = max(1, round(0.055 * num))
    unc = {}
    for rank, image_id in enumerate(order):
        if rank < num_val:
            unc[image_id] = 'val'
        elif rank < num_val + num_test:
            unc[image_id] = 'testA'
        elif rank < num_val + 2 * num_test:
            unc[image_id] = 'testB'
        else:
            unc[image_id] = 'train'
    umd = {i: 'test' if s.startswith('test') else s for i, s in unc.items()}
    google = {i: 'val' if s == 'val' else 'train' for i, s in unc.items()}
    return dict(unc=unc, umd=umd, google=google)


def build_refs(scenes: List[Scene], style: str, split_of: Dict[int, str],
               sentence_counts: Sequence[int],
               rng: np.random.Generator) -> List[dict]:
    """The refs list of one refs file: one ref per shape."""
    refs = []
    sent_id = 0
    for scene in scenes:
        for shape in scene.shapes:
            count = int(rng.choice(sentence_counts))
            texts = _choose(
                _sentences(_facts(shape, scene), style), count, rng)
            sentences = []
            for text in texts:
                sentences.append(
                    dict(
                        tokens=text.split(),
                        raw=text[0].upper() + text[1:],
                        sent_id=sent_id,
                        sent=text))
                sent_id += 1
            refs.append(
                dict(
                    sent_ids=[sent['sent_id'] for sent in sentences],
                    file_name=(f'{IMAGE_PREFIX}{scene.image_id:012d}_'
                               f'{shape.ann_id}.jpg'),
                    ann_id=shape.ann_id,
                    ref_id=len(refs),
                    image_id=scene.image_id,
                    split=split_of[scene.image_id],
                    sentences=sentences,
                    category_id=SHAPE_IDS[shape.shape]))
    return refs


def _plural(shape: str) -> str:
    return f'{shape}s'


NUMBER_WORDS = {2: 'two', 3: 'three', 4: 'four', 5: 'five'}


def _multi_target_expressions(scene: Scene) -> List[tuple]:
    """Groups of two or more shapes and sentences naming exactly them.

    Returns:
        list[tuple[list[Shape], list[str]]]: Each group with its candidate
        sentences.
    """
    groups = []
    by_shape: Dict[str, List[Shape]] = {}
    by_colour: Dict[str, List[Shape]] = {}
    for shape in scene.shapes:
        by_shape.setdefault(shape.shape, []).append(shape)
        by_colour.setdefault(shape.colour, []).append(shape)
    for kind, members in by_shape.items():
        if len(members) >= 2:
            texts = [f'all the {_plural(kind)}', f'the {_plural(kind)}',
                     f'every {kind}',
                     f'the {NUMBER_WORDS[len(members)]} {_plural(kind)}']
            if len(members) == 2:
                texts.append(f'both {_plural(kind)}')
            groups.append((members, texts))
    for colour, members in by_colour.items():
        if len(members) >= 2:
            texts = [f'all the {colour} shapes', f'the {colour} shapes',
                     f'the {colour} ones']
            if len(members) == 2:
                texts.append(f'both {colour} shapes')
            groups.append((members, texts))
    if len(scene.shapes) >= 2:
        groups.append((list(scene.shapes),
                       ['all the shapes', 'every shape', 'all of them',
                        'all objects']))
    # Two shapes named one by one (colour and shape name every shape).
    if len(scene.shapes) >= 3:
        first, second = sorted(
            scene.shapes, key=lambda s: s.ann_id)[:2]
        a = f'{first.colour} {first.shape}'
        b = f'{second.colour} {second.shape}'
        groups.append(([first, second],
                       [f'the {a} and the {b}', f'{a} and {b}',
                        f'the {b} and the {a}']))
    # A side of the image, when every shape is clearly on one side or the
    # other and two or more are on this one.
    for key, (low, high), size in (('cx', ('left', 'right'), scene.width),
                                   ('cy', ('top', 'bottom'), scene.height)):
        sides = [
            _side(getattr(s, key) / size, low, high) for s in scene.shapes
        ]
        if None in sides:
            continue
        for side in (low, high):
            members = [s for s, at in zip(scene.shapes, sides) if at == side]
            if 2 <= len(members) < len(scene.shapes):
                groups.append((members, [
                    f'the shapes on the {side}', f'everything on the {side}',
                    f'the {side} shapes'
                ]))
    return groups


def _no_target_expressions(scene: Scene) -> List[str]:
    """Sentences that name no shape of the scene: an absent colour, a
    present colour with an absent shape, or an absent shape."""
    present = {(s.colour, s.shape) for s in scene.shapes}
    colours = {s.colour for s in scene.shapes}
    kinds = {s.shape for s in scene.shapes}
    texts = []
    for colour in COLOURS:
        for kind in SHAPE_IDS:
            if (colour, kind) in present:
                continue
            texts += [f'the {colour} {kind}', f'{colour} {kind}']
            if colour not in colours:
                texts.append(f'the {colour} one')
    for kind in SHAPE_IDS:
        if kind not in kinds:
            texts += [f'the {kind}', f'all the {_plural(kind)}']
    return texts


def _sentence(text: str, sent_id: int) -> dict:
    return dict(
        tokens=text.split(),
        raw=text[0].upper() + text[1:],
        sent_id=sent_id,
        sent=text)


def _stochastic_round(value: float, rng: np.random.Generator) -> int:
    return int(math.floor(value + rng.random()))


def build_grefs(scenes: List[Scene],
                split_of: Dict[int, str],
                rng: np.random.Generator,
                multi_target_share: float = 0.25,
                no_target_share: float = 0.15,
                sentence_counts: Sequence[int] = (1, 2, 2, 3)) -> List[dict]:
    """The refs of a gRefCOCO-format file.

    Every shape gets a single-target ref (refcoco-style sentences); each
    image also gets multi-target and no-target refs of one or two sentences,
    about ``multi_target_share`` and ``no_target_share`` of the sentences.
    ``ann_id`` and ``category_id`` are lists (``[-1]`` for no target), as in
    gRefCOCO.
    """
    refs = []
    sent_id = 0
    single_share = 1.0 - multi_target_share - no_target_share
    for scene in scenes:
        image_refs = []  # (shapes or None, texts)
        for shape in scene.shapes:
            count = int(rng.choice(sentence_counts))
            texts = _choose(
                _sentences(_facts(shape, scene), 'refcoco'), count, rng)
            image_refs.append(([shape], texts))
        single_sentences = sum(len(texts) for _, texts in image_refs)
        # Extra sentences so that the shares come out as asked; multi- and
        # no-target refs hold 1.5 sentences on average.
        per_share = single_sentences / single_share / 1.5
        groups = _multi_target_expressions(scene)
        num_multi = min(
            _stochastic_round(multi_target_share * per_share, rng),
            len(groups))
        for index in rng.permutation(len(groups))[:num_multi]:
            members, texts = groups[int(index)]
            count = min(int(rng.integers(1, 3)), len(texts))
            image_refs.append(
                (members, [str(t) for t in rng.permutation(texts)[:count]]))
        absent = _no_target_expressions(scene)
        num_none = _stochastic_round(no_target_share * per_share, rng)
        for _ in range(num_none):
            count = int(rng.integers(1, 3))
            image_refs.append(
                (None, [str(t) for t in rng.choice(absent, count, False)]))
        for members, texts in image_refs:
            sentences = []
            for text in texts:
                sentences.append(_sentence(text, sent_id))
                sent_id += 1
            if members is None:
                ann_ids, category_ids = [-1], [-1]
            else:
                members = sorted(members, key=lambda s: s.ann_id)
                ann_ids = [s.ann_id for s in members]
                category_ids = [SHAPE_IDS[s.shape] for s in members]
            refs.append(
                dict(
                    sent_ids=[sent['sent_id'] for sent in sentences],
                    file_name=(f'{IMAGE_PREFIX}{scene.image_id:012d}_'
                               f'{ann_ids[0]}.jpg'),
                    ann_id=ann_ids,
                    ref_id=len(refs),
                    image_id=scene.image_id,
                    split=split_of[scene.image_id],
                    sentences=sentences,
                    category_id=category_ids))
    return refs


def build_instances(scenes: List[Scene]) -> dict:
    """The COCO-style ``instances.json`` content."""
    images, annotations = [], []
    for scene in scenes:
        images.append(
            dict(
                license=1,
                file_name=scene.file_name,
                height=scene.height,
                width=scene.width,
                id=scene.image_id))
        for shape in scene.shapes:
            points = np.array(shape.polygon).reshape(-1, 2)
            x0, y0 = points.min(0)
            x1, y1 = points.max(0)
            annotations.append(
                dict(
                    segmentation=[shape.polygon],
                    area=round(shape.area, 2),
                    iscrowd=0,
                    image_id=scene.image_id,
                    bbox=[
                        round(float(x0), 2),
                        round(float(y0), 2),
                        round(float(x1 - x0), 2),
                        round(float(y1 - y0), 2)
                    ],
                    category_id=SHAPE_IDS[shape.shape],
                    id=shape.ann_id))
    return dict(
        info=dict(description='mmrefseg synthetic refer data'),
        licenses=[dict(id=1, name='CC0')],
        images=images,
        annotations=annotations,
        categories=CATEGORIES)


# dataset folder -> (sentence style, split_bys, sentences per ref)
DATASETS = {
    'refcoco': ('refcoco', ('unc', ), (2, 3, 3, 4)),
    'refcoco+': ('refcoco+', ('unc', ), (2, 3, 3, 4)),
    'refcocog': ('refcocog', ('umd', 'google'), (1, 2, 2, 3)),
}


def _write_images(out_dir: str, scenes: List[Scene],
                  jpeg_quality: int) -> None:
    image_dir = osp.join(out_dir, 'images', 'train2014')
    os.makedirs(image_dir, exist_ok=True)
    for scene in scenes:
        render(scene).save(
            osp.join(image_dir, scene.file_name), quality=jpeg_quality)


def _make_scenes(num_images: int,
                 rng: np.random.Generator,
                 min_size: int,
                 max_size: int,
                 shared_colours: bool,
                 hard: bool = False) -> List[Scene]:
    if not 32 <= min_size <= max_size:
        raise ValueError('Need 32 <= min_size <= max_size, got '
                         f'{min_size}, {max_size}.')
    scenes, next_ann_id = [], 1
    for index in range(num_images):
        scene = make_scene(index + 1, next_ann_id, rng, min_size, max_size,
                           shared_colours, hard)
        next_ann_id += len(scene.shapes)
        scenes.append(scene)
    return scenes


def generate_grefer_data(out_dir: str,
                         num_images: int = 360,
                         seed: int = 0,
                         min_size: int = 128,
                         max_size: int = 224,
                         jpeg_quality: int = 92,
                         hard: bool = False) -> Dict[str, int]:
    """Write a synthetic gRefCOCO-format dataset under ``out_dir``.

    Arguments as :func:`generate_refer_data`; the files are
    ``grefcoco/{instances.json, grefs(unc).json}`` and the images.

    Returns:
        dict: Counts of images, objects, refs and sentences (all, multi-
        target, no-target).
    """
    rng = np.random.default_rng(seed)
    scenes = _make_scenes(num_images, rng, min_size, max_size, True, hard)
    splits = split_images([scene.image_id for scene in scenes], rng)
    _write_images(out_dir, scenes, jpeg_quality)
    instances = build_instances(scenes)
    refs = build_grefs(scenes, splits['unc'], rng)
    ann_dir = osp.join(out_dir, 'grefcoco')
    os.makedirs(ann_dir, exist_ok=True)
    with open(osp.join(ann_dir, 'instances.json'), 'w') as f:
        json.dump(instances, f)
    with open(osp.join(ann_dir, 'grefs(unc).json'), 'w') as f:
        json.dump(refs, f)

    def sentences(keep) -> int:
        return sum(len(ref['sentences']) for ref in refs if keep(ref))

    return {
        'images': len(scenes),
        'objects': len(instances['annotations']),
        'grefcoco/unc refs': len(refs),
        'grefcoco/unc sentences': sentences(lambda ref: True),
        'multi-target sentences': sentences(lambda r: len(r['ann_id']) > 1),
        'no-target sentences': sentences(lambda r: r['ann_id'] == [-1]),
    }


def generate_refer_data(out_dir: str,
                        num_images: int = 360,
                        seed: int = 0,
                        min_size: int = 128,
                        max_size: int = 224,
                        jpeg_quality: int = 92,
                        hard: bool = False) -> Dict[str, int]:
    """Write the synthetic refer dataset under ``out_dir``.

    Args:
        out_dir (str): Output root (the ``data_root`` of ``ReferDataset``).
        num_images (int): Number of images, at least 4. Defaults to 360.
        seed (int): Seed; the output is a function of the arguments.
            Defaults to 0.
        min_size (int): Smallest image side. Defaults to 128.
        max_size (int): Largest image side. Defaults to 224.
        jpeg_quality (int): JPEG quality. Defaults to 92.
        hard (bool): Textured backgrounds, 4-7 shapes sharing colours and
            shapes, small shapes (see the module's docstring). Defaults to
            False.

    Returns:
        dict: Counts of images, objects and sentences per refs file.
    """
    rng = np.random.default_rng(seed)
    scenes = _make_scenes(num_images, rng, min_size, max_size, False, hard)
    splits = split_images([scene.image_id for scene in scenes], rng)
    _write_images(out_dir, scenes, jpeg_quality)

    instances = build_instances(scenes)
    counts = dict(images=len(scenes), objects=len(instances['annotations']))
    for folder, (style, split_bys, sentence_counts) in DATASETS.items():
        ann_dir = osp.join(out_dir, folder)
        os.makedirs(ann_dir, exist_ok=True)
        with open(osp.join(ann_dir, 'instances.json'), 'w') as f:
            json.dump(instances, f)
        # One draw of sentences per dataset: its split files share them, as
        # RefCOCOg's umd and google files share their expressions.
        refs = build_refs(scenes, style, splits['unc'], sentence_counts, rng)
        for split_by in split_bys:
            split_of = splits[split_by]
            for ref in refs:
                ref['split'] = split_of[ref['image_id']]
            with open(osp.join(ann_dir, f'refs({split_by}).p'), 'wb') as f:
                pickle.dump(refs, f, protocol=2)
            counts[f'{folder}/{split_by} sentences'] = sum(
                len(ref['sentences']) for ref in refs)
    return counts


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate a synthetic refer-format dataset.')
    parser.add_argument('out_dir', help='output root (a data_root)')
    parser.add_argument('--num-images', type=int, default=360)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--min-size', type=int, default=128)
    parser.add_argument('--max-size', type=int, default=224)
    parser.add_argument(
        '--gres',
        action='store_true',
        help='write a gRefCOCO-format set (multi-target and no-target '
        'expressions) instead of RefCOCO/+/g')
    parser.add_argument(
        '--hard',
        action='store_true',
        help='textured coloured backgrounds, 4-7 shapes that share colours '
        'and shapes, shapes from 1/12 of the short side up')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    generate = generate_grefer_data if args.gres else generate_refer_data
    counts = generate(
        args.out_dir,
        args.num_images,
        args.seed,
        args.min_size,
        args.max_size,
        hard=args.hard)
    for key, value in counts.items():
        print(f'{key}: {value}')


if __name__ == '__main__':
    main()
