"""The live feed: what A/B arbitration costs, how long recovery takes, and
send-to-book latency of the kernel UDP source.

    python -m benchmarks.bench_feed [--messages 5000000] [--symbols 1000]

1. **Arbitration cost.**  The MoldUDP64 packets of a synthetic session
   (NASDAQ-like packing, about 44 messages a packet) are laid out in memory
   as frames, once as line A alone and once as A and B (B the same packets,
   each right behind A's copy, as two healthy lines deliver them).  The same
   C decoder applies them into books: one line with the replay sequencer,
   one line in hold mode, two lines in hold mode.  Every contender reports
   its message count and digest (the sum of a per-message hash) and they
   must agree, so no variant does less work.  Printed: ns per packet of the
   session and the two-line / one-line ratio (goal: under 1.10), with and
   without books.  A fourth variant hands line B's copies from A's own
   buffers: the same sequencing work without B's bytes crossing the memory
   bus, which tells the arbitration logic's cost from the memory traffic a
   second line brings.
2. **Recovery time.**  A gap of 1, 100 and 10,000 messages behind line A
   is filled from the simulator's retransmission server running in its own
   process on loopback: time from the gap being seen to the last missing
   message applied (median of runs), through the real path -- requester
   socket read by the UDP source, the recovery policy, the sequencer.
3. **Send-to-book latency.**  The simulator (its own process) publishes at
   a fixed rate on A and B over loopback multicast, stamping every packet's
   send time; the feed reads with the kernel UDP source, books on, event
   ring on.  After each burst the clock is read once; every event of the
   burst gets ``that time - send time of its sequence`` (send to book) and
   ``kernel receive time - send time`` (send to socket).  p50 / p99 / p99.9
   / max, waiting in poll() and spinning (timeout 0).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import latency as latency_mod
from benchmarks.bench_decode import ensure_capture, udp_payloads
from gateway import clock
from gateway._native import ffi, lib
from gateway.book import Books
from gateway.feed import RETRANSMIT_LINE
from gateway.live import Endpoint, UdpSource
from gateway.native import Decoder
from gateway.recovery import Recovery, RecoveryConfig
from protocols import moldudp64 as mold

ROOT = Path(__file__).resolve().parent.parent


# ---- 1. arbitration cost ------------------------------------------------------


class Frames:
    """Payloads in one C buffer and a gw_frame array over them."""

    @classmethod
    def interleaved(cls, a: Frames, b: Frames) -> Frames:
        """A's packet i, then B's packet i, each read from its own line's
        buffers (as from two sockets' or two queues' rings)."""
        fr = cls([], [])
        fr.keep = (a, b)
        fr.n = 2 * a.n
        fr.arr = ffi.new("struct gw_frame[]", fr.n)
        for i in range(a.n):
            for k, src in ((0, a), (1, b)):
                f, g = fr.arr[2 * i + k], src.arr[i]
                f.data, f.len, f.wire_len = g.data, g.len, g.len
                f.rx_ns, f.link, f.line, f.flags = 0, lib.GW_LINK_MOLD, k, 0
        return fr

    def __init__(self, payloads: list[bytes], lines: list[int]) -> None:
        self.keep: tuple[Frames, ...] = ()  # whose buffers the frames point into
        blob = b"".join(payloads)
        self.buf = ffi.new("uint8_t[]", max(1, len(blob)))
        ffi.memmove(self.buf, blob, len(blob))
        self.n = len(payloads)
        self.arr = ffi.new("struct gw_frame[]", self.n)
        off = 0
        for i, (p, line) in enumerate(zip(payloads, lines, strict=True)):
            f = self.arr[i]
            f.data, f.len, f.wire_len = self.buf + off, len(p), len(p)
            f.rx_ns, f.link, f.line, f.flags = 0, lib.GW_LINK_MOLD, line, 0
            off += len(p)


def books_for(symbols: int) -> Books:
    return Books(max_instruments=symbols + 64, max_orders=262_144, max_levels=65_536,
                 event_capacity=0)


def run_frames(frames: Frames, hold: bool, books: Books | None) -> tuple[float, int, int]:
    dec = Decoder(books=books, hold=hold, join_gap=10_000)
    h = dec.handle
    t0 = time.perf_counter()
    for i in range(0, frames.n, 256):
        lib.gw_decoder_frames(h, frames.arr + i, min(256, frames.n - i))
    secs = time.perf_counter() - t0
    st = lib.gw_decoder_stats(h)
    return secs, int(st.messages), int(st.digest)


def arbitration(payloads: list[bytes], symbols: int, runs: int) -> None:
    one = Frames(payloads, [0] * len(payloads))
    # B: a copy of A's packets in its own buffers.  "B in A's buffers":
    # the same sequencing work without B's bytes crossing the memory bus.
    two = Frames.interleaved(one, Frames(payloads, [1] * len(payloads)))
    shared = Frames.interleaved(one, one)
    packets = len(payloads)
    print(f"\n1. arbitration: {packets:,} packets of the session, "
          f"{runs} runs each, median; ns per packet of the session")
    for with_books in (True, False):
        variants: list[tuple[str, Frames, bool]] = [
            ("one line, replay sequencer", one, False),
            ("one line, hold mode", one, True),
            ("two lines A+B, hold mode", two, True),
            ("two lines, B in A's buffers", shared, True),
        ]
        times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
        seen: set[tuple[int, int]] = set()
        for _ in range(runs):  # contenders take turns, run by run
            for name, fr, hold in variants:
                secs, msgs, digest = run_frames(fr, hold, books_for(symbols) if with_books else None)
                times[name].append(secs)
                seen.add((msgs, digest))
        if len(seen) != 1:
            raise SystemExit(f"variants disagree on (messages, digest): {sorted(seen)}")
        ((msgs, _),) = seen
        label = "with books" if with_books else "sequencing and decode only (no books)"
        print(f"  {label}: every variant applied {msgs:,} messages, same digest")
        base = statistics.median(times["one line, replay sequencer"])
        single = statistics.median(times["one line, hold mode"])
        for name, _, _ in variants:
            med = statistics.median(times[name])
            print(f"    {name:<30} {med * 1e9 / packets:9.1f} ns/packet  "
                  f"{med * 1e9 / msgs:7.1f} ns/message  x{med / base:.3f} of replay")
        dual = statistics.median(times["two lines A+B, hold mode"])
        logic = statistics.median(times["two lines, B in A's buffers"])
        print(f"    ratio two lines / one line (hold mode): {dual / single:.3f} (goal < 1.10); "
              f"the arbitration logic alone: {logic / single:.3f}")


# ---- 2. recovery time -----------------------------------------------------------


def start_server(capture: Path) -> tuple[subprocess.Popen[bytes], tuple[str, int]]:
    """The simulator's retransmission server in its own process."""
    code = (
        "import sys, time\n"
        "from gateway.sim.messages import MessageStore\n"
        "from gateway.sim.retransmit import RetransmitServer\n"
        "store = MessageStore.from_capture(sys.argv[1])\n"
        "srv = RetransmitServer(store, ('127.0.0.1', 0), max_per_request=65534)\n"
        "srv.start()\n"
        "print(srv.address[1], flush=True)\n"
        "sys.stdin.read()\n"
        "srv.stop()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(capture)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, ("127.0.0.1", port)


def recovery_once(payloads: list[bytes], gap: int, server: tuple[str, int],
                  symbols: int) -> float:
    """Seconds from seeing a gap of ``gap`` messages to its last message applied."""
    cnt = mold.HEADER.field("message_count")
    first_seq = mold.HEADER.field("sequence_number")
    # Messages [start, start + gap) lost: drop the packets that carry them
    # and send the partial packet's survivors as packets of their own.
    start = 20_001
    keep, seq = [], 1
    for p in payloads:
        n = int.from_bytes(p[cnt.offset : cnt.offset + cnt.size], "big")
        s = int.from_bytes(p[first_seq.offset : first_seq.offset + first_seq.size], "big")
        if n in (mold.HEARTBEAT_COUNT, mold.END_OF_SESSION_COUNT):
            continue
        seq = s + n
        if s + n <= start or s >= start + gap:
            keep.append(p)
        else:
            pkt = mold.decode_packet(p)
            for k, m in enumerate(pkt.messages):
                q = s + k
                if not start <= q < start + gap:
                    keep.append(mold.encode_packet(pkt.session, q, [m]))
        if seq > start + gap + 100:
            break
    names_upto = seq
    books = books_for(symbols)
    dec = Decoder(books=books, hold=True, join_gap=10_000)
    req = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    req.connect(server)
    src = UdpSource([], fds=[(req.fileno(), RETRANSMIT_LINE)], timeout_ms=1)
    policy = Recovery(RecoveryConfig(grace_ns=0, max_per_request=65534, timeout_ns=200_000_000))
    frames = Frames(keep, [0] * len(keep))
    h = dec.handle
    # Up to the gap: not timed.  The clock starts as the packet that
    # reveals the gap arrives, followed by about 100 messages behind it.
    before = next(i for i, p in enumerate(keep)
                  if int.from_bytes(p[first_seq.offset : first_seq.offset + 8], "big") >= start)
    lib.gw_decoder_frames(h, frames.arr, before)
    t0 = clock.realtime_ns()
    for i in range(before, frames.n):
        frames.arr[i].rx_ns = t0
    for i in range(before, frames.n, 256):
        lib.gw_decoder_frames(h, frames.arr + i, min(256, frames.n - i))
    names = dec.session_names()
    while True:
        missing = dec.missing()
        if not missing:
            break
        d = policy.plan(missing, names, clock.realtime_ns())
        for _s, packet in d.requests:
            req.send(packet)
        if d.give_up:
            raise SystemExit(f"gap of {gap}: the policy gave up ({policy.stats})")
        lib.gw_decoder_pump(h, src.handle, dec.frame_buffer, 256)
        if clock.realtime_ns() - t0 > 10e9:
            raise SystemExit(f"gap of {gap} not recovered in 10 s")
    secs = (clock.realtime_ns() - t0) / 1e9
    if dec.stats().messages != names_upto - 1:
        raise SystemExit(f"recovery applied {dec.stats().messages:,}, expected {names_upto - 1:,}")
    src.close()
    req.close()
    return secs


def recovery(capture: Path, payloads: list[bytes], symbols: int, runs: int) -> None:
    proc, server = start_server(capture)
    try:
        print(f"\n2. recovery from the simulator's retransmission server (its own process, "
              f"loopback), median of {runs}; time from the gap seen to its last message applied")
        for gap in (1, 100, 10_000):
            t = [recovery_once(payloads, gap, server, symbols) for _ in range(runs)]
            med = statistics.median(t)
            print(f"    gap {gap:>6,} messages: {med * 1e3:8.2f} ms  "
                  f"({med * 1e9 / gap:,.0f} ns per message recovered; min {min(t) * 1e3:.2f} ms)")
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


# ---- 3. latency -----------------------------------------------------------------


def latency(rate: int, seconds: float, spin: bool) -> dict[str, Any]:
    from gateway.sim.stamps import read_stamps

    base = 34_000 + os.getpid() % 1000
    a, b = ("239.255.61.1", base), ("239.255.61.2", base + 1)
    books = Books(max_instruments=2048, max_orders=262_144, max_levels=65_536,
                  event_capacity=1 << 20)
    dec = Decoder(books=books, hold=True, join_gap=10_000_000)
    src = UdpSource([Endpoint(*a, line=0), Endpoint(*b, line=1)], interface="lo",
                    timeout_ms=0 if spin else 5, rcvbuf=16 << 20)
    with tempfile.TemporaryDirectory() as tmp:
        stamps = Path(tmp) / "stamps.bin"
        n_msgs = int(rate * seconds)
        pub = subprocess.Popen(
            [sys.executable, "-m", "gateway", "sim", "publish", "--synth", str(n_msgs),
             "--symbols", "200", "--group", f"{a[0]}:{a[1]}", "--line-b", f"{b[0]}:{b[1]}",
             "--speed", str(rate), "--stamps", str(stamps)],
            cwd=ROOT, stdout=subprocess.DEVNULL)
        seq, book_t, rx_t = latency_mod.record(dec, books, src, seconds + 30)
        pub.wait(60)
        to_book, to_rx = latency_mod.match(read_stamps(stamps), seq, book_t, rx_t)
        drops = src.info().kernel_drops
        src.close()
    return {"events": len(to_book), "book": to_book, "rx": to_rx, "drops": drops,
            "messages": dec.stats().messages}


def latencies(capture: Path, rate: int, seconds: float) -> None:
    print(f"\n3. send-to-book latency, kernel UDP source on loopback, A and B lines, "
          f"{rate:,} messages/s for {seconds:g} s (simulator in its own process)")
    for spin in (False, True):
        r = latency(rate, seconds, spin)
        mode = "spinning (timeout 0)" if spin else "waiting in poll()"
        print(f"  {mode}: {r['messages']:,} messages, {r['events']:,} book events timed, "
              f"kernel drops {r['drops']}")
        print(f"    send -> socket (kernel rx stamp)  {latency_mod.pct(r['rx'])}")
        print(f"    send -> book (after the burst)    {latency_mod.pct(r['book'])}")


# ---- main -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=5_000_000)
    p.add_argument("--symbols", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--rate", type=int, default=200_000, help="latency: messages per second")
    p.add_argument("--seconds", type=float, default=3.0, help="latency: how long")
    p.add_argument("--quick", action="store_true", help="smoke run: small and short")
    p.add_argument("--only", default="1,2,3", help="which parts, comma separated")
    a = p.parse_args(argv)
    if a.quick:
        a.messages, a.symbols, a.runs, a.rate, a.seconds = 200_000, 50, 1, 50_000, 0.5
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    parts = set(a.only.split(","))
    capture = ensure_capture(ROOT / "bench-data" / f"synth-{a.messages}-{a.symbols}-{a.seed}.pcap",
                             a.messages, a.symbols, a.seed)
    payloads = udp_payloads(capture)
    print(f"session    {capture} ({a.messages:,} messages, {a.symbols} symbols, "
          f"{len(payloads):,} packets)")
    steps: dict[str, Callable[[], None]] = {
        "1": lambda: arbitration(payloads, a.symbols, a.runs),
        "2": lambda: recovery(capture, payloads, a.symbols, max(3, a.runs)),
        "3": lambda: latencies(capture, a.rate, a.seconds),
    }
    for key in ("1", "2", "3"):
        if key in parts:
            steps[key]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
