import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmrefseg.models.layers import MaskFeatureUpsampler, TextPixelProjector
from mmrefseg.utils.checkpoint_conversion.cris import REFERENCE_PROJ_RENAMES


def _conv_bn_relu(cin, cout, kernel_size):
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2,
                  bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class _ReferenceLayoutProjector(nn.Module):
    """The reference projector's parameter layout and computation."""

    def __init__(self, text_channels, in_dim):
        super().__init__()
        self.vis = nn.Sequential(
            nn.Upsample(scale_factor=2, mode='bilinear'),
            _conv_bn_relu(2 * in_dim, 2 * in_dim, 3),
            nn.Upsample(scale_factor=2, mode='bilinear'),
            _conv_bn_relu(2 * in_dim, in_dim, 3), nn.Conv2d(in_dim, in_dim, 1))
        self.txt = nn.Linear(text_channels, in_dim * 9 + 1)

    def forward(self, x, sentence):
        x = self.vis(x)
        batch, channels, height, width = x.shape
        params = self.txt(sentence)
        logits = [
            F.conv2d(x[b:b + 1], params[b, :-1].view(1, channels, 3, 3),
                     params[b, -1:], padding=1) for b in range(batch)
        ]
        return torch.cat(logits)


def _rename(key, renames):
    for pattern, replacement in renames:
        key = re.sub(pattern, replacement, key)
    return key


def test_reference_weights_convert_by_rename_and_match():
    torch.manual_seed(0)
    reference = _ReferenceLayoutProjector(text_channels=12, in_dim=8)
    for module in reference.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_()
    reference.eval()
    ours = TextPixelProjector(in_channels=16, text_channels=12,
                              channels=8).eval()
    state = {
        _rename(k, REFERENCE_PROJ_RENAMES): v
        for k, v in reference.state_dict().items()
    }
    ours.load_state_dict(state, strict=True)
    x, sentence = torch.randn(2, 16, 5, 6), torch.randn(2, 12)
    with torch.no_grad():
        out = ours(x, sentence)
        expected = reference(x, sentence)
    assert out.shape == (2, 1, 20, 24)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_upsampler_layout_and_depth():
    upsampler = MaskFeatureUpsampler(16, 8, num_upsamples=3)
    assert [type(m).__name__ for m in upsampler] == [
        'Upsample', 'ConvModule', 'Upsample', 'ConvModule', 'Upsample',
        'ConvModule', 'Conv2d'
    ]
    assert upsampler(torch.randn(1, 16, 4, 5)).shape == (1, 8, 32, 40)
