"""The event ring: what a consumer that never reads the books sees.

* BOOK_LEVEL events replayed in order rebuild exactly the final levels of
  every book (synthetic and adversarial sessions, drained after every burst).
* Every BBO event equals the best level replayed so far, and the last one
  per side equals the book's BBO.
* TRADE events for E, C, P and Q: the model's trades (C at its execution
  price, E at the order's price), sizes, match numbers, sides and flags.
* BOOK_STATE for H and S.
* A tiny ring overflows: the loss is counted, one OVERFLOW carries it, and a
  consumer that re-reads the books there and applies what follows ends with
  the books.  Even a ring of one slot recovers.
* Every record carries the version and the configured feed, the sequence,
  exchange and receive times of its message.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import numpy as np
import pytest
from book_model import (
    Model,
    add,
    c_levels,
    cross,
    execute,
    execute_at,
    feed_bursts,
    itch_frames,
    mold_frames,
    system_event,
    trade,
    trading_action,
)
from test_book_vs_model import random_ops

from gateway import synth
from gateway._native import lib
from gateway.book import ASK, BID, EVENT_KINDS, Books
from gateway.native import EVENT_DTYPE, Decoder

KIND = {v: k for k, v in EVENT_KINDS.items()}
SIDE = {BID: ord("B"), ASK: ord("S")}
CONFIG = dict(max_instruments=64, max_orders=20_000, max_levels=20_000)


class Collector:
    """Drains the ring after every burst into one array."""

    def __init__(self, books: Books) -> None:
        self.books = books
        self.parts: list[np.ndarray] = []

    def __call__(self) -> None:
        self.parts.extend(e.copy() for e in self.books.events(max_events=1000))

    @property
    def events(self) -> np.ndarray:
        self()
        return np.concatenate(self.parts) if self.parts else np.zeros(0, EVENT_DTYPE)


def run(messages: list[bytes], burst: int = 5, *, capacity: int = 1 << 16, feed: int = 0,
        per_packet: Iterable[int] = (4, 1, 9)) -> tuple[Books, np.ndarray, Model]:
    books = Books(event_capacity=capacity, feed=feed, **CONFIG)
    model = Model()
    col = Collector(books)
    feed_bursts(Decoder(books=books), mold_frames(messages, list(per_packet)), burst, col, model)
    return books, col.events, model


def replay_levels(events: np.ndarray, start: dict | None = None) -> dict:
    """(instrument, side byte) -> {price: (shares, orders)} from BOOK_LEVEL events."""
    state: dict = start if start is not None else {}
    for e in events[events["kind"] == KIND["book_level"]].tolist():
        _, _, side, _, _, _, inst, count, _, _, _, price, size, _ = e
        levels = state.setdefault((inst, side), {})
        if count == 0:
            assert size == 0
            levels.pop(price, None)
        else:
            assert size > 0
            levels[price] = (size, count)
    return state


def ladder(state: dict, inst: int, side: int) -> list[tuple[int, int, int]]:
    levels = state.get((inst, SIDE[side]), {})
    return [(p, *levels[p]) for p in sorted(levels, reverse=side == BID)]


SESSIONS = {
    "synth": lambda: list(synth.generate_messages(8_000, 12, 4)),
    "adversarial": lambda: random_ops(random.Random(9), 4_000, refs=30, locates=5),
}


@pytest.fixture(scope="module", params=sorted(SESSIONS))
def session(request: pytest.FixtureRequest) -> tuple[Books, np.ndarray, Model]:
    return run(SESSIONS[request.param]())


def test_book_level_events_rebuild_every_book(session: tuple[Books, np.ndarray, Model]) -> None:
    books, events, _ = session
    assert books.stats()["events_dropped"] == 0
    state = replay_levels(events)
    for bk in books:
        for side in (BID, ASK):
            assert ladder(state, bk.id, side) == c_levels(bk, side), (bk.symbol, side)
    assert len(books) > 3


def test_bbo_events_track_the_best(session: tuple[Books, np.ndarray, Model]) -> None:
    books, events, _ = session
    state: dict = {}
    last: dict = {}
    n = 0
    for i, e in enumerate(events.tolist()):
        if e[0] == KIND["book_level"]:
            replay_levels(events[i : i + 1], state)
        elif e[0] == KIND["bbo"]:
            n += 1
            inst, side, price, size, count = e[6], e[2], e[11], e[12], e[7]
            levels = state.get((inst, side), {})
            best = (max(levels) if side == ord("B") else min(levels)) if levels else None
            want = (best, *levels[best]) if best is not None else (0, 0, 0)
            assert (price, size, count) == want
            assert last.get((inst, side)) != (price, size, count)  # only on change
            last[(inst, side)] = (price, size, count)
    assert n > 10
    for bk in books:
        i = bk.info()
        assert last.get((bk.id, ord("B")), (0, 0, 0)) == (i.bid_price, i.bid_shares, i.bid_orders)
        assert last.get((bk.id, ord("S")), (0, 0, 0)) == (i.ask_price, i.ask_shares, i.ask_orders)


def test_trade_events_are_the_models(session: tuple[Books, np.ndarray, Model]) -> None:
    _, events, model = session
    tr = events[events["kind"] == KIND["trade"]]
    got = [(int(e["instrument"]), chr(e["side"]) if e["side"] else "", int(e["price"]),
            int(e["size"]), int(e["aux"]), chr(e["flags"])) for e in tr]
    want = [(t.instrument, t.side, t.price, t.shares, t.match, t.flags) for t in model.trades]
    assert got == want and len(got) > 10


def test_trade_prices_by_type() -> None:
    msgs = [add(1, "B", 500, 1000, ts=1), add(2, "S", 300, 1010, ts=2),
            execute(1, 100, match=11, ts=3),                  # at the order's price
            execute_at(2, 50, 1007, match=12, ts=4, printable="N"),  # at its own price
            trade("S", 77, 999, match=13, ts=5),
            cross(1234, 1005, match=14, ts=6, cross_type="C")]
    books, events, _ = run(msgs, burst=1, per_packet=[1])
    tr = events[events["kind"] == KIND["trade"]]
    assert [(chr(e["side"]) if e["side"] else "", int(e["price"]), int(e["size"]), int(e["aux"]),
             chr(e["flags"]), int(e["seq"]), int(e["exch_ns"])) for e in tr] == [
        ("B", 1000, 100, 11, "Y", 3, 3), ("S", 1010 - 3, 50, 12, "N", 4, 4),
        ("S", 999, 77, 13, "P", 5, 5), ("", 1005, 1234, 14, "C", 6, 6)]
    # C leaves the order at its own price.
    assert c_levels(books.book("AAA"), ASK) == [(1010, 250, 1)]
    info = books.book("AAA").info()
    assert (info.trades, info.traded_shares) == (4, 100 + 50 + 77 + 1234)


def test_book_state_events() -> None:
    msgs = [system_event("O", ts=1), trading_action(1, "AAA", "H", "IPO1", ts=2),
            system_event("Q", ts=3), trading_action(1, "AAA", "T", ts=4)]
    books, events, _ = run(msgs, burst=1, per_packet=[1])
    st = events[events["kind"] == KIND["book_state"]]
    assert [(int(e["instrument"]), chr(e["aux"]), chr(e["flags"]), int(e["seq"]))
            for e in st] == [(0, "O", "S", 1), (1, "H", "H", 2), (0, "Q", "S", 3),
                             (1, "T", "H", 4)]
    info = books.book("AAA").info()
    assert (info.trading_state, info.system_event) == ("T", "Q")


def test_records_carry_version_feed_and_times() -> None:
    msgs = random_ops(random.Random(3), 300, refs=20, locates=3)
    books = Books(event_capacity=4096, feed=4242, **CONFIG)
    col = Collector(books)
    frames = itch_frames(msgs)
    feed_bursts(Decoder(books=books), frames, 7, col)
    ev = col.events
    assert len(ev) > 300
    assert set(ev["version"].tolist()) == {lib.GW_EVENT_VERSION}
    assert set(ev["feed"].tolist()) == {4242}
    assert set(ev["session"].tolist()) == {0}
    # Frame i (message i + 1) was received at base + i; its timestamp is 1000 (i + 1).
    assert (ev["rx_ns"] - 1_700_000_000_000_000_000 == ev["seq"].astype(np.int64) - 1).all()
    assert (ev["exch_ns"] == ev["seq"].astype(np.int64) * 1_000).all()
    assert np.all(np.diff(ev["seq"].astype(np.int64)) >= 0)
    assert set(ev["kind"].tolist()) <= set(EVENT_KINDS)


def test_tiny_ring_overflows_and_resyncs() -> None:
    msgs = list(synth.generate_messages(3_000, 6, 2))
    first, second = msgs[:2_000], msgs[2_000:2_003]
    # How many events the whole thing makes with room for all of them.
    big, big_events, _ = run(first + second, capacity=1 << 16)
    books = Books(event_capacity=64, **CONFIG)
    dec = Decoder(books=books)
    frames = mold_frames(first + second, [1])
    feed_bursts(dec, frames[:2_000], 256)
    st = books.stats()
    lost = st["events_dropped"]
    assert lost > 0 and st["overflows"] == 0 and st["events"] == 64
    head = np.concatenate([e.copy() for e in books.events()])
    assert len(head) == 64 and KIND["overflow"] not in head["kind"]
    feed_bursts(dec, frames[2_000:], 1)
    tail = np.concatenate([e.copy() for e in books.events()])
    assert tail["kind"][0] == KIND["overflow"] and int(tail["size"][0]) == lost
    assert (tail["version"][0], tail["feed"][0]) == (lib.GW_EVENT_VERSION, 0)
    assert KIND["overflow"] not in tail["kind"][1:]
    st = books.stats()
    assert st["overflows"] == 1 and st["events_dropped"] == lost
    assert st["events"] - st["overflows"] + st["events_dropped"] == big.stats()["events"]
    assert len(head) + len(tail) - 1 == len(big_events) - lost
    # The tail is what the big ring saw for the same messages (rx_ns aside:
    # the frames were handed over in other calls).
    fields = [f for f in EVENT_DTYPE.names if f != "rx_ns"]
    assert tail[1:][fields].tolist() == big_events[len(big_events) - len(tail) + 1 :][
        fields].tolist()
    # Resync: read the books at the OVERFLOW, then apply what follows it.
    state: dict = {}
    for bk in books:
        for side in (BID, ASK):
            state[(bk.id, SIDE[side])] = {p: (s, n) for p, s, n in c_levels(bk, side)}
    replay_levels(tail[1:], state)
    for bk in books:
        for side in (BID, ASK):
            assert ladder(state, bk.id, side) == c_levels(bk, side)


@pytest.mark.parametrize("capacity", [1, 2, 3])
def test_smallest_rings_recover(capacity: int) -> None:
    books = Books(event_capacity=capacity, **CONFIG)
    dec = Decoder(books=books)
    msgs = [add(i, "B", 100, 1000 + i, ts=i) for i in range(1, 40)]
    frames = itch_frames(msgs)
    feed_bursts(dec, frames[:20], 20)
    first = np.concatenate([e.copy() for e in books.events()])
    assert len(first) == {1: 2, 2: 2, 3: 4}[capacity]  # a power of two, at least 2
    assert books.stats()["events_dropped"] == 40 - len(first)  # 2 events per add
    seen = []
    for k in range(20, 39):  # one add (two events) at a time, drained between
        feed_bursts(dec, [frames[k]], 1)
        seen.extend(e.copy() for e in books.events())
    kinds = np.concatenate(seen)["kind"].tolist()
    assert KIND["overflow"] in kinds, "the ring never recovered"
    assert KIND["book_level"] in kinds[kinds.index(KIND["overflow"]) :]
