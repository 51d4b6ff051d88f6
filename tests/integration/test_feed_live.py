"""The live feed end to end on real sockets: the simulator publishes a
capture on A and B multicast lines over loopback, with faults, and runs the
retransmission server; the gateway's feed (kernel UDP source, hold-mode
sequencer, recovery policy, books) receives it.  The final books must equal
those of replaying the capture, with every message applied exactly once
(count and digest), unless the scenario makes loss unrecoverable, in which
case the lost sequences are reported and the books are stale.

Rates are modest and fixed; nothing here is timed.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway import synth
from gateway.book import Books
from gateway.feed import RETRANSMIT_LINE, Feed, FeedReport
from gateway.live import Endpoint, UdpSource
from gateway.native import Decoder, Source
from gateway.recovery import RecoveryConfig
from gateway.sim.faults import LineFaultPlan, RetransmitFaultPlan
from gateway.sim.messages import MessageStore
from gateway.sim.publisher import Line, Pacing, Publisher
from gateway.sim.retransmit import RetransmitServer

MESSAGES = 12_000
RATE = 60_000  # messages per second: about 0.2 s a run
_ports = itertools.count(33_000 + (os.getpid() % 500) * 20)


@dataclass
class Reference:
    capture: Path
    books: dict[str, Any]
    messages: int
    digest: int


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    path = tmp_path_factory.mktemp("feed") / "session.pcap"
    synth.write_synth(path, messages=MESSAGES, symbols=30, seed=21, fmt="pcap")
    books = Books(max_instruments=64, max_orders=100_000, max_levels=20_000, event_capacity=0)
    dec = Decoder(books=books)
    with Source(path) as src:
        dec.run(src)
    st = dec.stats()
    return Reference(path, books.snapshot(), st.messages, st.digest)


@pytest.fixture
def store(ref: Reference) -> MessageStore:
    return MessageStore.from_capture(ref.capture)


def run_feed(store: MessageStore, a: str = "", b: str | None = "", server: bool = True,
             server_faults: str = "", give_up_s: float = 5.0) -> tuple[FeedReport, Books]:
    """Publish on A (and B unless None) with the given fault specs and
    receive it; returns the feed's report and books."""
    base = next(_ports)
    group_a = ("239.255.41.1", base)
    group_b = ("239.255.41.2", base + 1)
    lines = [Line(*group_a, faults=LineFaultPlan.parse(a))]
    if b is not None:
        lines.append(Line(*group_b, max_payload=900, faults=LineFaultPlan.parse(b)))
    books = Books(max_instruments=64, max_orders=100_000, max_levels=20_000, event_capacity=0)
    dec = Decoder(books=books, hold=True, join_gap=10_000)
    rcfg = RecoveryConfig(grace_ns=2_000_000, timeout_ns=50_000_000, retries=4,
                          give_up_ns=int(give_up_s * 1e9), has_server=server)
    srv = None
    requester = None
    fds = []
    if server:
        srv = RetransmitServer(store, max_per_request=500,
                               faults=RetransmitFaultPlan.parse(server_faults))
        srv.start()
        import socket

        requester = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        requester.connect(srv.address)
        fds.append((requester.fileno(), RETRANSMIT_LINE))
    eps = [Endpoint(*group_a, line=0)] + ([Endpoint(*group_b, line=1)] if b is not None else [])
    try:
        with UdpSource(eps, interface="lo", timeout_ms=5, fds=fds) as src:
            pub = Publisher(store, lines, pacing=Pacing("rate", RATE), heartbeat_ns=50_000_000)
            pub.start()
            feed = Feed(src, dec, books, rcfg, requester=requester, live=True)
            rep = feed.run(duration_s=30)
            assert pub.join(10)
    finally:
        if srv is not None:
            srv.stop()
        if requester is not None:
            requester.close()
    assert rep.source.kernel_drops == 0
    return rep, books


def assert_whole(rep: FeedReport, books: Books, ref: Reference) -> None:
    assert rep.ended and rep.reason == "end of session"
    assert rep.decoder.messages == ref.messages and rep.decoder.digest == ref.digest
    assert books.snapshot() == ref.books
    (s,) = rep.sessions
    assert s.lost == 0 and s.held == 0 and rep.gaps == []
    assert rep.books["stale_books"] == 0


def lines_by_id(rep: FeedReport) -> dict[int, Any]:
    return {ln.line: ln for ln in rep.lines}


def test_clean_a_and_b(ref: Reference, store: MessageStore) -> None:
    rep, books = run_feed(store)
    assert_whole(rep, books, ref)
    assert rep.recovery.requests == 0
    assert rep.decoder.dup_messages == ref.messages  # every message came twice


def test_loss_on_a_only(ref: Reference, store: MessageStore) -> None:
    rep, books = run_feed(store, a="drop=0.1,burst=2000-2600,seed=3")
    assert_whole(rep, books, ref)
    lines = lines_by_id(rep)
    assert lines[0].lost > 600 and lines[1].lost == 0
    assert rep.recovery.requests == 0  # B filled every gap within the grace


def test_loss_on_b_only(ref: Reference, store: MessageStore) -> None:
    rep, books = run_feed(store, b="drop=0.1,stop=5000+40,seed=4")
    assert_whole(rep, books, ref)
    assert lines_by_id(rep)[1].lost > 0 and rep.recovery.requests == 0


def test_loss_on_both_lines_is_recovered_from_the_server(ref: Reference,
                                                         store: MessageStore) -> None:
    rep, books = run_feed(store, a="drop=0.05,burst=3000-3400,seed=5",
                          b="drop=0.05,burst=3000-3400,seed=6")
    assert_whole(rep, books, ref)
    lines = lines_by_id(rep)
    assert rep.recovery.requests > 0 and lines[RETRANSMIT_LINE].first >= 401
    assert rep.sessions[0].filled >= 401


def test_reorder_and_duplicates_on_both_lines(ref: Reference, store: MessageStore) -> None:
    rep, books = run_feed(store, a="reorder=0.05:3,dup=0.05,seed=7",
                          b="reorder=0.05:5,dup=0.05,drop=0.02,seed=8")
    assert_whole(rep, books, ref)


def test_a_single_line_with_loss_recovers_from_the_server(ref: Reference,
                                                          store: MessageStore) -> None:
    rep, books = run_feed(store, a="drop=0.03,seed=9", b=None)
    assert_whole(rep, books, ref)
    assert rep.recovery.requests > 0


def test_slow_and_lossy_server_is_retried(ref: Reference, store: MessageStore) -> None:
    # Answers take longer than the request timeout (50 ms), and some are lost.
    rep, books = run_feed(store, a="burst=1000-1100", b="burst=1000-1100",
                          server_faults="delay=120ms,drop=0.3,seed=2")
    assert_whole(rep, books, ref)
    assert rep.recovery.retries >= 1


def test_server_unavailable_marks_books_stale_and_names_the_loss(ref: Reference,
                                                                 store: MessageStore) -> None:
    rep, books = run_feed(store, a="burst=4000-4099", b="burst=4000-4099", server=True,
                          server_faults="stop", give_up_s=0.5)
    assert rep.ended
    (s,) = rep.sessions
    lost = {(g.first, g.count) for g in rep.gaps}
    # Packets carrying 4000..4099 were lost on both lines: whole packets, so
    # the lost range covers them and nothing outside the packets they fill.
    assert len(lost) == 1
    ((first, count),) = lost
    assert first <= 4000 and first + count - 1 >= 4099 and count < 100 + 2 * 60
    assert s.lost == count and rep.decoder.messages == ref.messages - count
    assert rep.recovery.given_up >= 1 and rep.recovery.requests >= 4
    assert rep.books["stale_books"] == rep.books["books"] > 0
    assert all(b.info().stale for b in books)


def test_no_server_configured_gives_up_after_the_grace(ref: Reference,
                                                       store: MessageStore) -> None:
    rep, _ = run_feed(store, a="burst=6000-6050", b="burst=6000-6050", server=False)
    assert rep.ended and rep.recovery.requests == 0
    assert rep.sessions[0].lost > 0 and rep.books["stale_books"] > 0


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    import threading

    before = threading.active_count()
    yield
    assert threading.active_count() <= before
