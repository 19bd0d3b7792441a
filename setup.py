"""Installs mmrefseg. The pinned stack is installed by ``tools/setup_env.sh``."""
import os.path as osp

from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open(osp.join(osp.dirname(__file__), 'mmrefseg', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name):
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name='mmrefseg',
    version=read_version(),
    description='Referring image segmentation toolbox for OpenMMLab (CRIS, EAVL)',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'demo', 'tests')),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    extras_require=dict(
        tests=read_requirements('tests.txt'),
        optional=read_requirements('optional.txt')),
    license='Apache License 2.0',
    zip_safe=False)
