"""An ``lru_cache`` for constant tables that steps aside under compile."""
import functools
from typing import Callable

import torch

__all__ = ['table_cache']


def table_cache(maxsize: int) -> Callable[[Callable], Callable]:
    """Decorator: ``functools.lru_cache(maxsize)``, except while
    ``torch.compile`` traces, where the function itself is called.

    For functions that build constant tables (coordinate maps, positional
    encodings) from sizes: a compiled graph builds the table itself (with
    ``freezing``, folds it to a constant), and dynamo warns whenever it
    meets an ``lru_cache``.

    Args:
        maxsize (int): Entries kept by the eager cache.

    Returns:
        Callable: The decorator.
    """

    def decorator(function: Callable) -> Callable:
        cached = functools.lru_cache(maxsize=maxsize)(function)

        @functools.wraps(function)
        def wrapper(*args):
            if torch.compiler.is_compiling():
                return function(*args)
            return cached(*args)

        wrapper.cache_clear = cached.cache_clear
        wrapper.cache_info = cached.cache_info
        return wrapper

    return decorator
