"""Books built from real data in ../shared/data (see its SOURCES.md).

* The RITCH BinaryFILE: artificial and not self-consistent: exactly 117
  messages name references that are not live (D 94, E 18, X 3, U 2); the
  final books of ALC, BOB and CHAR equal the model's, and all three end
  crossed and say so.
* The real NASDAQ pcaps (tiny): every file goes through without a decoding
  error and its books equal the model fed the messages the file carries
  (duplicates skipped, gaps marking every book stale, as the sequencer does).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _frames import read_pcap_frames, walk_frame
from book_model import Model, assert_all_equal

from gateway.book import Books, BooksConfig
from gateway.native import Decoder, Source
from protocols import itch50
from protocols import moldudp64 as mold

RITCH = "itch/ritch_ex20101224.TEST_ITCH_50"
SMALL = BooksConfig(max_instruments=256, max_orders=100_000, max_levels=50_000,
                    event_capacity=0)
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL = sorted(str(p.relative_to(DATA)) for p in DATA.glob("nasdaq-real/**/*.pcap")) \
    if DATA.is_dir() else []


def binfile_messages(data: bytes) -> list[bytes]:
    """Messages of a BinaryFILE whose prefixes may be zero (spec lengths)."""
    out, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 2], "big") or itch50.length_of(data[pos + 2])
        out.append(data[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return out


@pytest.fixture(scope="module")
def ritch() -> tuple[Books, Model] | None:
    """Built once for the module; None without the data (each test asks for
    ``shared_data`` first, which skips -- or fails under CI=true)."""
    path = DATA / RITCH
    if not path.is_file():
        return None
    books = Books(SMALL)
    Decoder(books=books).run(Source(path))
    model = Model()
    for i, m in enumerate(binfile_messages(path.read_bytes())):
        model.apply(m, i + 1)
    return books, model


def test_ritch_unknown_references(shared_data: Path, ritch: tuple[Books, Model]) -> None:
    books, model = ritch
    st = books.stats()
    assert st["messages"] == 12_012
    assert st["integrity"]["unknown_ref"] == 117 == model.unknown_refs()
    assert st["unknown_ref_by_type"] == {"D": 94, "E": 18, "X": 3, "U": 2}
    assert dict(model.unknown_by_type) == st["unknown_ref_by_type"]
    kept = [r for r in books.integrity() if r.kind == "unknown_ref"]
    assert len(kept) == 8 and all(r.msg_type in "DEXU" and r.seq for r in kept)


def test_ritch_final_books_equal_model(shared_data: Path, ritch: tuple[Books, Model]) -> None:
    books, model = ritch
    assert sorted(b.symbol for b in books) == ["ALC", "BOB", "CHAR"]
    assert_all_equal(books, model)
    for sym in ("ALC", "BOB", "CHAR"):
        bk = books.book(sym)
        info = bk.info()
        assert info.crossed and info.crossed_count >= 1, sym
        assert info.bid_price >= info.ask_price > 0, sym
        assert model.instruments[info.id].crossed
        assert not info.stale
    st = books.stats()
    assert st["crossed_books"] == 3
    assert st["integrity"]["crossed"] == sum(b.info().crossed_count for b in books)


def test_ritch_snapshot_is_the_model(shared_data: Path, ritch: tuple[Books, Model]) -> None:
    books, model = ritch
    snap = books.snapshot()
    assert set(snap["books"]) == {"ALC", "BOB", "CHAR"}
    for sym, ladder in snap["books"].items():
        assert ladder == model.ladder(model.by_symbol[sym]), sym


def sequenced_model(path: Path) -> Model:
    """The model fed what a MoldUDP64 sequencer passes on: per session,
    duplicates skipped, a jump ahead is a gap."""
    model = Model()
    expected: dict[bytes, int] = {}
    for _, frame in read_pcap_frames(path.read_bytes()):
        payload = walk_frame(frame)
        assert payload is not None
        pkt = mold.decode_packet(payload)
        key = bytes(pkt.session, "latin-1") if isinstance(pkt.session, str) else pkt.session
        nxt = expected.get(key, pkt.sequence)
        if pkt.sequence > nxt:
            model.gap(nxt, pkt.sequence - nxt)
            nxt = pkt.sequence
        for i, m in enumerate(pkt.messages):
            if pkt.sequence + i >= nxt:
                model.apply(m, pkt.sequence + i)
        expected[key] = max(nxt, pkt.sequence + len(pkt.messages))
    return model


@pytest.mark.parametrize("rel", REAL or ["<shared data absent>"])
def test_real_nasdaq_captures(shared_data: Path, rel: str) -> None:
    path = shared_data / rel
    books = Books(SMALL)
    dec = Decoder(books=books)
    dec.run(Source(path))
    assert set(dec.stats().reasons) <= {"mold_duplicate"}
    assert dec.stats().messages >= 1
    assert books.stats()["messages"] == dec.stats().messages
    assert_all_equal(books, sequenced_model(path))
