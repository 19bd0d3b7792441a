"""GReferMetric's edges, found by mutation testing (docs/mutation_testing.md):
the BaseMetric arguments, one-pixel unions, the error messages and the logged
table with its four counts."""
import pytest
import torch
from mmengine.logging import MMLogger

from mmrefseg.evaluation import GReferMetric
from tests.helpers import evaluate_grefer, grefer_sample, logged_messages


EMPTY = torch.zeros(1, 3, 4, dtype=torch.uint8)
ONE = EMPTY.clone()
ONE[0, 1, 2] = 1


def test_base_metric_arguments_are_kept():
    metric = GReferMetric()
    assert metric.collect_device == 'cpu' and metric.prefix is None
    assert GReferMetric(collect_device='gpu').collect_device == 'gpu'
    assert GReferMetric(collect_dir='/tmp/c').collect_dir == '/tmp/c'
    assert GReferMetric(prefix='gres').prefix == 'gres'


def test_a_one_pixel_union_is_a_union():
    # Predicted and ground truth are the same single pixel: IoU 1.
    metrics = evaluate_grefer([grefer_sample(ONE, ONE)])
    assert metrics['gIoU'] == pytest.approx(100.0)
    assert metrics['cIoU'] == pytest.approx(100.0)
    # Predicted no-target on a one-pixel object: I = 0, U = 1, so cIoU 0
    # (not the 100 of an empty total union).
    metrics = evaluate_grefer([grefer_sample(EMPTY, ONE, pred_no_target=True)])
    assert metrics['gIoU'] == 0.0 and metrics['cIoU'] == 0.0


def test_error_messages_name_the_sample():
    metric = GReferMetric()
    with pytest.raises(ValueError) as error:
        metric.process({}, [grefer_sample(ONE, ONE, no_target=True)])
    assert str(error.value) == (
        "The data sample img_path='a.jpg', sent_id=0 is no-target but its "
        'ground-truth mask is not empty.')
    with pytest.raises(ValueError, match='^GReferMetric compares masks at '
                       r'the original image size.*sent_id=0$'):
        metric.process({}, [grefer_sample(ONE, torch.zeros(1, 4, 3))])
    with pytest.raises(ValueError) as error:
        metric.compute_metrics([])
    assert str(error.value) == (
        'GReferMetric got no results: the evaluation dataset is empty or '
        'process() was never called')


def test_the_logged_table_names_the_counts():
    # print_log(logger='current') writes to the latest MMLogger
    logger = MMLogger.get_instance('grefer_metric_edges')
    with logged_messages(logger) as messages:
        evaluate_grefer([
            grefer_sample(EMPTY, EMPTY, True, True),  # TP
            grefer_sample(EMPTY, ONE, False, True),  # FP
            grefer_sample(ONE, ONE, False, False),  # TN
            grefer_sample(ONE, ONE, False, False),  # TN
            grefer_sample(ONE, EMPTY, True, False),  # FN
            grefer_sample(EMPTY, EMPTY, True, True),  # TP
            grefer_sample(EMPTY, EMPTY, True, True),  # TP
        ])
    message = '\n'.join(messages)
    assert ('Generalised referring segmentation results on 7 sentences '
            "(no-target = positive: {'TP': 3, 'FN': 1, 'FP': 1, 'TN': 2}; "
            'Pr@X: IoU >= X over targeted sentences):\n') in message
    assert 'gIoU' in message and 'T-acc' in message
