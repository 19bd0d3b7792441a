"""ReferMetric's edges, found by mutation testing (docs/mutation_testing.md):
inclusive threshold bounds, a scalar threshold, a one-pixel union, samples
given as data elements, the error messages and the logged table."""
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmrefseg.evaluation import ReferMetric
from tests.helpers import logged_messages


def _element(pred, gt):
    sample = SegDataSample(
        metainfo=dict(img_path='a.jpg', sent_id=7, ori_shape=gt.shape[-2:]))
    sample.pred_sem_seg = PixelData(data=pred.long())
    sample.gt_sem_seg = PixelData(data=gt)
    return sample  # a BaseDataElement, not its dict


def test_threshold_bounds_are_inclusive_and_a_scalar_is_one_threshold():
    assert ReferMetric(iou_thrs=(0.0, 1.0)).iou_thrs == (0.0, 1.0)
    assert ReferMetric(iou_thrs=0.5).iou_thrs == (0.5, )
    with pytest.raises(
            ValueError,
            match=r'^empty_union_iou must lie in \[0, 1\], got 1.5$'):
        ReferMetric(empty_union_iou=1.5)


def test_distributed_collection_settings_are_kept():
    assert ReferMetric(collect_device='gpu').collect_device == 'gpu'
    assert ReferMetric(collect_dir='/tmp/c').collect_dir == '/tmp/c'


def test_data_elements_and_a_one_pixel_union():
    one = torch.zeros(1, 3, 4, dtype=torch.uint8)
    one[0, 1, 2] = 1
    metric = ReferMetric(empty_union_iou=0.25)
    metric.process({}, [_element(one, one)])
    metrics = metric.compute_metrics(metric.results)
    # a union of one pixel is a union, not the empty-union case
    assert metrics['oIoU'] == pytest.approx(100.0)
    assert metrics['mIoU'] == pytest.approx(100.0)


def test_error_messages_name_the_problem():
    metric = ReferMetric()
    pred = torch.zeros(1, 3, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match='^ReferMetric compares masks at the '
                       r'original image size.*sent_id=7$'):
        metric.process({}, [_element(pred, torch.zeros(1, 4, 3))])
    with pytest.raises(ValueError, match=r'^ReferMetric got no results: the '
                       r'evaluation dataset is empty or process\(\) was never '
                       r'called$'):
        metric.compute_metrics([])


@pytest.mark.parametrize('strict, comparison', [(True, '>'), (False, '>=')])
def test_the_logged_table_names_the_count_and_the_comparison(
        strict, comparison):
    # print_log(logger='current') writes to the latest MMLogger
    logger = MMLogger.get_instance(f'refer_metric_edges_{strict}')
    with logged_messages(logger) as messages:
        gt = torch.ones(1, 2, 2, dtype=torch.uint8)
        metric = ReferMetric(strict_threshold=strict)
        metric.process({}, [_element(gt, gt), _element(gt, gt)])
        metric.compute_metrics(metric.results)
    message = '\n'.join(messages)
    assert (f'Referring segmentation results on 2 sentences '
            f'(Pr@X: IoU {comparison} X)') in message
    assert 'oIoU' in message and '100.00' in message
