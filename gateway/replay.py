"""``gateway replay``: run the whole receive path over a capture, at full speed.

The capture is pumped through the C decoder a burst per call (no records
kept, nothing per message in Python); then the counters are gathered into a
report: packets, messages by type, bytes, rate, errors by reason, MoldUDP64
sessions and sequence gaps.  On a terminal a progress line is drawn on
stderr for long files.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import IO, Any

from gateway import clock
from gateway.book import Books, BooksConfig
from gateway.native import (
    BURST,
    Decoder,
    DecoderStats,
    Gap,
    SessionStats,
    Source,
    SourceInfo,
)
from protocols import itch50


@dataclass
class ReplayReport:
    path: str
    source: SourceInfo
    decoder: DecoderStats
    sessions: list[SessionStats]
    gaps: list[Gap]
    elapsed_ns: int
    books: dict[str, Any]

    @property
    def messages_per_second(self) -> float:
        return self.decoder.messages * 1e9 / self.elapsed_ns if self.elapsed_ns else 0.0

    def errors(self) -> dict[str, int]:
        """Every reason counted by the source or the decoder."""
        out = dict(self.source.reasons)
        for k, v in self.decoder.reasons.items():
            out[k] = out.get(k, 0) + v
        return out

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["messages_per_second"] = round(self.messages_per_second)
        d["errors"] = self.errors()
        return d


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, stream: IO[str], enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled and stream.isatty()
        self.last = 0

    def update(self, now_ns: int, done: int, total: int, messages: int) -> None:
        if not self.enabled or now_ns - self.last < 200_000_000:
            return
        self.last = now_ns
        frac = done / total if total else 0.0
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r[{bar:<30}] {frac:6.1%} {messages:,} messages")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self.last:
            self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()


def replay(
    path: str,
    filter: str | None = None,
    verify_checksums: bool = False,
    burst: int = BURST,
    progress: bool = True,
    books: Books | None = None,
) -> ReplayReport:
    """Decode ``path`` and build its books (``books``, or default-sized ones)."""
    if books is None:
        books = Books(BooksConfig(event_capacity=0))
    with Source(path, filter=filter) as src:
        dec = Decoder(verify_checksums=verify_checksums, books=books)
        bar = Progress(sys.stderr, progress)
        t0 = clock.monotonic_ns()
        bursts = 0
        while dec.pump(src, burst):
            bursts += 1
            if bar.enabled and bursts % 64 == 0:
                info = src.info()
                bar.update(clock.monotonic_ns(), info.bytes_read, info.bytes_total,
                           dec.stats().messages)
        elapsed = clock.monotonic_ns() - t0
        bar.finish()
        return ReplayReport(
            path=path,
            source=src.info(),
            decoder=dec.stats(),
            sessions=dec.sessions(),
            gaps=dec.gaps(),
            elapsed_ns=elapsed,
            books=books.stats(),
        )


def _n(x: int) -> str:
    return f"{x:,}"


def format_report(r: ReplayReport, max_gaps: int = 20) -> str:
    st, src = r.decoder, r.source
    secs = r.elapsed_ns / 1e9
    lines = [
        f"input      {r.path} ({src.kind}, {_n(src.bytes_read)} bytes read)",
        f"frames     {_n(st.frames)} ({_n(st.frame_bytes)} bytes)   udp {_n(st.udp_packets)}   "
        f"moldudp64 {_n(st.mold_packets)}   heartbeats {_n(st.heartbeats)}   "
        f"end-of-session {_n(st.end_of_session)}",
        f"messages   {_n(st.messages)} ({_n(st.message_bytes)} bytes)"
        + (f"   {st.messages / st.mold_packets:.1f} per packet" if st.mold_packets else ""),
        f"speed      {secs:.3f} s   {r.messages_per_second / 1e6:.2f} M messages/s"
        + (f"   {st.frames / secs / 1e6:.2f} M frames/s" if secs else ""),
    ]
    if st.by_type:
        names = {c.decode(): m.name for c, m in itch50.MESSAGES.items()}
        lines.append("by type")
        for t, c in sorted(st.by_type.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {t}  {names.get(t, '?'):<36} {_n(c):>14}")
    errs = r.errors()
    lines.append("errors     " + ("none" if not errs else ""))
    for k, v in sorted(errs.items()):
        lines.append(f"  {k:<28} {_n(v):>14}")
    if src.error:
        lines.append(f"  source says: {src.error}")
    if r.sessions:
        lines.append("sessions")
        for s in r.sessions:
            last = s.next_seq - 1
            lines.append(
                f"  {s.name:<10}  seq {_n(s.first_seq)}..{_n(last)}   packets {_n(s.packets)}   "
                f"messages {_n(s.messages)}   gaps {_n(s.gaps)} ({_n(s.gap_messages)} missing)   "
                f"duplicates {_n(s.dup_messages)}   ended {'yes' if s.ended else 'no'}"
            )
    b = r.books
    if b.get("books"):
        integ = ", ".join(f"{k} {_n(v)}" for k, v in b["integrity"].items() if v) or "none"
        unknown = ", ".join(f"{k} {_n(v)}" for k, v in sorted(b["unknown_ref_by_type"].items()))
        lines.append(
            f"books      {_n(b['books'])} instruments   live orders {_n(b['orders'])} "
            f"(peak {_n(b['peak_orders'])})   levels {_n(b['levels'])} (peak {_n(b['peak_levels'])})"
            f"   crossed {_n(b['crossed_books'])}   stale {_n(b['stale_books'])}"
        )
        lines.append(f"integrity  {integ}" + (f"   (unknown refs by type: {unknown})" if unknown else ""))
    if r.gaps:
        lines.append(f"gaps (first {min(len(r.gaps), max_gaps)} of {_n(st.gaps)})")
        for g in r.gaps[:max_gaps]:
            lines.append(
                f"  {g.session:<10}  {_n(g.first)}..{_n(g.first + g.count - 1)}  ({_n(g.count)})"
            )
    return "\n".join(lines)
