"""The refer-format datasets: RefCOCO, RefCOCO+, RefCOCOg, ReferIt, or any
folder in their format."""
import gc
import glob
import json
import logging
import os.path as osp
import pickle
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmrefseg.registry import DATASETS

__all__ = ['ReferDataset']


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector.

    Parsing RefCOCO's annotations creates ~10 million small objects, none
    in a cycle; the collector would run over the growing heap thousands of
    times, which costs more than the parsing itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@DATASETS.register_module()
class ReferDataset(BaseDataset):
    """A referring-segmentation dataset in the format of the refer API.

    Layout under ``data_root`` (as the refer API, LAVT and CRIS expect)::

        <data_root>/<dataset>/refs(<split_by>).p   pickled list of refs
        <data_root>/<dataset>/instances.json       COCO images, annotations
        <data_root>/<data_prefix['img_path']>/<file_name from instances.json>

    ``dataset`` is the folder's name: RefCOCO, RefCOCO+, RefCOCOg and ReferIt
    (the names of :attr:`SPLITS`) are checked against their published
    ``split_by`` and split names before any file is read; any other folder in
    this format loads under its own name, and its files say which ``split_by``
    values (the refs files present) and splits (the refs' ``split`` values)
    exist. A refs file may also be JSON (``refs(<split_by>).json``).

    Each ref refers to one annotation (``ann_id``) of one image and carries
    its sentences. The image file and size are taken from ``instances.json``
    by ``image_id``; the refs' own ``file_name`` names a per-annotation crop
    and is ignored. Only the annotations referred to by the chosen split are
    kept; their ``segmentation`` (COCO polygons or RLE) is decoded lazily by
    ``LoadReferMask``.

    Items of ``data_list``:

    - training (``test_mode=False``): one per ref, with all its sentences,
      ``SampleSentence`` draws one on every fetch;
    - testing (``test_mode=True``): one per sentence, with ``text`` and
      ``sent_id`` set and ``sentences`` holding that one sentence.

    Checks at load time, each a clear error naming the file, ref or value:
    unknown ``split_by`` or ``split`` of a known dataset, a ``split_by``
    without a refs file (the refs files present are listed), a split absent
    from the refs file (the splits present are listed), missing or
    unreadable annotation files, a ref whose annotation or image is missing
    from ``instances.json``, a ref lacking a field, a gRefCOCO-style ref (a
    list of annotations, or ``-1`` for no target: load those with
    ``GReferDataset``), an annotation with an empty ``segmentation``. A ref
    without sentences is skipped with a warning that names its ``ref_id`` (it
    cannot be trained or scored; the released annotations have none). A
    missing or unreadable image is reported by the image-loading transform,
    and a mask that decodes to nothing by ``LoadReferMask``: both need the
    file or a decode, which loading the index must not pay for.

    Args:
        dataset (str): Dataset folder name under ``data_root``, e.g.
            'refcoco', 'refcoco+', 'refcocog', 'refclef' or a folder of one's
            own. Defaults to 'refcoco'.
        split_by (str, optional): Which refs file, e.g. 'unc', 'google',
            'umd'. Defaults to None: the usual one of a known dataset
            (:attr:`DEFAULT_SPLIT_BY`: 'umd' for RefCOCOg, else 'unc'), or the
            only refs file of another folder.
        split (str): Which split, e.g. 'train', 'val', 'testA', 'testB',
            'test'. Matched exactly against each ref's ``split``.
            Defaults to 'train'.
        data_root (str): Root of the layout above. Defaults to ''.
        data_prefix (dict): ``img_path``: image folder, relative to
            ``data_root`` unless absolute.
            Defaults to ``dict(img_path='images/train2014')``.
        pipeline (list[dict | callable]): Transforms. Defaults to [].
        test_mode (bool): One item per sentence instead of per ref.
            Defaults to False.
        lazy_init (bool): Defer reading the annotation files until first
            use. Defaults to False.
        skip_bad_samples (bool): In training, skip a sample whose image or
            mask cannot be loaded (an ``OSError`` or ``ValueError`` from the
            pipeline), with a warning naming the ref and the file, and train
            on another one. Defaults to False: the run stops with that
            error, which names the ref and the file. Testing never skips.
        **kwargs: Other arguments of :class:`mmengine.dataset.BaseDataset`
            (``metainfo``, ``indices``, ``serialize_data``, ...).
    """

    # The splits of each (dataset, split_by) of the public refer release.
    SPLITS: Dict[str, Dict[str, Sequence[str]]] = {
        'refcoco': {
            'unc': ('train', 'val', 'testA', 'testB'),
            'google': ('train', 'val', 'test'),
        },
        'refcoco+': {
            'unc': ('train', 'val', 'testA', 'testB'),
        },
        'refcocog': {
            'umd': ('train', 'val', 'test'),
            'google': ('train', 'val'),
        },
        'refclef': {
            'unc': ('train', 'val', 'testA', 'testB', 'testC'),
            'berkeley': ('train', 'val', 'test'),
        },
    }
    DEFAULT_SPLIT_BY: Dict[str, str] = {
        'refcoco': 'unc',
        'refcoco+': 'unc',
        'refcocog': 'umd',
        'refclef': 'unc',
    }
    # Names of the refs file, tried in order; '{}' is the split_by.
    REFS_FILE_NAMES: Sequence[str] = ('refs({}).p', 'refs({}).json')
    METAINFO = dict(
        classes=('background', 'referred object'),
        palette=[[0, 0, 0], [255, 255, 255]])

    def __init__(self,
                 dataset: str = 'refcoco',
                 split_by: Optional[str] = None,
                 split: str = 'train',
                 data_root: str = '',
                 data_prefix: dict = dict(img_path='images/train2014'),
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 skip_bad_samples: bool = False,
                 **kwargs) -> None:
        self.skip_bad_samples = skip_bad_samples
        if not isinstance(dataset, str) or not dataset:
            raise ValueError('dataset must be a folder name, got '
                             f'{dataset!r}.')
        if split_by is None:
            split_by = self.DEFAULT_SPLIT_BY.get(dataset)
        self._check_split_names(dataset, split_by, split)
        self.dataset_name = dataset
        self.split_by = split_by
        self.split = split
        super().__init__(
            ann_file='',
            data_root=data_root,
            data_prefix=data_prefix,
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=True,
            **kwargs)
        # Set after BaseDataset's init: it would try to open string values
        # of ``metainfo`` as files.
        self._metainfo.update(
            dataset_name=dataset, split_by=split_by, split=split)
        if not lazy_init:
            self.full_init()

    def prepare_data(self, idx: int) -> Optional[dict]:
        """Run the pipeline on item ``idx``; a loading error names its ref.

        Returns:
            dict | None: The transformed item; None for a bad sample that
            ``skip_bad_samples`` skips (``BaseDataset`` then draws another).
        """
        try:
            return super().prepare_data(idx)
        except (OSError, ValueError) as error:
            info = self.get_data_info(idx)
            where = (f'ref {info.get("ref_id")} (image '
                     f'{info.get("img_path")}) of {self.dataset_name} '
                     f'{self.split}')
            if self.skip_bad_samples and not self.test_mode:
                print_log(f'Skipping {where}: {error}', logger='current',
                          level=logging.WARNING)
                return None
            message = f'Cannot load {where}: {error}'
            try:
                named = type(error)(message)
            except TypeError:  # an error type with a richer signature
                named = (OSError if isinstance(error, OSError) else
                         ValueError)(message)
            raise named from error

    @property
    def ann_dir(self) -> str:
        """str: The folder holding the refs file and ``instances.json``."""
        return osp.join(self.data_root, self.dataset_name)

    @property
    def refs_file(self) -> str:
        """str: Path of the refs file of ``split_by``: the first of
        :attr:`REFS_FILE_NAMES` that exists (the first if none does)."""
        split_by = '<split_by>' if self.split_by is None else self.split_by
        candidates = [
            osp.join(self.ann_dir, name.format(split_by))
            for name in self.REFS_FILE_NAMES
        ]
        for path in candidates:
            if osp.isfile(path):
                return path
        return candidates[0]

    @property
    def instances_file(self) -> str:
        """str: Path of ``instances.json``."""
        return osp.join(self.ann_dir, 'instances.json')

    @classmethod
    def _check_split_names(cls, dataset: str, split_by: Optional[str],
                           split: str) -> None:
        """Check the names of a known dataset before reading any file;
        another folder's files are checked when they are read."""
        if dataset not in cls.SPLITS:
            return
        known = cls.SPLITS[dataset]
        if split_by not in known:
            raise ValueError(f'Unknown split_by {split_by!r} for {dataset!r}; '
                             f'known: {sorted(known)}.')
        if split not in known[split_by]:
            raise ValueError(
                f'Unknown split {split!r} for {dataset!r} split by '
                f'{split_by!r}; known: {list(known[split_by])}.')

    def _present_refs_files(self) -> List[str]:
        """File names in :attr:`ann_dir` that look like refs files (of any
        refer format, so that a gRefCOCO file is named too)."""
        return sorted(
            osp.basename(p) for p in glob.glob(
                osp.join(glob.escape(self.ann_dir), '*refs(*).*')))

    def _split_bys_present(self) -> List[str]:
        """The ``split_by`` values that have a refs file of this class."""
        found = set()
        for name in self._present_refs_files():
            for template in self.REFS_FILE_NAMES:
                prefix, suffix = template.split('{}')
                if (name.startswith(prefix) and name.endswith(suffix)
                        and len(name) > len(prefix) + len(suffix)):
                    found.add(name[len(prefix):len(name) - len(suffix)])
        return sorted(found)

    def _resolve_split_by(self) -> None:
        """Take a folder's only refs file when no ``split_by`` was given."""
        if self.split_by is not None or not osp.isdir(self.ann_dir):
            return
        present = self._split_bys_present()
        if len(present) != 1:
            pattern = self.REFS_FILE_NAMES[0].format('<split_by>')
            raise ValueError(
                f'Give split_by for dataset {self.dataset_name!r}: '
                f'{self.ann_dir} holds {len(present)} {pattern} files '
                f'(split_by values present: {present}; refs files present: '
                f'{self._present_refs_files() or "none"}).')
        self.split_by = present[0]
        self._metainfo.update(split_by=self.split_by)

    def _check_files_exist(self) -> None:
        missing = [
            path for path in (self.refs_file, self.instances_file)
            if not osp.isfile(path)
        ]
        if not missing:
            return
        if osp.isdir(self.ann_dir):
            found = (f'refs files present in {self.ann_dir}: '
                     f'{self._present_refs_files() or "none"} (split_by '
                     f'values present: {self._split_bys_present()})')
        else:
            root = self.data_root or '.'
            folders = sorted(
                p for p in glob.glob(osp.join(glob.escape(root), '*'))
                if osp.isdir(p)) if osp.isdir(root) else []
            found = (f'folder {self.ann_dir} does not exist; folders in '
                     f'{root}: {[osp.basename(p) for p in folders]}')
        raise FileNotFoundError(
            f'Missing refer annotation file(s) {missing} for dataset '
            f'{self.dataset_name!r} split by {self.split_by!r}. Expected '
            f'{self.refs_file} and {self.instances_file}; {found}.')

    def _load_refs(self) -> List[dict]:
        try:
            if self.refs_file.endswith('.json'):
                with open(self.refs_file, 'rb') as f:
                    refs = json.load(f)
            else:
                with open(self.refs_file, 'rb') as f:
                    refs = pickle.load(f)
        except Exception as e:
            raise ValueError(
                f'Cannot read refs file {self.refs_file}: {e!r}') from e
        if not isinstance(refs, list):
            raise TypeError(f'{self.refs_file} should hold a list of refs, '
                            f'got {type(refs).__name__}.')
        return refs

    def _load_instances(self) -> dict:
        try:
            with open(self.instances_file, 'rb') as f:
                instances = json.load(f)
        except Exception as e:
            raise ValueError(
                f'Cannot read {self.instances_file}: {e!r}') from e
        for key in ('images', 'annotations'):
            if key not in instances:
                raise ValueError(f'{self.instances_file} has no {key!r}.')
        return instances

    def load_data_list(self) -> List[dict]:
        """Index the refs of ``split`` with their annotations and images.

        Returns:
            list[dict]: One item per ref (training) or per sentence (testing),
            with the fields of ``docs/design.md`` (``data_info``).
        """
        self._resolve_split_by()
        self._check_files_exist()
        with _gc_paused():
            return self._index_split()

    def _index_split(self) -> List[dict]:
        refs = self._load_refs()
        split_refs = [ref for ref in refs if ref.get('split') == self.split]
        if not split_refs:
            present = sorted({str(ref.get('split')) for ref in refs})
            raise ValueError(
                f'Split {self.split!r} has no refs in {self.refs_file}; '
                f'splits present: {present}.')

        instances = self._load_instances()
        referred_ann_ids = set()
        for ref in split_refs:
            referred_ann_ids.update(_hashable_ids(ref.get('ann_id')))
        anns = {
            ann['id']: ann
            for ann in instances['annotations']
            if ann['id'] in referred_ann_ids
        }
        images = {image['id']: image for image in instances['images']}

        data_list = []
        skipped = []
        for ref in split_refs:
            info = self._parse_ref(ref, anns, images)
            if info is None:
                skipped.append(ref['ref_id'])
            elif self.test_mode:
                data_list.extend(self._split_sentences(info))
            else:
                data_list.append(info)
        if skipped:
            print_log(
                f'{self.refs_file}: skipped {len(skipped)} ref(s) of split '
                f'{self.split!r} without sentences, ref_id(s) '
                f'{skipped[:20]}{" ..." if len(skipped) > 20 else ""}',
                logger='current',
                level=logging.WARNING)
        return data_list

    def _parse_ref(self, ref: dict, anns: Dict[int, dict],
                   images: Dict[int, dict]) -> Optional[dict]:
        """Build the training item of one ref, None if it has no sentence."""
        try:
            ref_id = ref['ref_id']
            image_id = ref['image_id']
            sentences = [
                dict(sent_id=sent['sent_id'], sent=sent['sent'])
                for sent in ref['sentences']
            ]
            ref['ann_id'], ref['category_id']
        except KeyError as e:
            raise ValueError(f'{self.refs_file}: ref '
                             f'{ref.get("ref_id", ref)!r} lacks the field '
                             f'{e.args[0]!r}.') from None
        if not sentences:
            return None
        targets = self._parse_targets(ref, anns)
        image = images.get(image_id)
        if image is None:
            raise ValueError(f'Ref {ref_id} refers to image {image_id}, which '
                             f'is not in {self.instances_file}.')
        return dict(
            img_path=osp.join(self.data_prefix['img_path'],
                              image['file_name']),
            image_id=image_id,
            ref_id=ref_id,
            height=image['height'],
            width=image['width'],
            sentences=sentences,
            **targets)

    def _annotation(self, ref_id: int, ann_id: int,
                    anns: Dict[int, dict]) -> dict:
        """The annotation ``ann_id`` of ref ``ref_id``, checked."""
        ann = anns.get(ann_id)
        if ann is None:
            raise ValueError(f'Ref {ref_id} refers to annotation {ann_id}, '
                             f'which is not in {self.instances_file}.')
        if not ann.get('segmentation'):
            raise ValueError(f'Annotation {ann_id} (ref {ref_id}) in '
                             f'{self.instances_file} has an empty '
                             'segmentation.')
        return ann

    def _parse_targets(self, ref: dict, anns: Dict[int, dict]) -> dict:
        """The referred object of a ref: ``ann_id``, ``category_id``,
        ``segmentation`` and ``no_target`` (always False here)."""
        ref_id, ann_id = ref['ref_id'], ref['ann_id']
        if isinstance(ann_id, (list, tuple)) or ann_id == -1:
            kind = ('no target' if ann_id == -1 or list(ann_id) == [-1] else
                    'a list of annotations')
            raise ValueError(
                f'Ref {ref_id} in {self.refs_file} has ann_id {ann_id!r} '
                f'({kind}): a gRefCOCO-style ref, which a plain refer '
                'dataset cannot hold; load this file with '
                "type='GReferDataset'.")
        ann = self._annotation(ref_id, ann_id, anns)
        return dict(
            ann_id=ann_id,
            category_id=ref['category_id'],
            segmentation=ann['segmentation'],
            no_target=False)

    @staticmethod
    def _split_sentences(info: dict) -> List[dict]:
        """One test item per sentence of a training item."""
        return [
            dict(
                info,
                sentences=[sentence],
                text=sentence['sent'],
                sent_id=sentence['sent_id']) for sentence in info['sentences']
        ]


def _hashable_ids(ann_id) -> List:
    """The annotation ids a ref's ``ann_id`` names (one or a list), leaving
    out what cannot be a dictionary key; the ref's own check reports it."""
    ids = ann_id if isinstance(ann_id, (list, tuple)) else [ann_id]
    return [i for i in ids if isinstance(i, (int, str))]
