"""The machinery shared by the converters: report, loop, writing, CLI."""
import argparse

import pytest
import torch

import mmrefseg.utils
from mmrefseg.utils.checkpoint_conversion import base
from mmrefseg.utils.checkpoint_conversion.base import (
    ConversionReport, build_parser, convert_checkpoint, convert_entries,
    load_weights_only, model_state_from_config, run_cli, strip_prefix)
from tests.helpers import write_tiny_cris_config


def test_report_lines_list_every_section_in_order():
    report = ConversionReport()
    assert report.complete and report.lines() == []
    report.drop('a.b', 'not needed')
    report.drop('c', 'a buffer')
    report.notes.append('cut x')
    report.not_consumed += ['u', 'v (-> w)']
    report.not_filled.append('m.k')
    report.mismatched += ['p (2,) -> q (3,)', 'r: s filled twice']
    assert report.dropped == ['a.b', 'c']
    assert report.drop_reasons == {'a.b': 'not needed', 'c': 'a buffer'}
    assert report.lines() == [
        'dropped a.b: not needed',
        'dropped c: a buffer',
        'cut x',
        'source keys not consumed (no rule, or no such model key) (2):',
        '  u',
        '  v (-> w)',
        'model keys not filled (1):',
        '  m.k',
        'mismatches (2):',
        '  p (2,) -> q (3,)',
        '  r: s filled twice',
    ]


def test_report_mismatch_title_and_empty_sections():
    report = ConversionReport(mismatch_title='shape mismatches')
    report.mismatched.append('x')
    assert report.lines() == ['shape mismatches (1):', '  x']


@pytest.mark.parametrize('problems',
                         ['not_consumed', 'not_filled', 'mismatched'])
def test_report_any_problem_makes_it_incomplete(problems):
    report = ConversionReport()
    report.drop('k', 'why')
    report.notes.append('a note')
    assert report.complete  # drops and notes are no problems
    getattr(report, problems).append('k')
    assert not report.complete


def test_strip_prefix():
    assert strip_prefix('module.neck.x') == 'neck.x'
    assert strip_prefix('module.module.x') == 'module.x'  # one prefix only
    assert strip_prefix('neck.module.x') == 'neck.module.x'
    assert strip_prefix('bert.x', 'bert.') == 'x'
    assert strip_prefix('module.x', 'bert.') == 'module.x'


def _entries(*keys, shape=(2, )):
    return [(key, torch.full(shape, float(i))) for i, key in enumerate(keys)]


def _rename(key, value):
    return ({'a': 'A', 'b': 'B', 'c': 'C', 'x': 'X'}.get(key), value)


def _never(key, target):
    return None


def test_convert_entries_in_model_order_and_reports_the_rest():
    report = ConversionReport()
    shapes = {'C': (2, ), 'B': (2, ), 'A': (2, ), 'M': (4, )}
    converted = convert_entries(
        _entries('a', 'b', 'c', 'x', 'unknown'), shapes, _rename, _never,
        report)
    assert list(converted) == ['C', 'B', 'A']
    assert converted['A'].equal(torch.full((2, ), 0.))
    assert converted['C'].equal(torch.full((2, ), 2.))
    assert report.not_consumed == ['x (-> X)', 'unknown']
    assert report.not_filled == ['M']
    assert report.mismatched == [] and report.dropped == []


def test_convert_entries_drops_before_anything_else():
    calls = []

    def drop_reason(key, target):
        calls.append((key, target))
        return {'a': 'known', 'unknown': 'unknown too'}.get(key)

    report = ConversionReport()
    converted = convert_entries(
        _entries('a', 'unknown', 'b'), {'A': (2, ), 'B': (2, )}, _rename,
        drop_reason, report)
    assert calls == [('a', 'A'), ('unknown', None), ('b', 'B')]
    assert report.dropped == ['a', 'unknown']
    assert report.drop_reasons == {'a': 'known', 'unknown': 'unknown too'}
    assert report.not_consumed == []
    assert list(converted) == ['B'] and report.not_filled == ['A']


def test_convert_entries_map_entry_may_change_the_value():
    report = ConversionReport()
    converted = convert_entries(
        [('a', torch.zeros(2, 3, 1))], {'A': (2, 3)},
        lambda key, value: ('A', value.squeeze(-1)), _never, report)
    assert report.complete and converted['A'].shape == (2, 3)


def test_convert_entries_shape_mismatch_and_double_fill():
    report = ConversionReport()
    entries = [('a', torch.zeros(3)), ('b', torch.zeros(2)),
               ('b2', torch.ones(2)), ('c', torch.ones(2))]
    converted = convert_entries(
        entries, {'A': torch.Size([2]), 'B': (2, ), 'C': (2, )},
        lambda key, value: (key[0].upper(), value), _never, report)
    assert report.mismatched == ['a (3,) -> A (2,)', 'b2: B filled twice']
    assert converted['B'].equal(torch.zeros(2))  # the first one stays
    assert list(converted) == ['B', 'C']  # and the loop goes on
    assert report.not_filled == ['A']


def test_convert_entries_fit_adapts_before_the_shape_check():
    seen = []

    def fit(key, target, value, shape, report):
        seen.append((key, target, tuple(value.shape), shape))
        report.notes.append(f'cut {key}')
        return value[:shape[0]]

    report = ConversionReport()
    converted = convert_entries(
        [('a', torch.arange(5.))], {'A': torch.Size([3])}, _rename, _never,
        report, fit=fit)
    assert seen == [('a', 'A', (5, ), (3, ))]
    assert type(seen[0][3]) is tuple  # shapes are handed as tuples
    assert report.complete and report.notes == ['cut a']
    assert converted['A'].equal(torch.arange(3.))


def test_convert_entries_check_names_a_mismatch_of_the_right_shape():
    seen = []

    def check(key, target, value):
        seen.append((key, target))
        return f'{key}: wrong' if value.sum() > 0 else None

    report = ConversionReport()
    entries = [('a', torch.ones(2)), ('b', torch.zeros(2)),
               ('c', torch.zeros(3))]
    converted = convert_entries(entries, {'A': (2, ), 'B': (2, ), 'C': (2, )},
                                _rename, _never, report, check=check)
    assert seen == [('a', 'A'), ('b', 'B')]  # not called on a bad shape
    assert report.mismatched == ['a: wrong', 'c (3,) -> C (2,)']
    assert list(converted) == ['B']
    assert report.not_filled == ['A', 'C']


def test_load_weights_only_reads_on_the_cpu_without_code(
        tmp_path, monkeypatch):
    path = tmp_path / 'ckpt.pth'
    torch.save({'w': torch.ones(2), 'args': argparse.Namespace(a=1)}, path)
    with pytest.raises(ValueError,
                       match=r"(?s)^cannot read '.*ckpt\.pth' with "
                       r'torch\.load\(weights_only=True\): .*Namespace'):
        load_weights_only(str(path))
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', spy)
    loaded = load_weights_only(str(path), [argparse.Namespace])
    assert calls[-1] == dict(map_location='cpu', weights_only=True)
    assert loaded['args'].a == 1 and loaded['w'].equal(torch.ones(2))
    # the allowlist holds inside the call only
    with pytest.raises(ValueError, match='Namespace'):
        load_weights_only(str(path))


def test_load_weights_only_names_the_file(tmp_path):
    missing = tmp_path / 'missing.pth'
    with pytest.raises(FileNotFoundError,
                       match=r"^no such checkpoint: '.*missing\.pth'$"):
        load_weights_only(str(missing))
    with pytest.raises(FileNotFoundError):
        load_weights_only(str(tmp_path))  # a directory is no checkpoint
    bad = tmp_path / 'notes.pth'
    bad.write_text('not a checkpoint')
    with pytest.raises(ValueError, match=r"^cannot read '.*notes\.pth'"):
        load_weights_only(str(bad))


def test_model_state_from_config_registers_the_modules(tmp_path,
                                                       monkeypatch):
    calls = []
    real = mmrefseg.utils.register_all_modules

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(mmrefseg.utils, 'register_all_modules', spy)
    state = model_state_from_config(write_tiny_cris_config(tmp_path))
    assert calls == [((), {})]
    assert all(torch.is_tensor(value) for value in state.values())
    assert 'decode_head.proj.txt.bias' in state
    assert 'text_encoder.text.positional_embedding' in state


class _FakeConversion:
    """``load`` and ``convert`` for :func:`convert_checkpoint`."""

    def __init__(self, complete=True):
        self.complete = complete
        self.calls = []

    def load(self, src):
        self.calls.append(('load', src))
        return 'SOURCE', {'reference_epoch': 7}

    def convert(self, source, model_state):
        self.calls.append(('convert', source, sorted(model_state)[:1]))
        report = ConversionReport()
        if not self.complete:
            report.not_filled.append('k')
        return {'w': torch.arange(3)}, report


@pytest.fixture()
def fake_model_state(monkeypatch):
    configs = []

    def model_state(config):
        configs.append(config)
        return {'a.weight': torch.zeros(1), 'b': torch.zeros(1)}

    monkeypatch.setattr(base, 'model_state_from_config', model_state)
    return configs


def test_convert_checkpoint_writes_meta_and_state_dict(tmp_path,
                                                       fake_model_state):
    fake = _FakeConversion()
    dst = tmp_path / 'out' / 'converted.pth'
    report = convert_checkpoint(
        str(tmp_path / 'ref.pth'), str(dst), str(tmp_path / 'cfg.py'),
        fake.load, fake.convert, 'tools/x.py')
    assert report.complete
    assert fake.calls == [('load', str(tmp_path / 'ref.pth')),
                          ('convert', 'SOURCE', ['a.weight'])]
    assert fake_model_state == [str(tmp_path / 'cfg.py')]
    saved = torch.load(dst, weights_only=True)
    assert saved['meta'] == dict(
        converted_from='ref.pth', converter='tools/x.py', config='cfg.py',
        reference_epoch=7)
    assert list(saved) == ['meta', 'state_dict']
    assert saved['state_dict']['w'].equal(torch.arange(3))


def test_convert_checkpoint_keeps_an_existing_file(tmp_path,
                                                   fake_model_state):
    fake = _FakeConversion()
    dst = tmp_path / 'converted.pth'
    dst.write_text('keep me')
    with pytest.raises(FileExistsError,
                       match=r"^'.*converted\.pth' exists; pass --force "
                       'to replace it$'):
        convert_checkpoint('ref.pth', str(dst), 'cfg.py', fake.load,
                           fake.convert, 'tools/x.py')
    assert fake.calls == [] and fake_model_state == []  # nothing read
    assert dst.read_text() == 'keep me'
    convert_checkpoint('ref.pth', str(dst), 'cfg.py', fake.load,
                       fake.convert, 'tools/x.py', force=True)
    assert torch.load(dst, weights_only=True)['meta']['converter'] == \
        'tools/x.py'


def test_convert_checkpoint_writes_nothing_when_incomplete(
        tmp_path, fake_model_state):
    fake = _FakeConversion(complete=False)
    report = convert_checkpoint('ref.pth', str(tmp_path / 'out.pth'),
                                'cfg.py', fake.load, fake.convert, 'x')
    assert report.not_filled == ['k']
    assert list(tmp_path.iterdir()) == []


def _helps(parser):
    return {action.dest: action.help for action in parser._actions}


def test_build_parser():
    parser = build_parser('Convert things', 'the things')
    assert parser.description == 'Convert things'
    assert _helps(parser) == {
        'help': 'show this help message and exit',
        'src': 'the things',
        'dst': 'mmrefseg checkpoint to write',
        'config': 'mmrefseg config of the same model: its state dict is the '
        'check that every key is converted',
        'force': 'replace an existing DST',
    }
    args = parser.parse_args(['a.pth', 'b.pth', '--config', 'c.py'])
    assert vars(args) == dict(src='a.pth', dst='b.pth', config='c.py',
                              force=False)
    assert parser.parse_args(['a', 'b', '--config', 'c', '--force']).force
    with pytest.raises(SystemExit):
        parser.parse_args(['a.pth', 'b.pth'])  # --config is required


def test_run_cli_prints_the_report_and_returns_the_status(capsys):
    args = argparse.Namespace(src='s.pth', dst='d.pth', config='c.py',
                              force=True)
    calls = []

    def convert(*call):
        calls.append(call)
        report = ConversionReport()
        report.drop('k', 'why')
        return report

    assert run_cli(args, convert) == 0
    assert calls == [('s.pth', 'd.pth', 'c.py', True)]
    captured = capsys.readouterr()
    assert captured.out == 'dropped k: why\nsaved d.pth\n'
    assert captured.err == ''

    def incomplete(*call):
        report = ConversionReport()
        report.not_filled.append('m')
        return report

    assert run_cli(args, incomplete) == 1
    captured = capsys.readouterr()
    assert captured.out == 'model keys not filled (1):\n  m\n'
    assert captured.err == 'conversion incomplete: d.pth NOT written\n'


def test_public_names():
    for name in base.__all__:
        assert hasattr(base, name), name
