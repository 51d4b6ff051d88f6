"""`pip wheel .` builds the C core into the package, and the CFFI build
rebuilds when any header changes (every header is a declared dependency)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _rel(paths: list[str]) -> set[str]:
    return {str(Path(p).resolve().relative_to(ROOT)) if Path(p).is_absolute() else str(Path(p))
            for p in paths}


def test_every_header_is_a_build_dependency() -> None:
    from native import build_native

    kwds = build_native.ffibuilder._assigned_source[3]
    depends = _rel(kwds["depends"])
    headers = {str(p.relative_to(ROOT))
               for p in [*ROOT.glob("native/include/**/*.h"), *ROOT.glob("native/src/*.h")]}
    assert headers and headers <= depends
    sources = {str(p.relative_to(ROOT)) for p in ROOT.glob("native/src/*.c")}
    assert set(kwds["sources"]) == sources


def test_the_xdp_module_depends_on_its_headers_and_program() -> None:
    import shutil as sh

    if sh.which("clang") is None or sh.which("pkg-config") is None:
        pytest.skip("clang and pkg-config are needed to build the AF_XDP backend")
    from native import build_xdp

    kwds = build_xdp.ffibuilder._assigned_source[3]
    depends = _rel(kwds["depends"])
    want = {str(p.relative_to(ROOT)) for p in
            [*ROOT.glob("native/xdp/*"), *ROOT.glob("native/bpf/*.c"),
             *ROOT.glob("native/include/gw/*.h"), ROOT / "native/src/source.h"]}
    assert want <= depends
    assert _rel(kwds["sources"]) == {"native/xdp/source_xdp.c"}


@pytest.mark.slow
def test_wheel_contains_the_native_module(tmp_path: Path) -> None:
    # From a copy without build leftovers: setuptools builds in-tree and a
    # stale build/ folder would put back what the package list forgets.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        "build", ".venv", "*.egg-info", "bench-data", ".git", ".*_cache", ".hypothesis",
        "*.so", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "-w", str(tmp_path), str(src)],
        check=True, capture_output=True, timeout=600,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("gateway/_native") and n.endswith(".so") for n in names), names
    for want in ("gateway/cli.py", "protocols/itch50.py", "native/include/gw/api.h"):
        assert want in names
    # Every Python module of the source tree is in the wheel (a package
    # folder missing from pyproject's list would vanish from installs).
    for folder in ("gateway", "protocols"):
        for py in (ROOT / folder).rglob("*.py"):
            assert str(py.relative_to(ROOT)) in names, py
