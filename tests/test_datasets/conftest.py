import pytest

from tests.helpers import make_grefer_data, make_refer_data


@pytest.fixture(scope='session')
def refer_root(tmp_path_factory):
    """A tiny generated refer dataset shared (read-only) by the tests."""
    return make_refer_data(tmp_path_factory.mktemp('refer'), num_images=12)


@pytest.fixture(scope='session')
def grefer_root(tmp_path_factory):
    """A tiny generated gRefCOCO-format dataset shared (read-only)."""
    return make_grefer_data(tmp_path_factory.mktemp('grefer'), num_images=16)
