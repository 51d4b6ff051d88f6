"""Order books: capture file to decoded ITCH 5.0 messages to every instrument's book.

    python -m benchmarks.bench_book [--messages 5000000] [--symbols 1000] [--runs 3]
                                    [--peer-runs 1] [--quick] [--contenders LIST]

What is measured: the time from an input that is ready to be read to the
final order-by-order book of every instrument, on one synthetic NASDAQ-like
session (``gateway capture synth``, cached under ``bench-data/``; by default
5 million messages over 1,000 symbols).  Contenders, each in a process of its
own so that its peak memory is its own:

* gateway: the C book attached to the C decoder, event ring off
  (``Books(..., event_capacity=0)``, ``Decoder(books=books).run(Source(pcap))``);
  it reads the **pcap** and does the whole receive path -- Ethernet/IPv4/UDP,
  MoldUDP64 framing and sequencing, ITCH decoding -- then applies every
  A F E C X D U to the books; final BBO from ``books.snapshot(levels=1)``.
* itch-book (core Session): the ``itch-book`` package's C++ session
  (``itch_book._core.Session``, the engine under its public ``Feed``),
  configured for the least work that still yields final books: the only
  table on is ``bbo`` (one row per top-of-book change; the package has no
  Python call that reads a book's state directly), drained every 8 MiB and reduced
  to the last row per locate; no trades, messages or depth tables.  Its input
  is the same session as a **BinaryFILE** (``write_synth(fmt="binaryfile")``,
  cached beside the pcap as ``.itch``),
  read into memory before the clock starts, fed in 8 MiB chunks as ``Feed``
  does.  So it skips the network framing and MoldUDP64 the gateway does.
* itch-book (Feed API): the same through the package's public face,
  ``itch_book.open(binaryfile, price_type="fixed").batches(tables=("bbo",
  "symbols"))``: the file read on its reader thread, the numpy post-processing
  of each batch.  What a user of the package writes.
* dict book: :mod:`benchmarks.dict_book`, a deliberately simple pure-Python
  order-by-order book in dicts.  The message blocks are pre-extracted from
  the pcap into one length-prefixed buffer **before** the clock starts, so it
  does no framing at all.

Every timed run starts from nothing (new books) and ends with the final best
bid and offer per symbol in hand, so building the structures and reading the
result are inside the time for everyone.  Every contender reports its
message count and its final BBO per symbol, ``(bid price, bid shares, ask
price, ask shares)``, an empty side as ``None``/0 (a symbol a contender
does not mention is taken as empty on both sides); the gateway's are the
reference, all must agree or the exit status is 1 -- so no contender can
time less work than the others.  Times are medians of ``--runs`` runs
(gateway and itch-book) and ``--peer-runs`` runs (the dict book, which is
slow); ns/message is the median time over the message count.  Each run
is its own process and the contenders take turns, run by run: this
machine's speed drifts over minutes, and blocks of runs back to back
would each meet a different machine.

Memory, per contender process: its resident set when the input was ready
(interpreter, libraries and, for the in-memory inputs, the input itself),
and its peak resident set over the timed runs -- the high-water mark is
restarted when the input is ready (``/proc/self/clear_refs``), so preparing
the input is not counted, and read from ``VmHWM``.  ``ru_maxrss`` is only the
fallback off Linux: on Linux a child's ``ru_maxrss`` is at least its parent's
peak at the time of the spawn (exec carries it over), which would charge the
capture generation to every contender.  The gateway's peak includes the
pages of the capture it maps (file-backed).

Why this is fair to the peers: they get the same session, already framed as
ITCH messages (no Ethernet, IP, UDP or MoldUDP64 to walk, no sequencing),
and the C++ one is set to its cheapest configuration that still gives the
final books; the agreement check proves that every contender did all the
book work.  What favours the gateway is only what it is built for: no
Python per message, and the final BBO read straight from the books.

This is documentation, not a pass/fail test (``--quick`` is a smoke run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.bench_decode import ensure_capture, udp_payloads
from benchmarks.dict_book import BBO, EMPTY, DictBook
from gateway import clock
from protocols import moldudp64

ROOT = Path(__file__).resolve().parent.parent
MODULE = "benchmarks.bench_book"
#: The synthetic session's date (capture times are midnight US/Eastern of it).
SESSION_DATE = dt.date(2026, 11, 20)
#: itch-book's own default chunk (``Feed(chunk_bytes=8 << 20)``).
ITCH_BOOK_CHUNK = 8 << 20
#: Smallest ITCH frame (itch-book's ``SMALLEST_FRAME``): at most one bbo row per 21 bytes.
SMALLEST_FRAME = 21

CONTENDERS = ("gateway", "itch-book", "itch-book-feed", "dict")
LABELS = {
    "gateway": "gateway (C book)",
    "itch-book": "itch-book (core Session)",
    "itch-book-feed": "itch-book (Feed API)",
    "dict": "dict book (pure Python)",
}
INPUTS = {
    "gateway": "pcap file (mmap): Ethernet/IPv4/UDP, MoldUDP64, ITCH, book; events off",
    "itch-book": "BinaryFILE bytes in memory (read before timing), fed in 8 MiB chunks; "
                 "bbo table only, reduced to the last row per locate",
    "itch-book-feed": "BinaryFILE path (its reader thread); tables bbo + symbols, "
                      "price_type=fixed",
    "dict": "message blocks pre-extracted from the pcap into one buffer (not timed)",
}

BBOMap = dict[str, BBO]
#: One timed run: message count, final BBO per symbol, a line of the contender's own counters.
Work = Callable[[], tuple[int, BBOMap, str]]


# ---- inputs ------------------------------------------------------------------


def ensure_binaryfile(path: Path, messages: int, symbols: int, seed: int) -> Path:
    """The same session as ``ensure_capture`` writes, as a plain BinaryFILE."""
    return ensure_capture(path, messages, symbols, seed, fmt="binaryfile")


def message_blocks(pcap: Path) -> bytearray:
    """Every ITCH message of a MoldUDP64 pcap, each behind its 2-byte length
    (the MoldUDP64 message blocks, concatenated: BinaryFILE framing)."""
    cnt = moldudp64.HEADER.field("message_count")
    payloads = udp_payloads(pcap)
    blob = bytearray()
    for i, p in enumerate(payloads):
        count = int.from_bytes(p[cnt.offset : cnt.offset + cnt.size], "big")
        if count not in (moldudp64.HEARTBEAT_COUNT, moldudp64.END_OF_SESSION_COUNT):
            blob += memoryview(p)[moldudp64.HEADER_SIZE :]
        payloads[i] = b""  # one copy of the messages at a time
    return blob


def symbol_name(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    return raw.rstrip(" ").rstrip("\0")


# ---- contenders (each runs in its own process) ----------------------------------


def gateway_work(pcap: Path, a: argparse.Namespace) -> Work:
    from gateway.book import Books
    from gateway.native import Decoder, Source

    def run() -> tuple[int, BBOMap, str]:
        books = Books(max_instruments=a.max_instruments or a.symbols + 64,
                      max_orders=a.max_orders, max_levels=a.max_levels, event_capacity=0)
        dec = Decoder(books=books)
        with Source(pcap) as src:
            dec.run(src)
        snap = books.snapshot(levels=1)
        out: BBOMap = {}
        for sym, b in snap["books"].items():
            bids, asks = b["bids"], b["asks"]
            out[symbol_name(sym)] = (
                int(bids[0][0]) if bids else None, int(bids[0][1]) if bids else 0,
                int(asks[0][0]) if asks else None, int(asks[0][1]) if asks else 0,
            )
        st = snap.get("stats", {})
        keys = ("books", "peak_orders", "peak_levels", "stale_books", "crossed_books", "bytes")
        notes = ", ".join(f"{k} {st[k]:,}" for k in keys if k in st)
        if "integrity" in st:
            notes += "; integrity " + (
                ", ".join(f"{k} {v:,}" for k, v in st["integrity"].items() if v) or "clean")
        return dec.stats().messages, out, notes

    return run


def _last_rows(cols: dict[str, Any], last: dict[int, BBO]) -> None:
    """Fold a drained itch-book bbo table into the last row per locate."""
    import numpy as np

    loc = cols["locate"]
    if not len(loc):
        return
    uniq, first_in_reversed = np.unique(loc[::-1], return_index=True)
    idx = len(loc) - 1 - first_in_reversed
    bp, bs = cols["bid_px"][idx].tolist(), cols["bid_sz"][idx].tolist()
    ap, asz = cols["ask_px"][idx].tolist(), cols["ask_sz"][idx].tolist()
    for j, locate in enumerate(uniq.tolist()):
        # itch-book: a missing price is 0 (price_type="fixed")
        last[locate] = (bp[j] or None, bs[j], ap[j] or None, asz[j])


def _by_symbol(last: dict[int, BBO], symbols: dict[int, str]) -> BBOMap:
    out = {name: EMPTY for name in symbols.values()}
    for locate, bbo in last.items():
        out[symbols.get(locate, f"#{locate}")] = bbo
    return out


def itch_book_work(binfile: Path) -> Work:
    import numpy as np
    from itch_book._core import Session

    data = np.frombuffer(binfile.read_bytes(), np.uint8)

    def run() -> tuple[int, BBOMap, str]:
        session = Session(tables=["bbo"], depth=0, symbols=[])
        session.reserve(ITCH_BOOK_CHUNK // SMALLEST_FRAME + 1)
        last: dict[int, BBO] = {}
        for i in range(0, len(data), ITCH_BOOK_CHUNK):
            session.feed(data[i : i + ITCH_BOOK_CHUNK])
            _last_rows(session.take_bbo(), last)
        symbols = {int(r[0]): symbol_name(r[1]) for r in session.take_symbols()}
        st = session.stats()
        return int(st["messages"]), _by_symbol(last, symbols), itch_book_notes(st)

    return run


def itch_book_feed_work(binfile: Path) -> Work:
    import itch_book

    def run() -> tuple[int, BBOMap, str]:
        feed = itch_book.open(str(binfile), date=SESSION_DATE, price_type="fixed")
        last: dict[int, BBO] = {}
        symbols: dict[int, str] = {}
        for batch in feed.batches(tables=("bbo", "symbols")):
            _last_rows(batch.bbo, last)
            t = batch.symbols
            symbols.update(zip(t["locate"], map(symbol_name, t["symbol"]), strict=True))
        st = feed.stats
        assert st is not None
        return int(st["messages"]), _by_symbol(last, symbols), itch_book_notes(st)

    return run


def dict_work(pcap: Path) -> Work:
    blob = message_blocks(pcap)

    def run() -> tuple[int, BBOMap, str]:
        book = DictBook()
        book.feed_binaryfile(blob)
        levels = sum(len(side) for side in book.levels.values())
        return book.messages, book.bbo(), f"live orders {len(book.orders):,}, levels {levels:,}"

    return run


def itch_book_notes(st: dict[str, Any]) -> str:
    keys = ("books", "live_orders", "missing_ref", "dup_ref", "rejected", "clamped",
            "crossed_books", "unknown", "malformed")
    return ", ".join(f"{k} {st[k]:,}" for k in keys if k in st)


def itch_book_version() -> str:
    try:
        return metadata.version("itch-book")
    except metadata.PackageNotFoundError:
        return "not installed"


def _status_kib(key: str) -> int:
    """A ``Vm*`` line of /proc/self/status (Linux), in KiB; 0 where there is none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def reset_peak() -> bool:
    """Restart the high-water mark of the resident set at its current size
    (Linux >= 4.0), so that preparing the input is not counted as work."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_kib() -> tuple[int, str]:
    """This process's peak resident set and where it was read.

    ``VmHWM`` is the high-water mark of this process's own memory.
    ``ru_maxrss`` is the fallback off Linux; on Linux it is also at least the
    spawning parent's peak, which exec carries over (a parent that had just
    generated a capture would be charged to every contender).
    """
    hwm = _status_kib("VmHWM")
    if hwm:
        return hwm, "VmHWM"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"


def contender_main(a: argparse.Namespace) -> int:
    """The child: prepare the input (not timed), run, write the result as JSON."""
    name = a.contender
    out: dict[str, Any] = {"name": name}
    try:
        if name == "gateway":
            work = gateway_work(a.pcap, a)
        elif name == "itch-book":
            work = itch_book_work(a.binfile)
        elif name == "itch-book-feed":
            work = itch_book_feed_work(a.binfile)
        elif name == "dict":
            work = dict_work(a.pcap)
        else:
            raise SystemExit(f"unknown contender {name!r}")
    except ImportError as e:
        out["error"] = f"unavailable: {e}"
        a.result.write_text(json.dumps(out))
        return 0
    out["rss_ready_kib"] = _status_kib("VmRSS")
    out["peak_reset"] = reset_peak()
    seconds: list[float] = []
    messages, bbo, notes = 0, BBOMap(), ""
    for _ in range(a.runs):
        t0 = clock.monotonic_ns()
        messages, bbo, notes = work()
        seconds.append((clock.monotonic_ns() - t0) / 1e9)
    out.update(
        messages=messages,
        bbo={k: list(v) for k, v in bbo.items()},
        seconds=seconds,
        notes=notes,
    )
    out["maxrss_kib"], out["peak_source"] = peak_kib()
    a.result.write_text(json.dumps(out))
    return 0



# ---- the parent: inputs, one child per contender, the report ---------------------


@dataclass
class Outcome:
    name: str
    error: str = ""
    messages: int = 0
    bbo: BBOMap = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    notes: str = ""
    rss_ready_kib: int = 0
    maxrss_kib: int = 0
    peak_source: str = ""
    peak_reset: bool = False

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.messages / self.median

    @property
    def ns_per_message(self) -> float:
        return self.median * 1e9 / max(self.messages, 1)


def run_contender(name: str, runs: int, pcap: Path, binfile: Path,
                  a: argparse.Namespace) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="bench_book-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [
            sys.executable, "-m", MODULE, "--contender", name, "--result", str(result),
            "--pcap", str(pcap), "--binfile", str(binfile), "--runs", str(runs),
            "--symbols", str(a.symbols), "--max-instruments", str(a.max_instruments),
            "--max-orders", str(a.max_orders), "--max-levels", str(a.max_levels),
        ]
        print(f"running {LABELS[name]} ({runs} run{'s' * (runs != 1)}) ...", file=sys.stderr)
        proc = subprocess.run(cmd, cwd=ROOT, check=False)
        if proc.returncode != 0 or not result.exists():
            return Outcome(name, error=f"failed (exit status {proc.returncode}; see above)")
        raw = json.loads(result.read_text())
    if raw.get("error"):
        return Outcome(name, error=raw["error"])
    return Outcome(
        name=name,
        messages=raw["messages"],
        bbo={k: (v[0], v[1], v[2], v[3]) for k, v in raw["bbo"].items()},
        seconds=raw["seconds"],
        notes=raw["notes"],
        rss_ready_kib=raw["rss_ready_kib"],
        maxrss_kib=raw["maxrss_kib"],
        peak_source=raw["peak_source"],
        peak_reset=raw["peak_reset"],
    )


def disagreements(ref: Outcome, other: Outcome) -> list[str]:
    """What ``other`` reports differently from ``ref``, one line each."""
    out: list[str] = []
    if other.messages != ref.messages:
        out.append(f"messages: {other.messages:,} where {LABELS[ref.name]} has {ref.messages:,}")
    for sym in sorted(set(ref.bbo) | set(other.bbo)):
        mine, theirs = other.bbo.get(sym, EMPTY), ref.bbo.get(sym, EMPTY)
        if mine != theirs:
            out.append(f"{sym}: {fmt_bbo(mine)} where {LABELS[ref.name]} has {fmt_bbo(theirs)}")
    return out


def fmt_bbo(b: BBO) -> str:
    bid = "-" if b[0] is None else f"{b[1]:,} @ {b[0] / 10_000:.4f}"
    ask = "-" if b[2] is None else f"{b[3]:,} @ {b[2] / 10_000:.4f}"
    return f"bid {bid} / ask {ask}"


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f}" if kib >= 0 else "?"


def report(outcomes: Sequence[Outcome], a: argparse.Namespace, pcap: Path,
           binfile: Path) -> int:
    print(f"capture     {pcap} ({pcap.stat().st_size:,} bytes): synthetic session, "
          f"{a.messages:,} messages, {a.symbols:,} symbols, seed {a.seed}")
    print(f"binaryfile  {binfile} ({binfile.stat().st_size:,} bytes): the same session")
    print(f"itch-book   {itch_book_version()}")
    print(f"gateway     books sized max_instruments {a.max_instruments or a.symbols + 64:,}, "
          f"max_orders {a.max_orders:,}, max_levels {a.max_levels:,}; event ring off")
    print(f"cpu         {os.cpu_count()} cores; medians of {a.runs} (gateway, itch-book) / "
          f"{a.peer_runs} (dict book) runs; each run in its own process, contenders taking turns")
    if a.quick:
        print("quick       smoke run: a small session, one run each; not the figure of record")
    print()
    ok = [o for o in outcomes if not o.error]
    gw = next((o for o in ok if o.name == "gateway"), None)
    print(f"{'contender':<26}{'messages':>12}{'median s':>10}{'M msg/s':>9}{'ns/msg':>9}"
          f"{'gateway x':>11}{'ready MiB':>11}{'peak MiB':>10}{'added MiB':>11}")
    for o in outcomes:
        if o.error:
            print(f"{LABELS[o.name]:<26}  {o.error}")
            continue
        ratio = f"{gw.rate / o.rate:>10.1f}x" if gw else f"{'-':>11}"
        print(f"{LABELS[o.name]:<26}{o.messages:>12,}{o.median:>10.3f}{o.rate / 1e6:>9.2f}"
              f"{o.ns_per_message:>9.1f}{ratio}{mib(o.rss_ready_kib):>11}"
              f"{mib(o.maxrss_kib):>10}{mib(max(o.maxrss_kib - o.rss_ready_kib, 0)):>11}")
    print()
    print("inputs (the clock starts once the input is ready; it stops with the final BBO"
          " of every symbol in hand):")
    for o in outcomes:
        print(f"  {LABELS[o.name]:<26}{INPUTS[o.name]}")
    sources = sorted({o.peak_source for o in ok})
    reset = all(o.peak_reset for o in ok)
    print("memory: ready MiB = the contender's resident set when its input was ready "
          "(interpreter, libraries, an in-memory input);")
    print(f"  peak MiB = its peak resident set ({', '.join(sources) or '-'}"
          + (", restarted when the input was ready, so preparing the input is not counted"
             if reset else ", whole process") + "); added MiB = peak - ready.")
    print("  The gateway's peak includes the pages of the capture it maps (file-backed).")
    print("own counters at the end of the last run:")
    for o in outcomes:
        if not o.error:
            print(f"  {LABELS[o.name]:<26}{o.notes}")
    if gw:
        print()
        for o in ok:
            if o is not gw:
                print(f"ratio       gateway / {LABELS[o.name]}: {gw.rate / o.rate:.2f}x the "
                      f"messages per second ({gw.ns_per_message:.1f} vs "
                      f"{o.ns_per_message:.1f} ns per message)")

    status = 0
    print()
    failed = [o for o in outcomes if o.error]
    if failed:
        print("not run: " + ", ".join(f"{LABELS[o.name]} ({o.error})" for o in failed))
        status = 1
    if not ok:
        return 1
    ref = gw or ok[0]
    nonempty = sum(1 for b in ref.bbo.values() if b != EMPTY)
    agree = True
    for o in ok:
        if o is ref:
            continue
        diff = disagreements(ref, o)
        if diff:
            agree = False
            print(f"MISMATCH {LABELS[o.name]} vs {LABELS[ref.name]}: {len(diff):,} differences")
            for line in diff[: a.show]:
                print(f"  {line}")
    if agree:
        print(f"all {len(ok)} contenders agree: {ref.messages:,} messages, final BBO of "
              f"{len(ref.bbo):,} symbols ({nonempty:,} with orders) identical")
    return status if agree else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5_000_000)
    ap.add_argument("--symbols", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3, help="runs of the gateway and of itch-book")
    ap.add_argument("--peer-runs", type=int, default=1,
                    help="runs of the dict book (pure Python: slow)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 200,000 messages, 50 symbols, one run each")
    ap.add_argument("--contenders", default=",".join(CONTENDERS),
                    help=f"which to run, comma separated (default: all of {','.join(CONTENDERS)})")
    ap.add_argument("--show", type=int, default=5, help="mismatches shown per contender")
    ap.add_argument("--max-instruments", type=int, default=0,
                    help="gateway books (default: symbols + 64)")
    # The pools are sized once, at open; the default 5M session peaks near 18,300
    # live orders and 8,800 live levels.  A pool that runs out marks books stale
    # and the BBO check fails, so a too-small pool cannot go unnoticed.
    ap.add_argument("--max-orders", type=int, default=1 << 18,
                    help="gateway live-order pool, all books (default: %(default)s)")
    ap.add_argument("--max-levels", type=int, default=1 << 16,
                    help="gateway live-level pool, all books (default: %(default)s)")
    # the child side (hidden)
    ap.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--pcap", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--binfile", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.quick:
        a.messages, a.symbols, a.runs, a.peer_runs = 200_000, 50, 1, 1
    names = [n.strip() for n in a.contenders.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown or not names:
        ap.error(f"--contenders: unknown {','.join(unknown) or '(none given)'}; "
                 f"allowed: {','.join(CONTENDERS)}")
    a.names = names
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.contender:
        return contender_main(a)
    stem = f"synth-{a.messages}-{a.symbols}-{a.seed}"
    pcap = ensure_capture(ROOT / "bench-data" / f"{stem}.pcap", a.messages, a.symbols, a.seed)
    binfile = ROOT / "bench-data" / f"{stem}.itch"
    if any(n.startswith("itch-book") for n in a.names):
        ensure_binaryfile(binfile, a.messages, a.symbols, a.seed)
    # Round robin, one run per child: this machine's speed drifts over
    # minutes, and contenders run back to back in blocks would each get a
    # different machine.
    rounds = {n: a.peer_runs if n == "dict" else a.runs for n in a.names}
    merged: dict[str, Outcome] = {}
    for r in range(max(rounds.values())):
        for n in a.names:
            if r < rounds[n] and not merged.get(n, Outcome(n)).error:
                merged[n] = merge(merged.get(n), run_contender(n, 1, pcap, binfile, a))
    return report([merged[n] for n in a.names], a, pcap, binfile)


def merge(acc: Outcome | None, new: Outcome) -> Outcome:
    """One contender's rounds as one outcome: every run's time, the largest
    peak, and a round that disagrees with an earlier one is an error."""
    if acc is None or new.error:
        return new
    if (new.messages, new.bbo) != (acc.messages, acc.bbo):
        acc.error = "runs disagree with each other (message count or final BBO)"
        return acc
    acc.seconds += new.seconds
    acc.maxrss_kib = max(acc.maxrss_kib, new.maxrss_kib)
    acc.rss_ready_kib = max(acc.rss_ready_kib, new.rss_ready_kib)
    acc.notes = new.notes
    return acc


if __name__ == "__main__":
    raise SystemExit(main())
