"""``gateway feed``: a live MoldUDP64 / ITCH 5.0 feed into the books.

Theory of operation
-------------------
One C source hands out bursts from every line of the feed (A, B, ... and
the socket the retransmission server answers to); one C decoder in hold
mode arbitrates them per message and keeps what follows a gap in its
bounded buffer; the C books are built inside the same call.  Python runs
once per burst, never per message: after a burst that leaves something
missing it asks the recovery policy (``gateway/recovery.py``) what to
re-request and what to give up, sends the requests, and tells the decoder
what is lost.

The feed ends at the MoldUDP64 end-of-session message once nothing is
missing or held any more (a gap still open is recovered or given up
first), at the end of a capture, or after ``duration``.  A capture has no
server to ask and no wall clock: time is the capture's own (the last frame's
receive time), and a gap the other line does not fill within the grace is
given up.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from gateway import clock
from gateway._native import ffi, lib
from gateway.book import Books
from gateway.native import (
    BURST,
    BurstSource,
    Decoder,
    DecoderStats,
    Gap,
    LineStats,
    SessionStats,
    SourceInfo,
)
from gateway.recovery import Recovery, RecoveryConfig, RecoveryStats

#: Line id of the retransmission server's answers (the last the decoder tracks).
RETRANSMIT_LINE = lib.GW_MAX_LINES - 1
LINE_NAMES = {0: "A", 1: "B", RETRANSMIT_LINE: "retransmission"}


@dataclass
class FeedReport:
    source: SourceInfo
    decoder: DecoderStats
    sessions: list[SessionStats]
    lines: list[LineStats]
    gaps: list[Gap]
    recovery: RecoveryStats
    books: dict[str, Any]
    elapsed_ns: int
    ended: bool                 # end of session seen and nothing left missing
    reason: str                 # why the feed stopped
    requests_failed: int = 0    # sendto errors
    cpu_ns: int = 0             # this process's CPU time (user + system) while running
    extra: dict[str, Any] = field(default_factory=dict)


class Feed:
    """Pump ``source`` through ``decoder`` (hold mode, books attached).

    ``requester``: a UDP socket connected to the retransmission server
    (its answers must come back through ``source``), or None.
    ``live``: the wall clock drives time; otherwise the capture's."""

    def __init__(
        self,
        source: BurstSource,
        decoder: Decoder,
        books: Books,
        recovery: RecoveryConfig,
        requester: socket.socket | None = None,
        live: bool = True,
        extras: list[BurstSource] | None = None,
        spin: bool = False,
    ) -> None:
        """``extras``: sources read after each burst of ``source``, without
        waiting (the kernel socket the retransmission answers come to when
        the lines come through kernel bypass)."""
        self.source, self.dec, self.books = source, decoder, books
        self.extras = extras or []
        if len(self.extras) > 1:
            raise ValueError("at most one extra source")
        self.spin = spin  # busy polling: an empty burst is retried in C, not slept on
        self.requester = requester
        self.live = live
        self.recovery = Recovery(recovery, self._now())
        self.requests_failed = 0
        self._names: list[str] = []
        self._nsessions = ffi.new("uint32_t *")

    def _now(self) -> int:
        if self.live:
            return clock.realtime_ns()
        return int(lib.gw_decoder_stats(self.dec.handle).last_rx_ns)

    def _recover(self, now_ns: int) -> None:
        missing = self.dec.missing()
        if not missing and not self.recovery.outstanding:
            return
        if len(self._names) < len(self.dec.sessions()):
            self._names = self.dec.session_names()
        d = self.recovery.plan(missing, self._names, now_ns)
        for _session, packet in d.requests:
            assert self.requester is not None  # the policy only asks when it has a server
            try:
                self.requester.send(packet)
            except OSError:
                self.requests_failed += 1
        for session, upto in d.give_up:
            self.dec.give_up(session, upto, now_ns)

    def done(self) -> bool:
        """End of session seen on every session, nothing missing or held."""
        arr = lib.gw_decoder_sessions(self.dec.handle, self._nsessions)
        n = self._nsessions[0]
        return n > 0 and all(arr[i].ended and arr[i].next_seq >= arr[i].known_end
                             for i in range(n))

    def run(self, duration_s: float | None = None, burst: int = BURST) -> FeedReport:
        t0 = clock.monotonic_ns()
        cpu0 = clock.cpu_ns()
        deadline = t0 + int(duration_s * 1e9) if duration_s is not None else None
        h, src = self.dec.handle, self.source.handle
        frames = self.dec.frame_buffer
        try:
            reason = self._loop(h, src, frames, burst, deadline)
        except KeyboardInterrupt:  # Ctrl-C: stop, but still report and snapshot
            reason = "interrupted"
        rep = self.report(reason, clock.monotonic_ns() - t0)
        rep.cpu_ns = clock.cpu_ns() - cpu0
        return rep

    def _loop(self, h: Any, src: Any, frames: Any, burst: int, deadline: int | None) -> str:
        """The bursts run in C (gw_decoder_run); Python wakes on a new gap,
        when the source idles, and every few ms while a gap is open (the
        recovery timers) or every 50 ms otherwise (duration, Ctrl-C)."""
        why = ffi.new("int *")
        extra = self.extras[0].handle if self.extras else ffi.NULL
        flags = lib.GW_RUN_SPIN if self.spin else 0
        while True:
            tick = 1_000_000 if self.recovery.outstanding or self._open_gap() else 50_000_000
            n = lib.gw_decoder_run(h, src, extra, frames, min(burst, BURST), tick, flags, why)
            if n < 0:
                from gateway.native import check

                check(int(n), self.source.path, self.source.info().error)
            if why[0] == lib.GW_RUN_IDLE and not self.live:
                # End of capture: nothing more can fill what is missing.
                for session in {m.session for m in self.dec.missing()}:
                    self.dec.give_up(session, 0, self._now())
                return "end of capture"
            self._recover(self._now())
            if self.done():
                return "end of session"
            if deadline is not None and clock.monotonic_ns() >= deadline:
                return "duration"

    def _open_gap(self) -> bool:
        arr = lib.gw_decoder_sessions(self.dec.handle, self._nsessions)
        return any(arr[i].next_seq < arr[i].known_end for i in range(self._nsessions[0]))

    def report(self, reason: str, elapsed_ns: int) -> FeedReport:
        return FeedReport(
            source=self.source.info(),
            decoder=self.dec.stats(),
            sessions=self.dec.sessions(),
            lines=self.dec.lines(),
            gaps=self.dec.gaps(),
            recovery=self.recovery.stats,
            books=self.books.stats(),
            elapsed_ns=elapsed_ns,
            ended=self.done(),
            reason=reason,
            requests_failed=self.requests_failed,
        )


def _n(x: int) -> str:
    return f"{x:,}"


def format_feed_report(r: FeedReport) -> str:
    st, src, rc = r.decoder, r.source, r.recovery
    secs = r.elapsed_ns / 1e9
    out = [
        f"stopped    {r.reason} after {secs:.3f} s"
        + ("" if r.ended or r.reason != "end of session" else " (not complete)"),
        f"source     {src.kind}: {_n(src.frames)} packets, {_n(src.bytes)} bytes, "
        f"kernel drops {_n(src.kernel_drops)}"
        + "".join(f", {k} {_n(v)}" for k, v in sorted(src.reasons.items())),
        f"messages   {_n(st.messages)} applied   duplicates {_n(st.dup_messages)}   "
        f"gaps seen {_n(st.gaps)} ({_n(st.gap_messages)} messages)",
        f"recovery   {_n(rc.requests)} requests ({_n(rc.retries)} retries, "
        f"{_n(rc.rate_limited)} deferred by the rate limit)   given up {_n(rc.given_up)} "
        f"ranges ({_n(rc.given_up_messages)} messages)",
    ]
    for line in r.lines:
        name = LINE_NAMES.get(line.line, str(line.line))
        # The server answers what was asked: its "sequence" has holes by design.
        own = "" if line.line == RETRANSMIT_LINE else f"   missed on line {_n(line.lost)}"
        out.append(
            f"line {name:<14} packets {_n(line.packets)}   messages {_n(line.messages)}   "
            f"first {_n(line.first)}{own}"
        )
    for s in r.sessions:
        out.append(
            f"session {s.name:<10} seq {_n(s.first_seq)}..{_n(s.next_seq - 1)}   filled "
            f"{_n(s.filled)}   lost {_n(s.lost)}   held {_n(s.held)}   "
            f"ended {'yes' if s.ended else 'no'}"
        )
    for g in r.gaps[:20]:
        out.append(f"  lost {g.session} {_n(g.first)}..{_n(g.first + g.count - 1)} ({_n(g.count)})")
    errs = {k: v for k, v in st.reasons.items() if k != "mold_duplicate"}
    if errs:
        out.append("errors     " + ", ".join(f"{k} {_n(v)}" for k, v in sorted(errs.items())))
    b = r.books
    out.append(
        f"books      {_n(b['books'])} instruments   live orders {_n(b['orders'])}   "
        f"levels {_n(b['levels'])}   stale {_n(b['stale_books'])}   crossed {_n(b['crossed_books'])}"
    )
    return "\n".join(out)
