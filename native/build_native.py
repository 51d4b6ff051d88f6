"""CFFI builder (out-of-line API mode) for the C core: ``gateway._native``.

``setup.py`` names this file in ``cffi_modules``; ``pip install .`` and
``pip install -e .`` both run it.  The cdef is read from ``gw/api.h`` itself
(plus the numeric constants of the generated layout header), so no
declaration is typed twice.  ``depends=`` lists every header and source so a
header change rebuilds the module.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INCLUDE = HERE / "include"
SOURCES = sorted((HERE / "src").glob("*.c"))
HEADERS = sorted(INCLUDE.glob("gw/*.h")) + sorted((HERE / "src").glob("*.h"))

_NUMERIC_DEFINE = re.compile(r"^#define\s+GW_\w+\s+(-?\d+|0x[0-9a-fA-F]+)\s*(/\*.*)?$")


def cdef_text() -> str:
    """api.h and the generated numeric constants, minus what cdef can't parse."""
    lines: list[str] = []
    for header, only_defines in ((INCLUDE / "gw" / "itch50_gen.h", True),
                                 (INCLUDE / "gw" / "api.h", False)):
        for line in header.read_text().splitlines():
            if _NUMERIC_DEFINE.match(line):
                lines.append(re.sub(r"/\*.*$", "", line).rstrip())
            elif not line.startswith("#") and not only_defines:
                lines.append(line)
    return "\n".join(lines)


def _regenerate_layout() -> None:
    # Keep the generated header in step with the Python table at every build.
    sys.path.insert(0, str(ROOT))
    try:
        from native import gen_layout

        gen_layout.write_if_changed()
    finally:
        sys.path.pop(0)


_regenerate_layout()

ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source(
    "gateway._native",
    '#include "gw/gw.h"\n',
    sources=[str(p.relative_to(ROOT)) for p in SOURCES],
    include_dirs=[str(INCLUDE.relative_to(ROOT))],
    libraries=["pcap", "z"],
    extra_compile_args=["-O3", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                        "-fno-strict-aliasing"],
    depends=[str(p.relative_to(ROOT)) for p in HEADERS],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
