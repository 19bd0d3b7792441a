"""Every script of tools/model_converters/ starts and prints its help.

The verify_* tools need a reference checkout to run; here they only import
(in a fresh interpreter) and parse ``--help``.
"""
import pytest

from .conftest import python_tool

SCRIPTS = {
    'cris2mmrefseg.py': 'Convert a CRIS.pytorch checkpoint to mmrefseg',
    'lavt2mmrefseg.py': 'Convert a LAVT (LAVT-RIS) checkpoint to mmrefseg',
    'verify_cris_conversion.py':
    'Check cris2mmrefseg against the CRIS reference code',
    'verify_lavt_conversion.py':
    'Check lavt2mmrefseg against the LAVT reference code',
}


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_converter_script_help(script):
    proc = python_tool(f'model_converters/{script}', '--help')
    out = ' '.join(proc.stdout.split())
    assert out.startswith(f'usage: {script} ')
    assert SCRIPTS[script] in out
    assert '--config CONFIG' in out
    if script.startswith('verify_cris'):
        assert '--arch {RN50,RN101}' in out and '--calibration-batch' in out
    if script.startswith('verify_lavt'):
        assert '--vocab VOCAB' in out and '--bert-layers' in out
