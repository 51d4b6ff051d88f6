"""Readers in another thread while the writer runs.

CFFI releases the GIL during C calls, so a Python thread calling
``Book.levels()`` / ``Book.info()`` truly runs at the same time as the
thread in ``Decoder.run()``.  Every view one call returns must be
internally consistent (the per-book seqlock); nothing is assumed across two
calls.  The reader counts its reads and the distinct book versions it saw
while the writer ran, to prove the two overlapped.
"""

from __future__ import annotations

import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest

from gateway import synth
from gateway.book import ASK, BID, Book, Books, BooksConfig
from gateway.native import Decoder, Source

CONFIG = BooksConfig(max_instruments=256, max_orders=200_000, max_levels=100_000,
                     event_capacity=0)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conc") / "big.pcap"
    synth.write_synth(path, messages=150_000, symbols=12, seed=21, fmt="pcap")
    return path


def check_levels(lv: list[tuple[int, int, int, int]], side: int) -> None:
    prices = [p for p, _, _, _ in lv]
    if side == BID:
        assert all(a > b for a, b in pairwise(prices)), prices
    else:
        assert all(a < b for a, b in pairwise(prices)), prices
    for price, shares, orders, _ in lv:
        assert price > 0 and shares > 0 and orders > 0, (price, shares, orders)
        assert shares >= orders  # no order rests with zero shares


def check_info(bk: Book) -> int:
    i = bk.info()
    for price, shares, orders, levels in ((i.bid_price, i.bid_shares, i.bid_orders,
                                           i.bid_levels),
                                          (i.ask_price, i.ask_shares, i.ask_orders,
                                           i.ask_levels)):
        empty = levels == 0
        assert (price == 0) == empty and (shares == 0) == empty and (orders == 0) == empty, i
        assert shares >= orders
    assert i.orders >= i.bid_orders + i.ask_orders + max(0, i.bid_levels - 1) + max(
        0, i.ask_levels - 1), i
    if i.bid_levels and i.ask_levels:
        assert i.crossed == (i.bid_price >= i.ask_price), i
    assert not i.crossed and not i.stale  # the generator never crosses; no gaps
    return i.messages


def test_reader_thread_sees_consistent_views(capture: Path) -> None:
    books = Books(CONFIG)
    dec = Decoder(books=books)
    src = Source(capture)
    running = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []
    stats = {"reads": 0, "during": 0, "versions": 0}

    def reader() -> None:
        try:
            running.wait(10)
            seen: dict[int, int] = {}
            while not done.is_set():
                n = len(books)
                for id in range(1, min(n, 6) + 1):
                    bk = books.book(id)
                    for side in (BID, ASK):
                        check_levels(bk.levels(side).tolist(), side)
                    v = check_info(bk)
                    if seen.get(id) != v:
                        stats["versions"] += 1
                        seen[id] = v
                    stats["reads"] += 3
                    if not done.is_set():
                        stats["during"] += 3
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    running.set()
    start = time.monotonic()
    while dec.pump(src, 4):
        if errors:
            break
    done.set()
    t.join(30)
    assert not t.is_alive()
    if errors:
        raise errors[0]
    assert dec.stats().messages == 150_000
    assert time.monotonic() - start < 60
    assert stats["during"] > 100, stats
    assert stats["versions"] > 20, stats  # the books changed under the reader
    # After the run, one last full check of every book.
    for bk in books:
        for side in (BID, ASK):
            check_levels(bk.levels(side).tolist(), side)
        check_info(bk)


def test_seqlock_under_churn(tmp_path: Path) -> None:
    """One book that empties and fills with every message (add, replace to
    another price, partial cancel, delete, over and over): between the
    writer's first and last store of a message its header and levels
    disagree, so a reader that is not protected by the seqlock sees it
    within a few thousand reads.  A gzip BinaryFILE keeps the file small."""
    import gzip

    from book_model import add, cancel, delete, replace

    cycle = [add(1, "B", 300, 1000, 1, "CHURN"), replace(1, 2, 200, 1001), cancel(2, 50),
             add(3, "S", 100, 1005, 1, "CHURN"), delete(2), delete(3)]
    block = b"".join(len(m).to_bytes(2, "big") + m for m in cycle) * 20_000
    path = tmp_path / "churn.itch.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        for _ in range(5):  # 600,000 messages
            fh.write(block)
    books = Books(CONFIG)
    dec = Decoder(books=books)
    src = Source(path)
    dec.pump(src, 1)  # the book exists before the reader starts
    done = threading.Event()
    errors: list[BaseException] = []
    reads = [0, 0]  # all, while the writer ran

    def reader() -> None:
        bk = books.book(1)
        try:
            while not done.is_set():
                i = bk.info()
                for price, shares, orders, levels, want in (
                        (i.bid_price, i.bid_shares, i.bid_orders, i.bid_levels, (1000, 1001)),
                        (i.ask_price, i.ask_shares, i.ask_orders, i.ask_levels, (1005,))):
                    assert levels in (0, 1), i
                    if levels:
                        assert price in want and orders == 1 and shares in (150, 200, 300, 100), i
                    else:
                        assert (price, shares, orders) == (0, 0, 0), i
                assert i.orders == i.bid_orders + i.ask_orders, i
                for side in (BID, ASK):
                    for _, shares, orders, _ in bk.levels(side).tolist():
                        assert orders == 1 and shares > 0
                reads[0] += 1
                if not done.is_set():
                    reads[1] += 1
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    while dec.pump(src, 256):
        if errors:
            break
    done.set()
    t.join(30)
    if errors:
        raise errors[0]
    assert books.stats()["messages"] == 600_000
    assert sum(books.stats()["integrity"].values()) == 0
    assert reads[1] > 100, reads
