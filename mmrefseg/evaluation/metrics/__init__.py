from .dump_refer_results import DumpReferResults
from .refer_metric import ReferMetric

__all__ = ['DumpReferResults', 'ReferMetric']
