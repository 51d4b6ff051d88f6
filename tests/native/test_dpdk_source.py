"""The DPDK source (``gateway.dpdk``, ``native/dpdk/source_dpdk.c``).

The EAL starts once per process, so every test that starts it runs in a
subprocess of its own: ``--no-huge --no-pci --no-shconf`` (no hugepages, no
devices, no files left behind), and the ``net_pcap`` vdev reading a
synthetic capture stands in for a NIC.  What the decoder builds from the
port must be what it builds from the capture read directly.

Needs the module (libdpdk); --no-huge usually runs without root, and where
it does not, the tests skip saying so (CI is root and has DPDK).
"""

from __future__ import annotations

import itertools
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import gateway.dpdk
from gateway.book import Books
from gateway.errors import ConfigError
from gateway.native import Decoder, Source
from gateway.synth import write_synth

ROOT = Path(__file__).resolve().parents[2]
BOOKS = {"max_instruments": 64, "max_orders": 200_000, "max_levels": 50_000}
_prefix = itertools.count()


def need_dpdk() -> None:
    if not gateway.dpdk.available():
        pytest.skip(f"gateway._native_dpdk is not built ({gateway.dpdk.NOT_BUILT})")


def eal_args(*vdevs: str) -> str:
    """Arguments for a throwaway EAL: no hugepages, devices or shared files."""
    prefix = f"gwtest{os.getpid()}_{next(_prefix)}"
    args = ["--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--no-telemetry",
            "--file-prefix", prefix, "--log-level", "warning"]
    for v in vdevs:
        args += ["--vdev", v]
    return " ".join(args)


def run_child(script: str, **params: Any) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter with ``params`` (JSON in argv[1]);
    it prints one JSON object as its last line of output."""
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(params)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    if proc.returncode != 0 and os.geteuid() != 0 and "LocalError" in proc.stderr:
        # --no-huge usually runs unprivileged; where it does not, say why.
        pytest.skip(f"DPDK cannot run without root here: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, f"child failed:\n{proc.stdout}\n{proc.stderr}"
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


JUMBO = 3000  # longer than one mbuf's 2 KiB data room


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic session with one jumbo frame (not the feed's) in front:
    net_pcap hands it over as a chain of mbufs, which the source drops and
    counts as snapped."""
    path = tmp_path_factory.mktemp("dpdk") / "synth.pcap"
    write_synth(path, messages=20_000, symbols=20, seed=3, fmt="pcap")
    data = path.read_bytes()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    stamp = data[24:32]  # the first record's time
    frame = b"\xff" * 6 + b"\x02" * 6 + b"\x88\xb5" + bytes(JUMBO - 14)  # local experimental
    record = stamp + struct.pack(endian + "II", JUMBO, JUMBO) + frame
    path.write_bytes(data[:24] + record + data[24:])
    return path


PUMP = """
import json, sys, time
from gateway._native import lib
from gateway.book import Books
from gateway.dpdk import DpdkSource
from gateway.native import Decoder

p = json.loads(sys.argv[1])
books = Books(**p["books"])
dec = Decoder(books=books, hold=True, join_gap=10_000)
with DpdkSource("net_pcap0", p["args"], timeout_ms=10) as src:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rc = lib.gw_decoder_pump(dec.handle, src.handle, dec.frame_buffer, 256)
        assert rc >= 0, rc
        sessions = dec.sessions()
        if sessions and sessions[0].ended:
            break
    status, info = src.status(), src.info()  # status reads the counters now
print(json.dumps({
    "snapshot": books.snapshot(),
    "ended": bool(dec.sessions() and dec.sessions()[0].ended),
    "messages": dec.stats().messages,
    "frames": info.frames, "bytes": info.bytes, "nic_drops": info.nic_drops,
    "kind": info.kind, "link": info.link, "reasons": info.reasons,
    "driver": status.driver, "ipackets": status.ipackets,
}))
"""


def test_books_from_the_port_equal_the_capture(capture: Path) -> None:
    need_dpdk()
    got = run_child(PUMP, args=eal_args(f"net_pcap0,rx_pcap={capture}"), books=BOOKS)

    books = Books(**BOOKS)
    dec = Decoder(books=books)
    src = Source(capture)
    dec.run(src)
    want = json.loads(json.dumps(books.snapshot()))

    assert got["ended"]
    assert got["kind"] == "dpdk" and got["driver"] == "net_pcap" and got["link"] == 1
    assert got["messages"] == dec.stats().messages == 20_000
    # Every frame but the jumbo one handed out, in place, none lost.
    assert got["ipackets"] == src.info().frames
    assert got["frames"] == src.info().frames - 1
    assert got["bytes"] == src.info().bytes - JUMBO
    assert got["reasons"] == {"snapped": 1}
    assert got["nic_drops"] == 0
    assert got["snapshot"] == want


ERRORS = """
import json, sys
from gateway.dpdk import DpdkSource, eal_init, eal_running, ports
from gateway.errors import ConfigError

p = json.loads(sys.argv[1])
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except ConfigError as e:
        out[name] = ["ConfigError", e.key, str(e)]

attempt("bogus", lambda: eal_init(p["args"] + " --no-such-eal-option"))
out["running_after_bogus"] = eal_running()
attempt("first", lambda: eal_init(p["args"]))
attempt("same", lambda: eal_init("  " + p["args"].replace(" ", "   ") + " "))
attempt("other", lambda: eal_init(p["args"] + " --log-level debug"))
out["ports"] = ports()
attempt("unknown", lambda: DpdkSource("net_nope0", p["args"]))
attempt("open", lambda: DpdkSource("net_pcap0", p["args"]).close())
attempt("reopen", lambda: DpdkSource("0", p["args"]))
print(json.dumps(out))
"""


def test_eal_once_per_process_and_port_errors(capture: Path) -> None:
    need_dpdk()
    got = run_child(ERRORS, args=eal_args(f"net_pcap0,rx_pcap={capture}"))
    # Arguments the EAL rejects name the option, and it may then start.
    assert got["bogus"][:2] == ["ConfigError", "--dpdk-args"]
    assert "rejected" in got["bogus"][2]
    assert got["running_after_bogus"] is False
    assert got["first"] == got["same"] == "ok"
    assert got["other"][:2] == ["ConfigError", "--dpdk-args"]
    assert "once per process" in got["other"][2]
    assert got["ports"] == ["net_pcap0"]
    # An unknown port: one line naming it and the ports there are.
    kind, key, msg = got["unknown"]
    assert (kind, key) == ("ConfigError", "--dpdk-port")
    assert "net_nope0" in msg and "ports: net_pcap0" in msg and "\n" not in msg
    assert got["open"] == "ok"
    # DPDK releases a closed port; by number it is simply gone.
    assert got["reopen"][:2] == ["ConfigError", "--dpdk-port"]


def test_module_imports_and_describes_itself() -> None:
    if not gateway.dpdk.available():
        pytest.skip(f"gateway._native_dpdk is not built ({gateway.dpdk.NOT_BUILT})")
    from gateway._native_dpdk import ffi, lib

    assert lib.GW_DPDK_BUSY_POLL == 1 and lib.GW_DPDK_MAX_BURST == 1024
    if gateway.dpdk.eal_running():
        return  # another test started the EAL in this process: the rest needs none
    # Nothing started in this process: no ports, and a source says so.
    assert gateway.dpdk.ports() == []
    cfg = ffi.new("struct gw_dpdk_config *", {"port": b"net_pcap0"})
    err = ffi.new("char[]", 256)
    out = ffi.new("struct gw_source **")
    assert lib.gw_source_open_dpdk(out, cfg, err, 256) < 0
    assert b"not running" in ffi.string(err)


def test_not_built_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.dpdk, "dlib", None)
    with pytest.raises(ConfigError) as e:
        gateway.dpdk.DpdkSource("net_pcap0", "--no-huge")
    assert e.value.key == "--source" and "libdpdk-dev" in str(e.value)


def test_bad_arguments_are_refused_before_the_eal(monkeypatch: pytest.MonkeyPatch) -> None:
    if not gateway.dpdk.available():
        pytest.skip(f"gateway._native_dpdk is not built ({gateway.dpdk.NOT_BUILT})")
    running = gateway.dpdk.eal_running()
    for kwargs, key in [({"queue": 1}, "--dpdk-queue"), ({"burst": 0}, "--burst"),
                        ({"burst": 4096}, "--burst"), ({"timeout_ms": -1}, "--timeout")]:
        with pytest.raises(ConfigError) as e:
            gateway.dpdk.DpdkSource("net_pcap0", "--no-huge", **kwargs)
        assert e.value.key == key
    with pytest.raises(ConfigError) as e:
        gateway.dpdk.DpdkSource("x" * 64, "--no-huge")
    assert e.value.key == "--dpdk-port"
    assert gateway.dpdk.eal_running() == running  # refused before the EAL was touched
