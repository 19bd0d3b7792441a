"""gRefCOCO: referring expressions with several targets or none (GRES)."""
from typing import Dict, List, Sequence

from mmrefseg.registry import DATASETS
from .refer_dataset import ReferDataset

__all__ = ['GReferDataset']

NO_TARGET_ID = -1


@DATASETS.register_module()
class GReferDataset(ReferDataset):
    """A generalised referring-segmentation dataset (gRefCOCO's format).

    The layout and the items are :class:`ReferDataset`'s, with the refs file
    ``grefs(<split_by>).p`` or ``grefs(<split_by>).json`` (gRefCOCO ships
    JSON)::

        <data_root>/<dataset>/grefs(<split_by>).json
        <data_root>/<dataset>/instances.json
        <data_root>/<data_prefix['img_path']>/<file_name from instances.json>

    A ref's ``ann_id`` (and ``category_id``) may be one id or a list of ids:
    the ground truth is the union of those annotations' masks. ``[-1]`` (or
    ``-1``) marks a no-target expression: its ground truth is an empty mask.

    Items carry, besides :class:`ReferDataset`'s fields, ``ann_id`` and
    ``category_id`` as lists, ``segmentations`` (the list of the targets'
    COCO segmentations, empty for no target; ``LoadReferMask`` decodes their
    union) instead of ``segmentation``, and ``no_target`` (bool). Test mode
    yields one item per sentence, as :class:`ReferDataset`.

    Crowd annotations (``iscrowd=1``) are kept in the union; ReLA's loader
    drops them. Besides :class:`ReferDataset`'s checks, an ``ann_id`` that is
    an empty list or mixes -1 with real ids is an error naming the ref.

    Args:
        dataset (str): Dataset folder name. Defaults to 'grefcoco'.
        **kwargs: The other arguments of :class:`ReferDataset`
            (``split_by`` defaults to 'unc' for 'grefcoco').
    """

    SPLITS: Dict[str, Dict[str, Sequence[str]]] = {
        'grefcoco': {
            'unc': ('train', 'val', 'testA', 'testB'),
        },
    }
    DEFAULT_SPLIT_BY: Dict[str, str] = {'grefcoco': 'unc'}
    REFS_FILE_NAMES: Sequence[str] = ('grefs({}).json', 'grefs({}).p')

    def __init__(self, dataset: str = 'grefcoco', **kwargs) -> None:
        super().__init__(dataset=dataset, **kwargs)

    def _parse_targets(self, ref: dict, anns: Dict[int, dict]) -> dict:
        """The referred objects of a ref: ``ann_id`` and ``category_id``
        (lists), ``segmentations`` and ``no_target``."""
        ref_id = ref['ref_id']
        ann_ids = _as_list(ref['ann_id'])
        category_ids = _as_list(ref['category_id'])
        if not ann_ids:
            raise ValueError(
                f'Ref {ref_id} in {self.refs_file} has an empty ann_id list; '
                f'a no-target ref has [{NO_TARGET_ID}].')
        if NO_TARGET_ID in ann_ids:
            if len(ann_ids) > 1:
                raise ValueError(
                    f'Ref {ref_id} in {self.refs_file} has ann_id '
                    f'{ann_ids}, which mixes {NO_TARGET_ID} (no target) '
                    'with annotation ids.')
            return dict(
                ann_id=ann_ids,
                category_id=category_ids,
                segmentations=[],
                no_target=True)
        segmentations = [
            self._annotation(ref_id, ann_id, anns)['segmentation']
            for ann_id in ann_ids
        ]
        return dict(
            ann_id=ann_ids,
            category_id=category_ids,
            segmentations=segmentations,
            no_target=False)


def _as_list(value) -> List:
    """One id or a list of ids, as a list."""
    return list(value) if isinstance(value, (list, tuple)) else [value]
