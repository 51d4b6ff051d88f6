"""Pools that run out, sequence gaps, recovery, and bad configuration.

* Tiny pools (orders, levels, instruments): the add (or the new instrument)
  is dropped and counted, the book marked stale with a STALE event; nothing
  is corrupted: the books not affected still equal the model, a stale one is
  still self-consistent (each level's shares are the sum of its queue, its
  order count the queue's length, levels strictly ordered); later messages
  naming a dropped order count as unknown references.  ``mark_recovered``
  clears the flag and emits RECOVERED.
* Hypothesis drives adversarial sequences through tiny pools against the
  model (which has the same limits) after every burst.
* A MoldUDP64 gap (a packet dropped) marks every book stale: GAP event,
  ``gap`` integrity record.
* Bad ``BooksConfig`` values raise ConfigError naming the key.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from _frames import hyp
from book_model import (
    Model,
    add,
    assert_all_equal,
    assert_book_equal,
    c_levels,
    c_orders,
    cancel,
    delete,
    execute,
    feed_bursts,
    itch_frames,
    mold_frames,
    replace,
)
from hypothesis import given
from hypothesis import strategies as st
from test_book_vs_model import encode_ops, op_lists

from gateway.book import ASK, BID, EVENT_KINDS, Books, BooksConfig
from gateway.errors import ConfigError
from gateway.native import Decoder

KIND = {v: k for k, v in EVENT_KINDS.items()}


def drain(books: Books) -> np.ndarray:
    parts = [e.copy() for e in books.events()]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)


def of_kind(events: np.ndarray, kind: str) -> np.ndarray:
    return events[events["kind"] == KIND[kind]] if len(events) else events


def assert_consistent(books: Books) -> None:
    """What must hold of any book, stale or not."""
    for bk in books:
        info = bk.info()
        total = 0
        for side, better in ((BID, np.greater), (ASK, np.less)):
            lv = c_levels(bk, side)
            prices = [p for p, _, _ in lv]
            assert all(better(a, b) for a, b in pairwise(prices))
            for price, shares, count in lv:
                q = c_orders(bk, side, price)
                assert shares > 0 and count > 0
                assert count == len(q) and shares == sum(s for _, s in q)
                total += count
            assert len(lv) == (info.bid_levels if side == BID else info.ask_levels)
        assert total == info.orders


def run(books: Books, messages: list[bytes], model: Model | None = None) -> Decoder:
    dec = Decoder(books=books)
    feed_bursts(dec, itch_frames(messages), 4, model=model)
    return dec


def test_order_pool_full() -> None:
    books = Books(max_orders=5, max_levels=100, max_instruments=8, event_capacity=256)
    model = Model(max_orders=5)
    msgs = [add(i, "BS"[i % 2], 100, 1000 + (i % 2) * 10 - i, 1, "AAA") for i in range(1, 6)]
    msgs += [add(6, "B", 50, 990, 2, "BBB"), add(7, "S", 50, 999, 2, "BBB"),
             execute(6, 10), cancel(7, 5), delete(6), replace(7, 8, 10, 1000)]
    run(books, msgs, model)
    st = books.stats()
    assert st["integrity"]["order_pool_full"] == 2
    assert st["integrity"]["unknown_ref"] == 4
    assert st["unknown_ref_by_type"] == {"E": 1, "X": 1, "D": 1, "U": 1}
    assert st["orders"] == st["peak_orders"] == 5 and st["stale_books"] == 1
    aaa, bbb = books.book("AAA"), books.book("BBB")
    assert not aaa.info().stale and bbb.info().stale
    assert_book_equal(books, model, aaa.id)
    assert_all_equal(books, model)
    assert_consistent(books)
    ev = drain(books)
    stale = of_kind(ev, "stale")
    assert len(stale) == 1 and stale["instrument"][0] == bbb.id
    assert stale["seq"][0] == 6  # the first add that did not fit
    # Room again: adds go in, the book stays stale until recovered.
    run_more = [delete(1), add(9, "B", 70, 995, 2, "BBB")]
    dec = Decoder(books=books)
    feed_bursts(dec, itch_frames(run_more), 1)
    assert c_levels(bbb, BID) == [(995, 70, 1)] and bbb.info().stale
    bbb.mark_recovered()
    assert not bbb.info().stale and books.stats()["stale_books"] == 0
    rec = of_kind(drain(books), "recovered")
    assert len(rec) == 1 and rec["instrument"][0] == bbb.id
    bbb.mark_recovered()  # not stale: nothing happens
    assert len(of_kind(drain(books), "recovered")) == 0


def test_level_pool_full() -> None:
    books = Books(max_orders=100, max_levels=3, max_instruments=8, event_capacity=256)
    model = Model(max_levels=3)
    msgs = [add(1, "B", 100, 1000, 1, "AAA"), add(2, "B", 100, 999, 1, "AAA"),
            add(3, "S", 100, 1001, 1, "AAA"),
            add(4, "B", 100, 998, 1, "AAA"),    # a fourth level: dropped, AAA stale
            add(5, "B", 100, 1000, 1, "AAA"),   # an existing level: fine
            add(6, "S", 100, 2000, 2, "BBB"),   # no level left: dropped, BBB stale
            execute(4, 1), replace(6, 7, 1, 1)]
    run(books, msgs, model)
    st = books.stats()
    assert st["integrity"]["level_pool_full"] == 2
    assert st["unknown_ref_by_type"] == {"E": 1, "U": 1}
    assert st["levels"] == st["peak_levels"] == 3 and st["stale_books"] == 2
    assert c_levels(books.book("AAA"), BID) == [(1000, 200, 2), (999, 100, 1)]
    assert c_orders(books.book("AAA"), BID, 1000) == [(1, 100), (5, 100)]
    assert_all_equal(books, model)
    assert_consistent(books)
    assert len(of_kind(drain(books), "stale")) == 2
    # A replace that frees a level and needs one: fits.
    dec = Decoder(books=books)
    feed_bursts(dec, itch_frames([replace(2, 8, 5, 997)]), 1, model=model)
    assert c_levels(books.book("AAA"), BID) == [(1000, 200, 2), (997, 5, 1)]
    assert_all_equal(books, model)


def test_book_pool_full() -> None:
    books = Books(max_orders=100, max_levels=100, max_instruments=2, event_capacity=256)
    model = Model(max_instruments=2)
    msgs = [add(1, "B", 100, 1000, 1, "AAA"), add(2, "S", 100, 1010, 2, "BBB"),
            add(3, "B", 100, 1000, 3, "CCC"),   # a third instrument: dropped
            add(4, "S", 100, 1005, 4, "AAA"),   # a new locate, known symbol: AAA
            execute(3, 10, locate=3), delete(3, locate=3)]
    run(books, msgs, model)
    st = books.stats()
    assert st["books"] == len(books) == 2
    assert st["integrity"]["book_pool_full"] == 1
    assert st["unknown_ref_by_type"] == {"E": 1, "D": 1}
    rec = [r for r in books.integrity() if r.kind == "book_pool_full"]
    assert [(r.ref, r.seq, r.instrument, r.msg_type) for r in rec] == [(3, 3, 0, "A")]
    with pytest.raises(KeyError):
        books.book("CCC")
    with pytest.raises(KeyError):
        books.by_locate(3)
    assert books.by_locate(4).id == books.book("AAA").id == 1
    assert c_levels(books.book("AAA"), ASK) == [(1005, 100, 1)]
    assert st["stale_books"] == 0
    assert_all_equal(books, model)


@hyp(70)
@given(ops=op_lists(80), burst=st.sampled_from([1, 3]),
       pools=st.sampled_from([(5, 3, 2), (2, 8, 4), (8, 2, 1), (1, 1, 1)]))
def test_tiny_pools_against_model(ops: list[tuple], burst: int,
                                  pools: tuple[int, int, int]) -> None:
    mo, ml, mi = pools
    books = Books(max_orders=mo, max_levels=ml, max_instruments=mi, event_capacity=0)
    model = Model(max_orders=mo, max_levels=ml, max_instruments=mi)

    def check() -> None:
        assert_all_equal(books, model)
        assert_consistent(books)

    feed_bursts(Decoder(books=books), mold_frames(encode_ops(ops), [2]), burst, check, model)
    st = books.stats()
    assert st["orders"] <= mo and st["levels"] <= ml and st["books"] <= mi


def test_gap_marks_every_book_stale() -> None:
    books = Books(max_orders=100, max_levels=100, max_instruments=8, event_capacity=256)
    model = Model()
    msgs = [add(1, "B", 100, 1000, 1, "AAA"), add(2, "S", 100, 1010, 2, "BBB"),
            add(3, "B", 100, 990, 3, "CCC"), add(4, "S", 10, 1011, 2, "BBB"),
            add(5, "S", 10, 1012, 2, "BBB"), add(6, "B", 10, 995, 4, "DDD")]
    frames = mold_frames(msgs, [2])  # packets at seq 1, 3, 5
    dropped = frames.pop(1)           # seq 3..4 never arrive
    dec = Decoder(books=books)
    feed_bursts(dec, frames[:1], 1, model=model)
    drain(books)
    model.gap(3, 2)  # seen as the packet at seq 5 arrives, before its messages
    feed_bursts(dec, frames[1:], 1, model=model)
    assert [m for _, m in dropped.messages] == msgs[2:4]
    # AAA and BBB were there when the gap was seen: stale; DDD came after it.
    stale = {b.symbol: b.info().stale for b in books}
    assert stale == {"AAA": True, "BBB": True, "DDD": False}
    st = books.stats()
    assert st["integrity"]["gap"] == 1 and st["stale_books"] == 2
    gap = [r for r in books.integrity() if r.kind == "gap"]
    assert [(r.ref, r.seq) for r in gap] == [(3, 2)]
    ev = drain(books)
    g = of_kind(ev, "gap")
    assert len(g) == 1 and (int(g["seq"][0]), int(g["size"][0])) == (3, 2)
    assert sorted(of_kind(ev, "stale")["instrument"].tolist()) == [1, 2]
    assert np.flatnonzero(ev["kind"] == KIND["gap"])[0] < np.flatnonzero(
        ev["kind"] == KIND["stale"])[0]
    assert_all_equal(books, model)
    for b in books:
        b.mark_recovered()
    assert books.stats()["stale_books"] == 0
    assert len(of_kind(drain(books), "recovered")) == 2


@pytest.mark.parametrize(("key", "value"), [
    ("max_orders", 0), ("max_orders", -1), ("max_orders", 0x7FFFFFFF),
    ("max_levels", 0), ("max_levels", 1 << 40), ("max_instruments", 0),
    ("max_instruments", -5), ("event_capacity", -1), ("event_capacity", (1 << 30) + 1),
    ("feed", -1), ("feed", 65536), ("price_exponent", 1), ("price_exponent", -19),
])
def test_bad_config_names_the_key(key: str, value: int) -> None:
    with pytest.raises(ConfigError) as e:
        Books(**{key: value})
    assert e.value.key == f"books.{key}"
    assert str(value) in str(e.value)
    with pytest.raises(ConfigError) as e2:
        Books(BooksConfig(**{key: value}))
    assert e2.value.key == f"books.{key}"


def test_unknown_config_key() -> None:
    with pytest.raises(ConfigError) as e:
        Books(max_order=5)
    assert e.value.key == "books.max_order" and "max_orders" in str(e.value)
