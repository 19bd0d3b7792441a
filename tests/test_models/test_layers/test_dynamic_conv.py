import pytest
import torch
import torch.nn.functional as F

from mmrefseg.models.layers import DynamicConv2d, dynamic_conv2d


def _loop_reference(feats, kernels, kernel_size):
    batch, channels = feats.shape[:2]
    outs = torch.empty(batch, kernels.shape[1], *feats.shape[-2:])
    for b in range(batch):
        for n in range(kernels.shape[1]):
            weight = kernels[b, n, :-1].reshape(1, channels, kernel_size,
                                                kernel_size)
            outs[b, n] = F.conv2d(
                feats[b:b + 1],
                weight,
                kernels[b, n, -1:],
                padding=kernel_size // 2)[0, 0]
    return outs


@pytest.mark.parametrize('num_kernels, kernel_size', [(1, 3), (4, 3), (3, 1),
                                                      (2, 5)])
def test_grouped_conv_equals_per_sample_per_query_loop(num_kernels,
                                                       kernel_size):
    torch.manual_seed(0)
    feats = torch.randn(3, 5, 7, 6)
    kernels = torch.randn(3, num_kernels, 5 * kernel_size**2 + 1)
    out = dynamic_conv2d(feats, kernels, kernel_size)
    assert out.shape == (3, num_kernels, 7, 6)
    torch.testing.assert_close(
        out, _loop_reference(feats, kernels, kernel_size), atol=1e-5,
        rtol=1e-5)


def test_module_and_gradients():
    conv = DynamicConv2d(4, 3)
    assert conv.num_params == 4 * 9 + 1
    feats = torch.randn(2, 4, 5, 5, requires_grad=True)
    kernels = torch.randn(2, 6, conv.num_params, requires_grad=True)
    conv(feats, kernels).sum().backward()
    assert feats.grad.abs().sum() > 0 and kernels.grad.abs().sum() > 0


def test_bad_kernels():
    feats = torch.randn(2, 4, 5, 5)
    with pytest.raises(ValueError, match='C\\*K\\*K\\+1 = 37'):
        dynamic_conv2d(feats, torch.randn(2, 1, 36))
    with pytest.raises(ValueError, match='kernels must be'):
        dynamic_conv2d(feats, torch.randn(3, 1, 37))
    with pytest.raises(ValueError, match='odd'):
        DynamicConv2d(4, 2)
