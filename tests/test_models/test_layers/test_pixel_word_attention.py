"""LAVT's PWAM and language gate against the reference's formulas."""
import pytest
import torch
import torch.nn.functional as F

from mmrefseg.models.layers import LanguageGate, PixelWordAttention


def reference_pwam(m, x, words, mask, heads):
    """LAVT's PWAM as its code computes it: (B, C, N) Conv1d layout,
    instance norms over the pixels, -1e4 on padded words, scale C ** -0.5."""
    def conv(layer, t):  # a 1x1 Conv1d on (B, C, N)
        return torch.einsum('oc,bcn->bon', layer.weight, t) + \
            layer.bias[None, :, None]

    xc = x.transpose(1, 2)
    lc = words.transpose(1, 2)
    lmask = mask.float()[:, None, :]
    vis = F.gelu(conv(m.vis_proj, xc))
    query = F.instance_norm(conv(m.query_proj, xc)).transpose(1, 2)
    key = conv(m.key_proj, lc) * lmask
    value = conv(m.value_proj, lc) * lmask
    batch, num, channels = query.shape
    query = query.reshape(batch, num, heads, -1).permute(0, 2, 1, 3)
    key = key.reshape(batch, heads, channels // heads, -1)
    value = value.reshape(batch, heads, channels // heads, -1)
    sim = (channels**-.5) * (query @ key) + (1e4 * lmask[:, None] - 1e4)
    out = sim.softmax(-1) @ value.permute(0, 1, 3, 2)
    out = out.permute(0, 2, 1, 3).reshape(batch, num, channels)
    lang = F.instance_norm(conv(m.out_proj, out.transpose(1, 2)))
    return F.gelu(conv(m.mm_proj, vis * lang)).transpose(1, 2)


@pytest.mark.parametrize('heads', [1, 2])
def test_pwam_matches_the_reference_formula(heads):
    torch.manual_seed(0)
    attn = PixelWordAttention(8, 12, num_heads=heads).eval()
    x, words = torch.randn(2, 20, 8), torch.randn(2, 5, 12)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()
    out = attn(x, words, mask)
    assert out.shape == (2, 20, 8)
    torch.testing.assert_close(out, reference_pwam(attn, x, words, mask,
                                                   heads))


def test_pwam_ignores_padded_words():
    torch.manual_seed(0)
    attn = PixelWordAttention(8, 12).eval()
    x, words = torch.randn(1, 10, 8), torch.randn(1, 5, 12)
    mask = torch.tensor([[1, 1, 0, 0, 0]]).bool()
    changed = words.clone()
    changed[:, 2:] = 100 * torch.randn(1, 3, 12)
    torch.testing.assert_close(attn(x, words, mask), attn(x, changed, mask))
    changed[:, 1] += 1  # a real word does matter
    assert not torch.allclose(attn(x, words, mask), attn(x, changed, mask))


def test_pwam_checks_heads():
    with pytest.raises(ValueError, match='num_heads=3'):
        PixelWordAttention(8, 12, num_heads=3)


def test_language_gate_is_a_tanh_gate_on_its_input():
    torch.manual_seed(0)
    gate = LanguageGate(6)
    gate.init_weights()
    assert gate.fc1.bias is None and gate.fc2.bias is None
    x = torch.randn(3, 4, 6)
    expected = torch.tanh(F.relu(x @ gate.fc1.weight.T) @ gate.fc2.weight.T)
    torch.testing.assert_close(gate(x), expected * x)
    assert torch.equal(gate(torch.zeros(2, 6)), torch.zeros(2, 6))
