"""Registration of mmrefseg's modules and the torch-version fixes it needs."""
import datetime
import warnings

from mmengine import DefaultScope

__all__ = ['register_all_modules']


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmrefseg module so that the registries are filled.

    Args:
        init_default_scope (bool): Whether to make ``mmrefseg`` the current
            default scope, so that ``type='ReferDataset'`` resolves without a
            ``mmrefseg.`` prefix. Defaults to True.
    """
    import mmseg.utils
    mmseg.utils.register_all_modules(init_default_scope=False)

    import mmrefseg.datasets  # noqa: F401
    import mmrefseg.deploy  # noqa: F401
    import mmrefseg.engine  # noqa: F401
    import mmrefseg.evaluation  # noqa: F401
    import mmrefseg.models  # noqa: F401
    import mmrefseg.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None:
        DefaultScope.get_instance('mmrefseg', scope_name='mmrefseg')
    elif current.scope_name != 'mmrefseg':
        warnings.warn('The current default scope '
                      f'"{current.scope_name}" is not "mmrefseg": '
                      '`register_all_modules` opens a new scope '
                      '"mmrefseg-<timestamp>" for mmrefseg.')
        name = f'mmrefseg-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='mmrefseg')
