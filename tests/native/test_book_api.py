"""The Python face of the books: lookups, views, statistics, integrity
records, and seeing a book as it was at a sequence number or a time.

* Lookup by symbol, instrument id and locate; KeyError for what is not
  there; a new locate with a known symbol is the same instrument; R renames
  (the old name stops finding it, and renames cannot fill the symbol table).
* ``snapshot(levels=N)``: the documented format, best first, integers.
* ``stats()`` fields; ``integrity()`` keeps the first GW_INTEGRITY_KEEP of
  each kind with reference, sequence and timestamp, in the order seen.
* ``Decoder.stop_after(seq=N)`` gives the model's books after message N;
  ``stop_after(exch_ns=T)`` after the last message at or before T -- the
  same whether messages come in packets or one per frame.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from book_model import (
    Model,
    add,
    assert_all_equal,
    c_levels,
    delete,
    directory,
    execute,
    feed_bursts,
    itch_frames,
    mold_frames,
    trading_action,
    with_timestamp,
)

from gateway import synth
from gateway._native import lib
from gateway.book import ASK, BID, INTEGRITY_KINDS, Books
from gateway.errors import ConfigError, InputError
from gateway.native import Decoder, Source

CONFIG = dict(max_instruments=64, max_orders=50_000, max_levels=20_000, event_capacity=0)
STATS = {"messages", "books", "orders", "levels", "peak_orders", "peak_levels", "stale_books",
         "crossed_books", "events", "events_dropped", "overflows", "bytes", "order_bytes",
         "level_bytes", "overflow_orders", "compactions", "integrity", "unknown_ref_by_type"}


def built(messages: list[bytes], **kw: int) -> Books:
    books = Books(**{**CONFIG, **kw})
    feed_bursts(Decoder(books=books), itch_frames(messages), 16)
    return books


def test_lookup_by_symbol_id_and_locate() -> None:
    books = built([directory(7, "AAA"), directory(9, "BBBBBBBB"),
                   add(1, "B", 100, 1000, 7, "AAA"), add(2, "S", 50, 1010, 12, "AAA"),
                   add(3, "S", 10, 2000, 3, "CC")])
    assert len(books) == 3 and list(books.ids()) == [1, 2, 3]
    a = books.book("AAA")
    assert a.id == books.book(1).id == books.by_locate(7).id == books.by_locate(12).id == 1
    assert a.info().locate == 12  # the latest locate it was seen under
    assert books.book("BBBBBBBB").id == books.by_locate(9).id == 2
    assert books.book("CC").id == books.by_locate(3).id == 3
    assert [b.symbol for b in books] == ["AAA", "BBBBBBBB", "CC"]
    assert c_levels(a, BID) == [(1000, 100, 1)] and c_levels(a, ASK) == [(1010, 50, 1)]
    assert a.bbo() == (1000, 100, 1010, 50)
    for bad in ("ZZZ", "AA", "aaa", ""):
        with pytest.raises(KeyError):
            books.book(bad)
    for bad_id in (0, 4, 10**6):
        with pytest.raises(KeyError):
            books.book(bad_id)
    for bad_loc in (0, 1, 8, 65535, 65536, -1):  # beyond 16 bits: KeyError too
        with pytest.raises(KeyError):
            books.by_locate(bad_loc)
    with pytest.raises(InputError):
        books.book("TOOLONGSYM")
    with pytest.raises(ConfigError):
        a.levels(5)
    assert len(a.levels(BID, 0)) == 0
    assert len(a.orders_at(BID, 999)) == 0 and a.orders_at(BID, 1000).tolist() == [(1, 100)]


def test_info_fields() -> None:
    books = Books(feed=3, price_exponent=-6, **{k: v for k, v in CONFIG.items()})
    feed_bursts(Decoder(books=books), itch_frames(
        [add(1, "B", 100, 1000, 5, "XY", ts=77), trading_action(5, "XY", "H", "LUDP", ts=78)]),
        1)
    i = books.book("XY").info()
    assert (i.id, i.locate, i.feed, i.price_exponent) == (1, 5, 3, -6)
    assert (i.trading_state, i.reason, i.messages, i.adds) == ("H", "LUDP", 2, 1)
    assert (i.last_seq, i.last_exch_ns, i.orders) == (2, 78, 1)


def test_rename_by_directory() -> None:
    books = built([add(1, "B", 100, 1000, 4, "OLD"), directory(4, "NEW")])
    assert books.book("NEW").id == 1 and books.book(1).symbol == "NEW"
    with pytest.raises(KeyError):
        books.book("OLD")


def test_many_renames_do_not_fill_the_symbol_table() -> None:
    """Each R renaming a book used to leave the old name behind; with two
    instruments the table (8 slots) filled after a few renames and the next
    lookup probed forever.  Run in a child so a regression cannot hang us."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from book_model import add, directory, feed_bursts, itch_frames
        from gateway.book import Books
        from gateway.native import Decoder
        books = Books(max_instruments=2, max_orders=10, max_levels=10, event_capacity=0)
        msgs = [directory(1, f"S{{i}}") for i in range(40)] + [directory(2, "B")]
        msgs += [add(1, "B", 1, 1, 3, "NEW")]
        feed_bursts(Decoder(books=books), itch_frames(msgs), 1)
        assert books.book("S39").id == 1 and books.book("B").id == 2
        assert books.stats()["integrity"]["book_pool_full"] == 1
        for i in range(39):
            try:
                books.book(f"S{{i}}")
            except KeyError:
                pass
            else:
                raise AssertionError(i)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_snapshot_format() -> None:
    msgs = [add(i, "B", 10 * i, 1000 - i, 1, "AAA") for i in range(1, 6)]
    msgs += [add(10 + i, "S", 5, 1010 + i, 1, "AAA") for i in range(3)]
    msgs += [add(20, "B", 7, 1000 - 2, 1, "AAA"), add(30, "S", 1, 500, 2, "")]
    books = built(msgs)
    full = books.snapshot()
    assert set(full) == {"books", "stats"}
    assert set(full["stats"]) == STATS
    assert full["books"]["AAA"] == {
        "bids": [[999, 10, 1], [998, 27, 2], [997, 30, 1], [996, 40, 1], [995, 50, 1]],
        "asks": [[1010, 5, 1], [1011, 5, 1], [1012, 5, 1]]}
    assert full["books"]["#2"] == {"bids": [], "asks": [[500, 1, 1]]}  # no symbol: #locate
    top = books.snapshot(levels=2)
    assert top["books"]["AAA"] == {"bids": [[999, 10, 1], [998, 27, 2]],
                                   "asks": [[1010, 5, 1], [1011, 5, 1]]}
    for snap in (full, top):
        for ladder in snap["books"].values():
            assert all(type(x) is int for side in ladder.values() for lv in side for x in lv)
        assert json.loads(json.dumps(snap)) == snap


def test_stats_fields() -> None:
    books = built([add(1, "B", 100, 1000), add(2, "B", 100, 999), delete(1), execute(9, 1)])
    st = books.stats()
    assert set(st) == STATS
    assert set(st["integrity"]) == set(INTEGRITY_KINDS)
    assert (st["messages"], st["books"], st["orders"], st["levels"]) == (4, 1, 1, 1)
    assert (st["peak_orders"], st["peak_levels"]) == (2, 2)
    assert st["unknown_ref_by_type"] == {"E": 1}
    assert st["bytes"] > 0 and st["order_bytes"] > 0 and st["level_bytes"] > 0
    assert all(type(v) is int for k, v in st.items() if not isinstance(v, dict))


def test_integrity_records_keep_the_first_few() -> None:
    keep = lib.GW_INTEGRITY_KEEP
    assert keep == 8
    msgs = []
    for i in range(1, 21):
        msgs.append(with_timestamp(delete(1000 + i), 5_000 + i))       # unknown
    for i in range(1, 11):
        msgs.append(with_timestamp(add(7, "B", 10, 100 + i), 9_000 + i))  # 9 duplicates
    msgs.append(with_timestamp(execute(7, 50), 9_999))                 # over-execute
    books = built(msgs)
    model = Model()
    for i, m in enumerate(msgs):
        model.apply(m, i + 1)
    st = books.stats()
    assert st["integrity"]["unknown_ref"] == 20 and st["integrity"]["duplicate_ref"] == 9
    rec = books.integrity()
    unknown = [r for r in rec if r.kind == "unknown_ref"]
    assert [(r.ref, r.seq, r.exch_ns, r.msg_type) for r in unknown] == [
        (1000 + i, i, 5_000 + i, "D") for i in range(1, keep + 1)]
    dup = [r for r in rec if r.kind == "duplicate_ref"]
    assert [(r.ref, r.seq, r.exch_ns, r.instrument) for r in dup] == [
        (7, 21 + i, 9_001 + i, 1) for i in range(1, keep + 1)]
    over = [r for r in rec if r.kind == "over_execute"]
    assert [(r.ref, r.seq, r.exch_ns, r.msg_type) for r in over] == [(7, 31, 9_999, "E")]
    assert len(rec) == 2 * keep + 1
    assert_all_equal(books, model)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("stop")
    out: dict[str, object] = {"messages": list(synth.generate_messages(12_000, 8, 5))}
    for fmt in ("pcap", "binaryfile"):
        out[fmt] = d / f"s.{fmt}"
        synth.write_synth(out[fmt], messages=12_000, symbols=8, seed=5, fmt=fmt)
    return out


def model_until(messages: list[bytes], n: int) -> Model:
    model = Model()
    for i, m in enumerate(messages[:n]):
        model.apply(m, i + 1)
    return model


@pytest.mark.parametrize("fmt", ["pcap", "binaryfile"])
@pytest.mark.parametrize("n", [1, 45, 3_001, 11_999])
def test_stop_after_seq(session: dict[str, object], fmt: str, n: int) -> None:
    books = Books(**CONFIG)
    dec = Decoder(books=books)
    dec.stop_after(seq=n)
    dec.run(Source(session[fmt]))  # type: ignore[arg-type]
    assert books.stats()["messages"] == n
    assert_all_equal(books, model_until(session["messages"], n))  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["pcap", "binaryfile"])
@pytest.mark.parametrize("k", [30, 2_500, 9_000])
def test_stop_after_time(session: dict[str, object], fmt: str, k: int) -> None:
    messages: list[bytes] = session["messages"]  # type: ignore[assignment]
    ts = [int.from_bytes(m[5:11], "big") for m in messages]
    assert ts == sorted(ts)
    t = ts[k]
    n = sum(x <= t for x in ts)  # everything at or before T, nothing after
    books = Books(**CONFIG)
    dec = Decoder(books=books)
    dec.stop_after(exch_ns=t)
    dec.run(Source(session[fmt]))  # type: ignore[arg-type]
    assert books.stats()["messages"] == n
    assert_all_equal(books, model_until(messages, n))


def test_stop_after_time_is_where_the_stream_passes_it() -> None:
    """Timestamps that go back after the point: nothing after the first
    message past T is applied, whether messages share a packet or not."""
    msgs = [with_timestamp(add(1, "B", 10, 100), 1), with_timestamp(add(2, "B", 10, 101), 5),
            with_timestamp(add(3, "B", 10, 102), 3), with_timestamp(add(4, "B", 10, 103), 2)]
    results = []
    for frames in (mold_frames(msgs, [4]), mold_frames(msgs, [1]), itch_frames(msgs)):
        books = Books(**CONFIG)
        dec = Decoder(books=books)
        dec.stop_after(exch_ns=4)
        feed_bursts(dec, frames, 1)
        results.append(c_levels(books.book("AAA"), BID))
    assert results == [[(100, 10, 1)]] * 3
