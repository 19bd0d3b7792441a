import pytest

from tests.helpers import make_refer_data


@pytest.fixture(scope='session')
def refer_root(tmp_path_factory):
    """A tiny generated refer dataset shared (read-only) by the tests."""
    return make_refer_data(tmp_path_factory.mktemp('refer'), num_images=12)
