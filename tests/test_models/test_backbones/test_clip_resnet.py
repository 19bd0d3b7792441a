import pytest
import torch
import torch.nn.functional as F

from mmrefseg.models.backbones import CLIPResNet
from mmrefseg.models.utils import clip_checkpoint, save_clip_torchscript
from mmrefseg.registry import MODELS
from tests.helpers import TINY_CLIP_RESNET, tiny_clip_state_dict


@pytest.mark.parametrize('arch, c5_channels', [
    (dict(layers=(3, 4, 6, 3), output_dim=1024), 1024),
    (dict(layers=(3, 4, 23, 3), output_dim=512), 512),
])
def test_full_size_shapes_at_416(arch, c5_channels):
    backbone = MODELS.build(dict(type='CLIPResNet', **arch)).eval()
    with torch.no_grad():
        c3, c4, c5 = backbone(torch.randn(1, 3, 416, 416))
    assert c3.shape == (1, 512, 52, 52)
    assert c4.shape == (1, 1024, 26, 26)
    assert c5.shape == (1, c5_channels, 13, 13)
    assert (c5 >= 0).all()  # the closing ReLU


def _reference_c5(backbone, layer4):
    """C5 as the CRIS reference computes it, through torch's MHA function."""
    pool = backbone.visual.attnpool
    batch, channels, height, width = layer4.shape
    grid = round((pool.positional_embedding.shape[0] - 1)**0.5)
    pos = pool.positional_embedding[1:].reshape(1, grid, grid, channels)
    pos = F.interpolate(
        pos.permute(0, 3, 1, 2), (height, width),
        mode='bicubic',
        align_corners=False).flatten(2)
    tokens = (layer4.flatten(2) + pos).permute(2, 0, 1)
    out, _ = F.multi_head_attention_forward(
        tokens, tokens, tokens, channels, backbone.num_heads, None,
        torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
        None, None, False, 0., pool.c_proj.weight, pool.c_proj.bias,
        training=False, need_weights=False, use_separate_proj_weight=True,
        q_proj_weight=pool.q_proj.weight, k_proj_weight=pool.k_proj.weight,
        v_proj_weight=pool.v_proj.weight)
    out = out.permute(1, 2, 0).reshape(batch, -1, height, width)
    return F.relu(out + backbone.connect(layer4))


def _layer4(backbone, images):
    visual = backbone.visual
    return visual.layer4(
        visual.layer3(visual.layer2(visual.layer1(visual.stem(images)))))


def test_dense_attention_pool_matches_reference_computation():
    torch.manual_seed(0)
    backbone = CLIPResNet(**TINY_CLIP_RESNET).eval()
    # non-trivial BN statistics so that the connect branch matters
    backbone.connect.bn.running_mean.normal_()
    backbone.connect.bn.weight.data.uniform_(0.5, 1.5)
    images = torch.randn(2, 3, 160, 96)  # layer4 5x3: pos embed resized
    with torch.no_grad():
        c3, c4, c5 = backbone(images)
        expected = _reference_c5(backbone, _layer4(backbone, images))
    assert c3.shape == (2, 64, 20, 12) and c4.shape == (2, 128, 10, 6)
    assert c5.shape == (2, 64, 5, 3)
    torch.testing.assert_close(c5, expected, atol=1e-5, rtol=1e-5)


def test_c5_is_contiguous_as_the_reference():
    """The layout of C5 picks the neck's convolution algorithm, hence its
    rounding: contiguous, as the reference's."""
    torch.manual_seed(0)
    backbone = CLIPResNet(**TINY_CLIP_RESNET).eval()
    with torch.no_grad():
        c5 = backbone(torch.randn(1, 3, 160, 96))[2]
    assert c5.is_contiguous()


def test_resized_positions_are_cached_until_the_weights_change():
    torch.manual_seed(0)
    backbone = CLIPResNet(**TINY_CLIP_RESNET).eval()
    images = torch.randn(1, 3, 160, 96)
    calls = []
    resize = backbone._resize_positional_embedding
    backbone._resize_positional_embedding = \
        lambda *args: calls.append(1) or resize(*args)
    with torch.no_grad():
        first = backbone(images)[2]
        backbone(images)
        assert len(calls) == 1
        backbone(torch.randn(1, 3, 128, 128))  # another size
        assert len(calls) == 2
        state = backbone.state_dict()
        state['visual.attnpool.positional_embedding'] = torch.randn_like(
            state['visual.attnpool.positional_embedding'])
        backbone.load_state_dict(state)
        changed = backbone(images)[2]
        assert len(calls) == 3
        expected = _reference_c5(backbone, _layer4(backbone, images))
    torch.testing.assert_close(changed, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(first, changed)
    # With autograd (training) the embedding is resized on every call.
    backbone(images)
    backbone(images)
    assert len(calls) == 5


def test_global_feature_is_clips_pooled_token():
    torch.manual_seed(0)
    backbone = CLIPResNet(with_global=True, **TINY_CLIP_RESNET).eval()
    images = torch.randn(2, 3, 64, 64)  # CLIP's own 2x2 grid
    with torch.no_grad():
        outs = backbone(images)
        clip_pooled = backbone.visual.attnpool(_layer4(backbone, images))
        dense_only = CLIPResNet(**TINY_CLIP_RESNET).eval()
        dense_only.load_state_dict(backbone.state_dict())
        c5_without_global = dense_only(images)[2]
    assert len(outs) == 4
    assert outs[3].shape == (2, 64)
    torch.testing.assert_close(outs[3], clip_pooled, atol=1e-5, rtol=1e-5)
    assert outs[2].shape == c5_without_global.shape
    # the mean token takes part in the attention, so C5 changes
    assert not torch.allclose(outs[2], c5_without_global)


def test_frozen_stages_and_norm_eval():
    backbone = CLIPResNet(
        frozen_stages=2, norm_eval=True, **TINY_CLIP_RESNET).train()
    visual = backbone.visual
    assert not any(p.requires_grad for p in visual.conv1.parameters())
    assert not any(p.requires_grad for p in visual.layer2.parameters())
    assert all(p.requires_grad for p in visual.layer3.parameters())
    assert all(p.requires_grad for p in backbone.connect.parameters())
    assert not visual.layer3[0].bn1.training  # norm_eval
    trainable = CLIPResNet(**TINY_CLIP_RESNET).train()
    assert trainable.visual.bn1.training
    assert all(p.requires_grad for p in trainable.parameters())
    with pytest.raises(ValueError, match='frozen_stages'):
        CLIPResNet(frozen_stages=5, **TINY_CLIP_RESNET)


def _assert_visual_loaded(backbone, clip_state_dict):
    for key, value in backbone.visual.state_dict().items():
        torch.testing.assert_close(value, clip_state_dict['visual.' + key])


def test_loads_openai_torchscript_archive(tmp_path):
    clip = tiny_clip_state_dict()
    path = tmp_path / 'RN_tiny.pt'
    save_clip_torchscript(clip, path)
    backbone = CLIPResNet(pretrained=str(path), **TINY_CLIP_RESNET)
    backbone.init_weights()
    _assert_visual_loaded(backbone, clip)


def test_loads_open_clip_checkpoint_with_ddp_prefix(tmp_path):
    clip = tiny_clip_state_dict()
    path = tmp_path / 'open_clip.pt'
    torch.save({
        'epoch': 3,
        'state_dict': {'module.' + k: v
                       for k, v in clip.items()}
    }, path)
    backbone = CLIPResNet(pretrained=str(path), **TINY_CLIP_RESNET)
    backbone.init_weights()
    _assert_visual_loaded(backbone, clip)


def test_reports_missing_and_unexpected_keys_by_name(tmp_path, monkeypatch):
    messages = []
    monkeypatch.setattr(clip_checkpoint, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    clip = tiny_clip_state_dict()
    del clip['visual.layer1.0.bn1.running_mean']
    clip['visual.extra.weight'] = torch.zeros(1)
    path = tmp_path / 'partial.pt'
    torch.save(clip, path)
    backbone = CLIPResNet(pretrained=str(path), **TINY_CLIP_RESNET)
    backbone.init_weights()
    missing, unexpected, new, _ = messages
    assert 'missing' in missing and 'layer1.0.bn1.running_mean' in missing
    assert 'not used' in unexpected and 'extra.weight' in unexpected
    assert 'connect' in new and 'CLIPResNet' in new


def test_shape_mismatch_names_key(tmp_path):
    path = tmp_path / 'clip.pt'
    torch.save(tiny_clip_state_dict(), path)
    arch = dict(TINY_CLIP_RESNET, image_size=96)  # 3x3 grid, not 2x2
    backbone = CLIPResNet(pretrained=str(path), **arch)
    with pytest.raises(ValueError, match='attnpool.positional_embedding'):
        backbone.init_weights()


@pytest.mark.parametrize('pretrained, error, match', [
    ('https://openaipublic.azureedge.net/clip/RN50.pt', ValueError, 'URL'),
    ('RN50', FileNotFoundError, 'never downloads'),
    ('/no/such/dir/RN50.pt', FileNotFoundError, '/no/such/dir/RN50.pt'),
])
def test_non_local_weights_are_refused(pretrained, error, match):
    backbone = CLIPResNet(pretrained=pretrained, **TINY_CLIP_RESNET)
    with pytest.raises(error, match=match):
        backbone.init_weights()


def test_file_without_image_tower_is_refused(tmp_path):
    path = tmp_path / 'text_only.pt'
    torch.save({'token_embedding.weight': torch.zeros(2, 2)}, path)
    with pytest.raises(KeyError, match='visual'):
        CLIPResNet(pretrained=str(path), **TINY_CLIP_RESNET).init_weights()
