from .dump_refer_results import DumpReferResults
from .grefer_metric import GReferMetric
from .refer_metric import ReferMetric

__all__ = ['DumpReferResults', 'GReferMetric', 'ReferMetric']
