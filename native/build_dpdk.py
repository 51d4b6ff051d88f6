"""CFFI builder for the DPDK receive backend: ``gateway._native_dpdk``.

Named in ``setup.py`` only where ``pkg-config --exists libdpdk``.  Compiler
and linker flags come from ``pkg-config libdpdk`` (they include
``-include rte_config.h`` and a ``-march``).  The cdef is read from
``native/dpdk/dpdk_api.h`` itself.  The module is its own shared object and
calls nothing of ``gateway._native``: a source opened here is a
``struct gw_source`` the main module's decoder pumps through the function
pointers in ``source.h``.  The poll-mode drivers are not linked: the EAL
loads them at start-up from the directory DPDK was built with.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def pkg(*args: str) -> list[str]:
    out = subprocess.run(["pkg-config", *args], check=True, capture_output=True, text=True)
    return shlex.split(out.stdout)


def cdef_text() -> str:
    """dpdk_api.h without preprocessor lines, keeping numeric GW_ constants."""
    lines = []
    for line in (HERE / "dpdk" / "dpdk_api.h").read_text().splitlines():
        if line.startswith("#"):
            words = line.split()
            if (len(words) >= 3 and words[0] == "#define" and words[1].startswith("GW_")
                    and words[2].lstrip("-").isdigit()):
                lines.append(" ".join(words[:3]))
            continue
        lines.append(line)
    return "\n".join(lines)


ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source(
    "gateway._native_dpdk",
    '#include "dpdk_api.h"\n',
    sources=["native/dpdk/source_dpdk.c"],
    include_dirs=["native/include", "native/src", "native/dpdk"],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=["-O3", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                        *pkg("--cflags", "libdpdk")],
    extra_link_args=pkg("--libs", "libdpdk"),
    depends=[str(p.relative_to(ROOT)) for p in
             [*sorted((HERE / "dpdk").glob("*")), *sorted((HERE / "include" / "gw").glob("*.h")),
              HERE / "src" / "source.h"]],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
