"""FIX parse and encode: the gateway's C scanner and template encoder
against simplefix and (when installed) quickfix, on the same messages.

    python -m benchmarks.bench_fix [--messages 200000]

Parse: NewOrderSingle messages back to back in one buffer.  The gateway
frames them (BodyLength and CheckSum verified) and indexes every field in
batches; simplefix's parser is fed the same bytes in 64 KiB reads (it
indexes every field but verifies neither BodyLength nor CheckSum: it does
less work); quickfix gets each message already cut out (it does not frame)
and parses it with its checks.  Encode: the same orders; the gateway fills
its template for the whole batch, simplefix and quickfix build a message
per order.  Every contender's output is checked: message counts, the sum
of MsgSeqNum, and (encode) the messages parsed back field by field.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gateway.fixscan import DictCheck, FixEncoder, FixScanner
from protocols import fix, fixdict

TAGS = [11, 55, 54, 38, 40, 44, 59, 60]
SENDING = "20261122-03:40:00.123"


def orders(n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(7)
    seqs = np.arange(1, n + 1, dtype=np.uint64)
    cols = [
        np.char.add(b"ORD", np.arange(n).astype("S10")).astype("S14"),          # 11 ClOrdID
        rng.choice(np.array([b"AAPL", b"MSFT", b"NVDA", b"AMZN", b"SPY"]), n),  # 55 Symbol
        rng.choice(np.array([b"1", b"2"]), n),                                  # 54 Side
        rng.integers(1, 10_000, n).astype("S6"),                                # 38 OrderQty
        np.full(n, b"2", "S1"),                                                  # 40 OrdType
        np.char.add(rng.integers(10, 999, n).astype("S4"), b".25").astype("S8"),  # 44 Price
        np.full(n, b"0", "S1"),                                                  # 59 TimeInForce
        np.full(n, SENDING.encode(), "S21"),                                     # 60 TransactTime
    ]
    return seqs, cols


def timed(fn: Callable[[], Any], runs: int) -> tuple[Any, list[float]]:
    out, t = None, []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        t.append(time.perf_counter() - t0)
    return out, t


def gateway_parse(blob: bytes) -> tuple[int, int]:
    sc = FixScanner(max_messages=4096, max_fields=4096 * 20)
    view = memoryview(blob)  # batches start where the last one stopped: no copy
    msgs = seqsum = 0
    pos = 0
    while pos < len(blob):
        s = sc.scan(view[pos:])
        if not len(s.messages):
            break
        msgs += len(s.messages)
        seqsum += _uints(blob, pos, s.fields[s.fields["tag"] == 34])
        pos += s.consumed
    return msgs, seqsum


def _uints(blob: bytes, base: int, fields: np.ndarray) -> int:
    """Sum of the decimal values of ``fields``, read from the index in numpy
    (no object per message): digit k of each value, weighted by its place."""
    raw = np.frombuffer(blob, np.uint8)
    off = fields["off"].astype(np.int64) + base
    ln = fields["len"].astype(np.int64)
    total = np.zeros(len(fields), np.int64)
    for k in range(int(ln.max()) if len(ln) else 0):
        live = ln > k
        digit = raw[np.where(live, off + k, 0)].astype(np.int64) - 48
        total = np.where(live, total * 10 + digit, total)
    return int(total.sum())


def simplefix_parse(blob: bytes) -> tuple[int, int]:
    import simplefix

    p = simplefix.FixParser()
    msgs = seqsum = 0
    for i in range(0, len(blob), 4096):  # socket-sized reads (it copies its buffer per message)
        p.append_buffer(blob[i : i + 4096])
        while (m := p.get_message()) is not None:
            msgs += 1
            seqsum += int(m.get(34))
    return msgs, seqsum


def quickfix_parse(cut: list[str]) -> tuple[int, int]:
    import quickfix as qf

    msgs = seqsum = 0
    for text in cut:
        m = qf.Message(text, True)
        msgs += 1
        seqsum += int(m.getHeader().getField(34))
    return msgs, seqsum


def gateway_parse_validated(blob: bytes, d: Any) -> tuple[int, int]:
    """As ``gateway_parse``, and each message run through the dictionary's
    straight path in C in the same batch (no object per field); a message
    it does not pass plainly would go to the Python checks (none here)."""
    sc = FixScanner(max_messages=4096, max_fields=4096 * 20)
    check = DictCheck(d)
    view = memoryview(blob)
    msgs = seqsum = pos = 0
    while pos < len(blob):
        s = sc.scan(view[pos:], check)
        if not len(s.messages):
            break
        assert s.checked is not None
        if not s.checked.all():
            bad = int(np.argmin(s.checked))
            raise SystemExit(f"gateway: message {msgs + bad + 1} not plainly valid")
        msgs += len(s.messages)
        seqsum += _uints(blob, pos, s.fields[s.fields["tag"] == 34])
        pos += s.consumed
    return msgs, seqsum


def quickfix_parse_validated(cut: list[str], dd: Any) -> tuple[int, int]:
    import quickfix as qf

    msgs = seqsum = 0
    for text in cut:
        m = qf.Message(text, dd, True)
        dd.validate(m)
        msgs += 1
        seqsum += int(m.getHeader().getField(34))
    return msgs, seqsum


def gateway_encode(seqs: np.ndarray, cols: list[np.ndarray]) -> bytes:
    enc = FixEncoder("FIX.4.4", "D", "GATEWAY", "EXCHANGE", TAGS)
    blob, _ = enc.encode(seqs, SENDING, cols)
    return blob


def simplefix_encode(seqs: np.ndarray, rows: list[list[bytes]]) -> bytes:
    import simplefix

    out = []
    for seq, row in zip(seqs.tolist(), rows, strict=True):
        m = simplefix.FixMessage()
        m.append_pair(8, "FIX.4.4")
        m.append_pair(35, "D")
        m.append_pair(49, "GATEWAY")
        m.append_pair(56, "EXCHANGE")
        m.append_pair(34, seq)
        m.append_pair(52, SENDING)
        for tag, v in zip(TAGS, row, strict=True):
            m.append_pair(tag, v)
        out.append(m.encode())
    return b"".join(out)


def quickfix_encode(seqs: np.ndarray, rows: list[list[bytes]]) -> bytes:
    import quickfix as qf

    out = []
    for seq, row in zip(seqs.tolist(), rows, strict=True):
        m = qf.Message()
        h = m.getHeader()
        h.setField(qf.BeginString("FIX.4.4"))
        h.setField(qf.MsgType("D"))
        h.setField(qf.SenderCompID("GATEWAY"))
        h.setField(qf.TargetCompID("EXCHANGE"))
        h.setField(qf.MsgSeqNum(seq))
        h.setField(52, SENDING)
        for tag, v in zip(TAGS, row, strict=True):
            m.setField(tag, v.decode())
        out.append(m.toString().encode())
    return b"".join(out)


def parsed_back(blob: bytes) -> list[frozenset[tuple[int, bytes]]]:
    framed, _ = fix.frame(blob)
    return [frozenset((t, v) for t, v in f.fields if t not in (9, 10)) for f in framed]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    if a.quick:
        a.messages, a.runs = 20_000, 1
    try:
        import quickfix  # noqa: F401

        have_qf = True
    except ImportError:
        have_qf = False
    seqs, cols = orders(a.messages)
    rows = [[bytes(c[i]) for c in cols] for i in range(a.messages)]
    blob = gateway_encode(seqs, cols)
    n = a.messages
    want = (n, int(seqs.sum()))
    print(f"messages   {n:,} NewOrderSingle (FIX.4.4), {len(blob) / n:.0f} bytes each; "
          f"medians of {a.runs} runs; quickfix {'installed' if have_qf else 'not installed'}")

    print("\nparse (frame, BodyLength and CheckSum, every field indexed)")
    parse: list[tuple[str, Callable[[], Any]]] = [
        ("gateway (C scanner)", lambda: gateway_parse(blob)),
        ("simplefix (no checks)", lambda: simplefix_parse(blob)),
    ]
    framed, _ = fix.frame(blob)
    cut = [blob[f.off : f.off + f.length].decode() for f in framed]
    if have_qf:
        parse.append(("quickfix (pre-cut)", lambda: quickfix_parse(cut)))
    race(parse, n, a.runs, lambda got: got == want, "(messages, MsgSeqNum sum) differ")

    print("\nparse and validate against the FIX 4.4 data dictionary (the project's FIX44.xml,"
          " loaded by both)")
    d = fixdict.builtin("FIX.4.4")
    checked: list[tuple[str, Callable[[], Any]]] = [
        ("gateway (C scan + C dict)", lambda: gateway_parse_validated(blob, d))]
    if have_qf:
        import quickfix as qf

        dd = qf.DataDictionary(str(Path(fixdict.__file__).parent / "dicts" / "FIX44.xml"))
        checked.append(("quickfix (pre-cut + dict)", lambda: quickfix_parse_validated(cut, dd)))
    race(checked, n, a.runs, lambda got: got == want, "(messages, MsgSeqNum sum) differ")

    print("\nencode (header, BodyLength, CheckSum; the orders above)")
    ref = parsed_back(blob)
    enc: list[tuple[str, Callable[[], Any]]] = [
        ("gateway (C template)", lambda: gateway_encode(seqs, cols)),
        ("simplefix", lambda: simplefix_encode(seqs, rows)),
    ]
    if have_qf:
        enc.append(("quickfix", lambda: quickfix_encode(seqs, rows)))
    race(enc, n, a.runs, lambda out: parsed_back(out) == ref, "encoded messages differ")
    return 0


def race(contenders: list[tuple[str, Callable[[], Any]]], n: int, runs: int,
         agrees: Callable[[Any], bool], why: str) -> None:
    """Time each contender (the gateway first), check its output, print
    rates and the gateway's ratio to each peer."""
    medians: dict[str, float] = {}
    for name, fn in contenders:
        got, t = timed(fn, runs if name.startswith("gateway") else max(1, runs // 2))
        if not agrees(got):
            raise SystemExit(f"{name}: {why} from the expected")
        medians[name] = statistics.median(t)
        print(f"  {name:<24} {n / medians[name] / 1e6:8.2f} M msg/s  "
              f"{medians[name] * 1e9 / n:9.1f} ns/msg")
    gateway = medians[contenders[0][0]]
    for name, m in list(medians.items())[1:]:
        print(f"  gateway / {name}: {m / gateway:.1f}x")


if __name__ == "__main__":
    raise SystemExit(main())
