"""Split-point independence: how the input is cut into decoder calls, and
which capture format carries it, never changes the books.

Every book is compared deeply: header and counters (``info()`` but its
seqlock version), every level of both sides, every queue, the statistics,
the kept integrity records -- for burst sizes 1, 2, 7, 64 and 256, for pcap,
pcapng and BinaryFILE of the same synthetic session, and for an adversarial
message sequence cut into packets of different sizes.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import pytest
from book_model import c_levels, c_orders, feed_bursts, itch_frames, mold_frames
from test_book_vs_model import random_ops

from gateway import synth
from gateway.book import ASK, BID, Books, BooksConfig
from gateway.native import Decoder, Source

CONFIG = BooksConfig(max_instruments=128, max_orders=50_000, max_levels=20_000,
                     event_capacity=0)
BURSTS = (1, 2, 7, 64, 256)
FORMATS = ("pcap", "pcapng", "binaryfile")


def deep(books: Books) -> dict[str, Any]:
    """Everything a reader can see of the books."""
    out: dict[str, Any] = {"stats": books.stats(), "snapshot": books.snapshot(),
                           "integrity": [dataclasses.astuple(r) for r in books.integrity()]}
    for bk in books:
        info = dataclasses.asdict(bk.info())
        sides = {}
        for side in (BID, ASK):
            sides[side] = [(lv, c_orders(bk, side, lv[0])) for lv in c_levels(bk, side)]
        out[f"book {bk.id}"] = (info, sides)
    return out


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("split")
    out = {}
    for fmt in FORMATS:
        out[fmt] = d / f"session.{fmt}"
        synth.write_synth(out[fmt], messages=25_000, symbols=15, seed=7, fmt=fmt)
    return out


@pytest.fixture(scope="module")
def reference(captures: dict[str, Path]) -> dict[str, Any]:
    books = Books(CONFIG)
    Decoder(books=books).run(Source(captures["pcap"]))
    return deep(books)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("burst", BURSTS)
def test_same_books_whatever_burst_and_format(captures: dict[str, Path],
                                              reference: dict[str, Any], fmt: str,
                                              burst: int) -> None:
    books = Books(CONFIG)
    Decoder(books=books).run(Source(captures[fmt]), burst=burst)
    got = deep(books)
    assert got == reference
    assert got["stats"]["orders"] > 100 and len(books) == 15


@pytest.mark.parametrize("fmt", ["pcap", "binaryfile"])
def test_same_books_with_records_kept(captures: dict[str, Path], reference: dict[str, Any],
                                      fmt: str) -> None:
    """The record-keeping path (iter_records, a small record buffer so bursts
    are cut short and resumed) builds the same books."""
    books = Books(CONFIG)
    dec = Decoder(records=True, record_capacity=300, books=books)
    n = sum(len(r) for r in dec.iter_records(Source(captures[fmt]), burst=64))
    assert n == 25_000
    assert deep(books) == reference


def test_adversarial_sequence_any_packing() -> None:
    """Unknown references, duplicates, crossed books: the same however the
    messages are packed into MoldUDP64 packets or cut into calls."""
    messages = random_ops(random.Random(42), 3_000, refs=50, locates=4)
    results = []
    for per_packet, burst, how in (([1], 1, "mold"), ([3, 1, 8], 2, "eth"),
                                   ([40], 7, "mold"), ([], 64, "itch"), ([5], 256, "eth")):
        books = Books(CONFIG)
        frames = (itch_frames(messages) if how == "itch"
                  else mold_frames(messages, per_packet, ethernet=how == "eth"))
        feed_bursts(Decoder(books=books), frames, burst)
        results.append(deep(books))
    assert sum(results[0]["stats"]["integrity"].values()) > 100
    for r in results[1:]:
        assert r == results[0]
