import warnings

import torch

from mmrefseg.models.layers.table_cache import table_cache


def test_table_cache_caches_eagerly_and_steps_aside_under_compile():
    calls = []

    @table_cache(maxsize=4)
    def table(size):
        calls.append(size)
        return torch.arange(size, dtype=torch.float32)

    assert table(3) is table(3)
    assert calls == [3]

    compiled = torch.compile(lambda x: x + table(3), backend='eager')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        out = compiled(torch.ones(3))
    torch.testing.assert_close(out, torch.tensor([1., 2., 3.]))
    # Traced through the function itself, not the cache, and so without
    # dynamo's lru_cache warning.
    assert calls == [3, 3]
    assert not [w for w in caught if 'lru_cache' in str(w.message)]
