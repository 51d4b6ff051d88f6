# setuptools cannot take cffi_modules from pyproject.toml; everything else is there.
from setuptools import setup

setup(cffi_modules=["native/build_native.py:ffibuilder"])
