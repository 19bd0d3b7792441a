"""BatchNorm1d that also trains on a batch of one sample."""
import torch.nn.functional as F
from torch import Tensor, nn

from mmrefseg.registry import MODELS

__all__ = ['SingleSampleBatchNorm1d']


@MODELS.register_module('BN1dSingleSample')
class SingleSampleBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` that normalises a training batch of one sample
    with its running statistics instead of raising.

    A (1, C) batch has no spread to normalise over, so ``nn.BatchNorm1d``
    refuses it in training mode. Such a batch is the last one of an epoch
    whenever the dataset size leaves one sample over on a rank and the data
    loader keeps its last batch (``drop_last=False``). That batch is
    normalised as in evaluation and does not update the running statistics;
    every larger batch behaves exactly as ``nn.BatchNorm1d``, and the
    parameters and buffers (hence checkpoints) are the same.

    Arguments are those of :class:`torch.nn.BatchNorm1d`.
    """

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x``.

        Args:
            x (Tensor): (B, C) or (B, C, L).

        Returns:
            Tensor: The same shape as ``x``.
        """
        single_vector = x.shape[0] * (x.shape[2] if x.dim() == 3 else 1) == 1
        if (self.training and single_vector
                and self.running_mean is not None):
            return F.batch_norm(x, self.running_mean, self.running_var,
                                self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)
