import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmrefseg.models.necks import FusionNeck
from mmrefseg.utils.checkpoint_conversion.cris import REFERENCE_NECK_RENAMES
from mmrefseg.registry import MODELS


def _conv_bn_relu(cin, cout, kernel_size):
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2,
                  bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class _ReferenceLayoutCoordConv(nn.Module):

    def __init__(self, channels):
        super().__init__()
        self.conv1 = _conv_bn_relu(channels + 2, channels, 3)

    def forward(self, x):
        batch, _, height, width = x.shape
        ys, xs = torch.meshgrid(
            torch.linspace(-1, 1, height), torch.linspace(-1, 1, width),
            indexing='ij')
        coords = torch.stack([xs, ys])[None].expand(batch, -1, -1, -1)
        return self.conv1(torch.cat([x, coords], 1))


class _ReferenceLayoutNeck(nn.Module):
    """The neck as cris.md describes it, with the reference's names."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        in3, in4, in5 = in_channels
        out3, out4, out5 = out_channels
        self.txt_proj = nn.Sequential(
            nn.Linear(in5, out5, bias=False), nn.BatchNorm1d(out5), nn.ReLU())
        self.f1_v_proj = _conv_bn_relu(in5, out5, 1)
        self.norm_layer = nn.Sequential(nn.BatchNorm2d(out5), nn.ReLU())
        self.f2_v_proj = _conv_bn_relu(in4, out4, 3)
        self.f2_cat = _conv_bn_relu(out5 + out4, out4, 1)
        self.f3_v_proj = _conv_bn_relu(in3, out3, 3)
        self.f3_cat = _conv_bn_relu(out3 + out4, out4, 1)
        self.f4_proj5 = _conv_bn_relu(out5, out4, 3)
        self.f4_proj4 = _conv_bn_relu(out4, out4, 3)
        self.f4_proj3 = _conv_bn_relu(out4, out4, 3)
        self.aggr = _conv_bn_relu(3 * out4, out4, 1)
        self.coordconv = nn.Sequential(
            _ReferenceLayoutCoordConv(out4), _conv_bn_relu(out4, out4, 3))

    def forward(self, feats, sentence):
        v3, v4, v5 = feats
        gate = self.txt_proj(sentence)[:, :, None, None]
        f5 = self.norm_layer(self.f1_v_proj(v5) * gate)
        up = dict(scale_factor=2, mode='bilinear')
        f4 = self.f2_cat(
            torch.cat([self.f2_v_proj(v4),
                       F.interpolate(f5, **up)], 1))
        f3 = F.avg_pool2d(self.f3_v_proj(v3), 2, 2)
        f3 = self.f3_cat(torch.cat([f3, f4], 1))
        fq = torch.cat([
            self.f4_proj3(f3),
            self.f4_proj4(f4),
            F.interpolate(self.f4_proj5(f5), **up)
        ], 1)
        return self.coordconv(self.aggr(fq))


def _randomise_bn(module):
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.5)


def _convert(state_dict):
    converted = {}
    for key, value in state_dict.items():
        for pattern, replacement in REFERENCE_NECK_RENAMES:
            key = re.sub(pattern, replacement, key)
        converted[key] = value
    return converted


SMALL_IN, SMALL_OUT = (8, 12, 16), (6, 10, 14)


def _small_feats(batch=2, size=64):
    return (torch.randn(batch, 8, size // 8, size // 8),
            torch.randn(batch, 12, size // 16, size // 16),
            torch.randn(batch, 16, size // 32, size // 32))


def test_reference_weights_convert_by_rename_and_match():
    torch.manual_seed(0)
    reference = _ReferenceLayoutNeck(SMALL_IN, SMALL_OUT)
    _randomise_bn(reference)
    reference.eval()
    neck = FusionNeck(SMALL_IN, SMALL_OUT).eval()
    neck.load_state_dict(_convert(reference.state_dict()), strict=True)
    feats, sentence = _small_feats(), torch.randn(2, 16)
    with torch.no_grad():
        out = neck(feats, sentence)
        expected = reference(feats, sentence)
    assert out.shape == (2, 10, 4, 4)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_full_size_shapes_at_416():
    neck = MODELS.build(
        dict(
            type='FusionNeck',
            in_channels=[512, 1024, 1024],
            out_channels=[256, 512, 1024])).eval()
    feats = (torch.randn(1, 512, 52, 52), torch.randn(1, 1024, 26, 26),
             torch.randn(1, 1024, 13, 13))
    with torch.no_grad():
        out = neck(feats, torch.randn(1, 1024))
    assert out.shape == (1, 512, 26, 26)


def test_without_sentence_skips_the_gating():
    torch.manual_seed(0)
    gated = FusionNeck(SMALL_IN, SMALL_OUT, sentence_channels=5).eval()
    _randomise_bn(gated)
    plain = FusionNeck(
        SMALL_IN, SMALL_OUT, sentence_channels=5, use_sentence=False).eval()
    assert not hasattr(plain, 'txt_proj')
    plain.load_state_dict(
        {k: v
         for k, v in gated.state_dict().items()
         if not k.startswith('txt_proj.')})
    # make txt_proj output exactly 1: gating by it is then the identity
    nn.init.zeros_(gated.txt_proj[0].weight)
    bn = gated.txt_proj[1]
    bn.running_mean.zero_()
    bn.running_var.fill_(1 - bn.eps)
    bn.weight.data.fill_(1)
    bn.bias.data.fill_(1)
    feats = _small_feats()
    with torch.no_grad():
        without = plain(feats, torch.randn(2, 5))
        torch.testing.assert_close(without, plain(feats))
        torch.testing.assert_close(without, gated(feats, torch.randn(2, 5)))
        bn.bias.data.fill_(2)  # a gate of 2 changes the result
        assert not torch.allclose(without, gated(feats, torch.randn(2, 5)))
    with pytest.raises(ValueError, match='needs the sentence feature'):
        gated(feats)


def test_training_step_on_a_non_square_input():
    neck = FusionNeck(SMALL_IN, SMALL_OUT).train()
    # a 96x160 input: stride-32 map 3x5, stride-16 map 6x10
    feats = (torch.randn(2, 8, 12, 20), torch.randn(2, 12, 6, 10),
             torch.randn(2, 16, 3, 5))
    out = neck(feats, torch.randn(2, 16))
    assert out.shape == (2, 10, 6, 10)
    out.mean().backward()
    assert neck.txt_proj[0].weight.grad.abs().sum() > 0


def test_input_size_not_a_multiple_of_32():
    # a 400x400 input through CLIP's ResNet: C3 50, C4 25, C5 12
    neck = FusionNeck(SMALL_IN, SMALL_OUT).eval()
    feats = (torch.randn(1, 8, 50, 50), torch.randn(1, 12, 25, 25),
             torch.randn(1, 16, 12, 12))
    with torch.no_grad():
        assert neck(feats, torch.randn(1, 16)).shape == (1, 10, 25, 25)


def test_bad_inputs():
    neck = FusionNeck(SMALL_IN, SMALL_OUT)
    c3, c4, c5 = _small_feats()
    with pytest.raises(ValueError, match='C4 must be'):
        neck((c3, c3, c5))
    with pytest.raises(ValueError, match='expects \\(C3, C4, C5\\)'):
        neck((c3, c4))
    with pytest.raises(ValueError, match='three in_channels'):
        FusionNeck((8, 12), SMALL_OUT)
