import pytest
from mmengine.registry import DefaultScope

from mmrefseg import register_all_modules

register_all_modules(init_default_scope=False)


@pytest.fixture(autouse=True)
def mmrefseg_default_scope():
    """Runs every test in the ``mmrefseg`` scope.

    A Runner built by one test makes its own scope the current one (plain
    mmengine Runners use ``'mmengine'``); without this, registry look-ups
    of later tests would start from that scope and miss mmrefseg's modules.
    """
    with DefaultScope.overwrite_default_scope('mmrefseg'):
        yield
