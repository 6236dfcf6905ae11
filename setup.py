"""Build script: setuptools compiles the C kernels through cffi (see pyautograd/backends/_build_c.py)."""
from setuptools import setup

setup(cffi_modules=["pyautograd/backends/_build_c.py:ffibuilder"])
