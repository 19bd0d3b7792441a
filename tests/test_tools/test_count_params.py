import os.path as osp
import sys

from torch import nn

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'count_params.py')


def _load_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('count_params', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_count_by_module_nests_and_sums():
    model = nn.Sequential()
    model.add_module('a', nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)))
    model.add_module('b', nn.Conv2d(2, 5, 1, bias=False))
    counts = _load_tool().count_by_module(model, depth=2)
    assert counts == {'a': 16 + 10, 'a.0': 16, 'a.1': 10, 'b': 10}
    assert list(_load_tool().count_by_module(model, depth=1)) == ['a', 'b']


def test_main_on_a_config(tmp_path, monkeypatch, capsys):
    config = tmp_path / 'tiny.py'
    config.write_text(
        "model = dict(type='MultiQueryGenerator', neck=dict(type='FusionNeck',"
        " in_channels=(8, 16, 24), out_channels=(8, 16, 32)), feat_size=4,"
        ' num_queries=3, neck_channels=16, reduce_channels=(8, 8),'
        ' word_channels=8, global_channels=8, embed_dims=8, out_channels=8)\n')
    monkeypatch.setattr(sys, 'argv', [TOOL, str(config), '--depth', '1'])
    _load_tool().main()
    out = capsys.readouterr().out
    assert 'neck' in out and 'vision_proj' in out
    assert out.strip().splitlines()[-1].startswith('total 0.0')


def test_missing_bert_directory_counts_bert_base(tmp_path, capsys):
    tool = _load_tool()
    encoder = dict(
        type='BertTextEncoder',
        pretrained=str(tmp_path / 'bert-base-uncased'),
        word_dim=512,
        sentence_dim=768)
    offline = tool.offline_text_encoder(encoder, str(tmp_path))
    assert 'not found' in capsys.readouterr().out
    assert offline['pretrained'] is None and offline['bert_cfg'] == {}
    from mmrefseg.registry import MODELS
    from mmrefseg.utils import register_all_modules
    register_all_modules()
    text_encoder = MODELS.build(offline)
    # bert-base-uncased without its pooler: 108,891,648 parameters
    assert sum(p.numel() for p in text_encoder.bert.parameters()) == 108891648
    # a directory that exists, and any other encoder, are left alone
    (tmp_path / 'bert-base-uncased').mkdir()
    assert tool.offline_text_encoder(encoder, str(tmp_path)) == encoder
    clip = dict(type='CLIPTextEncoder', pretrained='missing.pt')
    assert tool.offline_text_encoder(clip, str(tmp_path)) is clip
