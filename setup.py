# setuptools cannot take cffi_modules from pyproject.toml; everything else is there.
#
# The kernel-bypass backends are their own CFFI modules, built only where
# their libraries are (pkg-config says so): gateway._native_xdp (libxdp,
# libbpf and clang for the XDP program) and gateway._native_dpdk (DPDK).
import shutil
import subprocess

from setuptools import setup


def have(*packages: str) -> bool:
    if shutil.which("pkg-config") is None:
        return False
    return subprocess.run(["pkg-config", "--exists", *packages], check=False).returncode == 0


modules = ["native/build_native.py:ffibuilder"]
if have("libxdp", "libbpf") and shutil.which("clang"):
    modules.append("native/build_xdp.py:ffibuilder")
if have("libdpdk"):
    modules.append("native/build_dpdk.py:ffibuilder")
setup(cffi_modules=modules)
