"""Decode-only throughput: capture file to decoded ITCH 5.0 messages.

    python -m benchmarks.bench_decode [--messages 5000000] [--symbols 1000] [--runs 5]

Contenders, all on the same synthetic NASDAQ-like capture (MoldUDP64 packets
of up to ~1,400 bytes, made by ``gateway capture synth`` and cached under
``bench-data/``):

* gateway (header): the whole C path -- pcap file, Ethernet/VLAN/IPv4/UDP,
  MoldUDP64 framing and sequencing, ITCH type/length checks, per-type counts
  and the digest -- one C call per burst of 256 frames;
* gateway (all fields): the same, plus every field of every message decoded
  into a fixed record (what ``gateway decode`` consumes), drained per burst;
* itchfeed: the ``itch`` package's ``MessageParser.parse_stream`` over each
  packet's message blocks (pure-Python backend unless itchcpp is installed);
* struct loop: a plain ``struct.unpack_from`` of every field of every message.

The peers are handed the UDP payloads already extracted from the capture
(not timed), so they do strictly less work than the gateway.  Every
contender reports its message count and a digest (sum over messages of
timestamp ^ locate<<48 ^ type<<56, mod 2**64); they must all agree, so no
contender can time a no-op.  Timings are medians of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway import clock
from gateway.native import Decoder, Source
from protocols import itch50, moldudp64
from protocols.layout import Kind

MASK = (1 << 64) - 1
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    name: str
    messages: int
    digest: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.messages / self.median


def ensure_capture(
    path: Path, messages: int, symbols: int, seed: int, fmt: str = "pcap"
) -> Path:
    """A synthetic session cached at ``path`` (made once, then reused)."""
    if path.exists():
        return path
    from gateway import synth

    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} ({messages:,} messages, {symbols} symbols) ...", file=sys.stderr)
    tmp = path.with_suffix(".tmp")
    synth.write_synth(tmp, messages=messages, symbols=symbols, seed=seed, fmt=fmt)
    tmp.rename(path)
    return path


def udp_payloads(path: Path) -> list[bytes]:
    """MoldUDP64 payloads of a classic pcap (Ethernet, optional VLAN, IPv4, UDP)."""
    data = path.read_bytes()
    magic = data[:4]
    endian = "<" if magic in (bytes.fromhex("d4c3b2a1"), bytes.fromhex("4d3cb2a1")) else ">"
    rec = struct.Struct(endian + "IIII")
    out: list[bytes] = []
    pos = 24
    while pos + 16 <= len(data):
        _, _, caplen, _ = rec.unpack_from(data, pos)
        frame = data[pos + 16 : pos + 16 + caplen]
        pos += 16 + caplen
        off = 12
        while frame[off : off + 2] in (b"\x81\x00", b"\x88\xa8"):
            off += 4
        if frame[off : off + 2] != b"\x08\x00":
            continue
        ip = off + 2
        ihl = (frame[ip] & 0x0F) * 4
        if frame[ip + 9] != 17:
            continue
        udp = ip + ihl
        ulen = int.from_bytes(frame[udp + 4 : udp + 6], "big")
        out.append(frame[udp + 8 : udp + ulen])
    return out


def timed(fn: Callable[[], tuple[int, int]], runs: int) -> tuple[int, int, list[float]]:
    secs: list[float] = []
    count = digest = 0
    for _ in range(runs):
        t0 = clock.monotonic_ns()
        count, digest = fn()
        secs.append((clock.monotonic_ns() - t0) / 1e9)
    return count, digest, secs


def gateway_header(path: Path) -> tuple[int, int]:
    with Source(path) as src:
        dec = Decoder()
        dec.run(src)
        st = dec.stats()
        return st.messages, st.digest


def gateway_records(path: Path) -> tuple[int, int]:
    with Source(path) as src:
        dec = Decoder(records=True)
        n = 0
        for recs in dec.iter_records(src):
            n += len(recs)
        st = dec.stats()
        assert n == st.messages, (n, st.messages)
        return n, st.digest


def itchfeed_run(payloads: list[bytes]) -> tuple[int, int]:
    from itch.parser import MessageParser

    parser = MessageParser()
    n = digest = 0
    hdr = moldudp64.HEADER_SIZE
    for p in payloads:
        if len(p) <= hdr:
            continue  # heartbeat or end of session
        for m in parser.parse_stream(p[hdr:]):
            n += 1
            digest += m.timestamp ^ (m.stock_locate << 48) ^ (m.message_type[0] << 56)
    return n, digest & MASK


def _struct_for(code: bytes) -> struct.Struct:
    # Derived from the layout table; the 6-byte timestamp as 2 + 4 bytes.
    fmt = ">"
    for f in itch50.MESSAGES[code].fields:
        if f.kind is Kind.ALPHA:
            fmt += f"{f.size}s"
        elif f.kind is Kind.TIMESTAMP:
            fmt += "HI"
        else:
            fmt += {1: "B", 2: "H", 4: "I", 8: "Q"}[f.size]
    return struct.Struct(fmt)


def struct_run(payloads: list[bytes]) -> tuple[int, int]:
    structs = {code[0]: _struct_for(code) for code in itch50.MESSAGES}
    unpack_hdr = struct.Struct(">10sQH").unpack_from
    n = digest = 0
    for p in payloads:
        _, _, count = unpack_hdr(p, 0)
        if count in (0, 0xFFFF):
            continue
        pos = 20
        for _ in range(count):
            mlen = (p[pos] << 8) | p[pos + 1]
            pos += 2
            v = structs[p[pos]].unpack_from(p, pos)
            # v: type, locate, tracking, ts_hi, ts_lo, ...
            digest += ((v[3] << 32) | v[4]) ^ (v[1] << 48) ^ (p[pos] << 56)
            n += 1
            pos += mlen
    return n, digest & MASK


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5_000_000)
    ap.add_argument("--symbols", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--peer-runs", type=int, default=3)
    ap.add_argument("--capture", type=Path, default=None)
    a = ap.parse_args(argv)

    path = a.capture or ROOT / "bench-data" / f"synth-{a.messages}-{a.symbols}-{a.seed}.pcap"
    ensure_capture(path, a.messages, a.symbols, a.seed)
    payloads = udp_payloads(path)
    data_packets = sum(1 for p in payloads if len(p) > moldudp64.HEADER_SIZE)

    results: list[Result] = []
    for name, fn, runs in (
        ("gateway (header + digest)", lambda: gateway_header(path), a.runs),
        ("gateway (all fields)", lambda: gateway_records(path), a.runs),
        ("struct.unpack_from loop", lambda: struct_run(payloads), a.peer_runs),
        ("itchfeed", lambda: itchfeed_run(payloads), a.peer_runs),
    ):
        n, d, secs = timed(fn, runs)
        results.append(Result(name, n, d, secs))

    import itch

    print(f"capture   {path} ({path.stat().st_size:,} bytes)")
    print(f"packets   {len(payloads):,} ({data_packets:,} with messages); "
          f"{results[0].messages / max(data_packets, 1):.1f} messages per packet")
    print(f"itchfeed  {itch.__version__}, C++ backend: {itch.USING_CPP_BACKEND}")
    print(f"cpu       {os.cpu_count()} cores; medians of {a.runs} (gateway) / "
          f"{a.peer_runs} (peers) runs\n")
    base = results[0]
    print(f"{'contender':<28}{'messages':>12}{'median s':>10}{'M msg/s':>10}"
          f"{'k pkt/s':>10}{'ns/msg':>9}{'gateway x':>11}")
    for r in results:
        print(f"{r.name:<28}{r.messages:>12,}{r.median:>10.3f}{r.rate / 1e6:>10.2f}"
              f"{data_packets / r.median / 1e3:>10.0f}{1e9 / r.rate:>9.1f}"
              f"{base.rate / r.rate:>10.1f}x")
    by = {r.name: r for r in results}
    full = by["gateway (all fields)"]
    for peer in ("itchfeed", "struct.unpack_from loop"):
        print(f"ratio     gateway (header) / {peer}: {base.rate / by[peer].rate:.1f}x   "
              f"gateway (all fields) / {peer}: {full.rate / by[peer].rate:.1f}x")
    ok = all(r.messages == base.messages and r.digest == base.digest for r in results)
    print("\ncounts and digests agree" if ok else "\nMISMATCH in counts or digests:")
    if not ok:
        for r in results:
            print(f"  {r.name}: {r.messages} {r.digest:#x}")
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("ITCH_NO_CPP", "1")  # itchfeed's own pure-Python parser
    raise SystemExit(main())
