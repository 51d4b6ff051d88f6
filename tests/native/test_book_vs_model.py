"""The C books against the independent model (``book_model.py``).

* Hypothesis writes adversarial message sequences: adds, executions (with
  and without price), cancels, deletes, replaces, trades, crosses, trading
  actions, directory entries (some renaming) and system events over four
  locates (two carrying the same symbol) and twelve references: unknown references,
  duplicates, over-executions and crossed books all happen.  They go in as
  Ethernet/MoldUDP64 frames, bare MoldUDP64 payloads or one bare message per
  frame, a few frames per decoder call, and after EVERY call every level,
  every queue, the BBO, the flags, the counters and the kept integrity
  records must equal the model's.
* Longer random sequences (seeded) are compared at the end.
* ``gateway.synth`` sessions: small ones after every burst, larger ones at
  the end, through the real capture files.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from _frames import hyp
from book_model import (
    Model,
    add,
    assert_all_equal,
    cancel,
    cross,
    delete,
    directory,
    execute,
    execute_at,
    feed_bursts,
    itch_frames,
    mold_frames,
    msg,
    replace,
    system_event,
    trade,
    trading_action,
)
from hypothesis import given
from hypothesis import strategies as st

from gateway import synth
from gateway._native import lib
from gateway.book import Books
from gateway.native import Decoder, Source

SYMBOLS = {1: "AAA", 2: "BBB", 3: "CCC", 4: "AAA"}  # locate 4 carries locate 1's symbol
SMALL = dict(max_instruments=64, max_orders=4096, max_levels=4096, event_capacity=0)

_refs = st.integers(1, 12)
_locates = st.sampled_from(sorted(SYMBOLS))
_prices = st.integers(995, 1005)  # narrow: books cross often
_shares = st.integers(1, 300)
_adds = st.tuples(st.sampled_from("AF"), _locates, _refs, st.sampled_from("BS"), _shares, _prices)
OPS = st.one_of(
    _adds,
    _adds,
    _adds,
    st.tuples(st.sampled_from("ECX"), _locates, _refs, st.integers(1, 400), _prices),
    st.tuples(st.just("D"), _locates, _refs),
    st.tuples(st.just("U"), _locates, _refs, _refs, _shares, _prices),
    st.tuples(st.sampled_from("PQ"), _locates, st.sampled_from("BS"), _shares, _prices),
    st.tuples(st.just("H"), _locates, st.sampled_from("HPQT")),
    st.tuples(st.just("R"), _locates, st.sampled_from(["", "", "AAA", "BBB", "DDD"])),  # renames
    st.tuples(st.just("S"), st.sampled_from("OSQMEC")),
    st.tuples(st.just("I"), _locates),  # a type the books ignore
)


def op_lists(longest: int) -> st.SearchStrategy[list[tuple]]:
    """Lists of operations of every length up to ``longest`` (hypothesis on
    its own draws mostly short lists)."""
    return st.integers(1, longest).flatmap(lambda n: st.lists(OPS, min_size=n, max_size=n))


def encode_ops(ops: list[tuple]) -> list[bytes]:
    """Messages from drawn operations; timestamps rise, match numbers count."""
    out = []
    for i, op in enumerate(ops):
        ts, match, code = 1_000 * (i + 1), i + 1, op[0]
        if code in "AF":
            _, loc, ref, side, shares, price = op
            out.append(add(ref, side, shares, price, loc, SYMBOLS[loc], ts,
                           mpid="MPID" if code == "F" else None))
        elif code == "E":
            out.append(execute(op[2], op[3], match, op[1], ts))
        elif code == "C":
            out.append(execute_at(op[2], op[3], op[4], match, op[1], ts,
                                  printable="YN"[i % 2]))
        elif code == "X":
            out.append(cancel(op[2], op[3], op[1], ts))
        elif code == "D":
            out.append(delete(op[2], op[1], ts))
        elif code == "U":
            _, loc, old, new, shares, price = op
            out.append(replace(old, new, shares, price, loc, ts))
        elif code == "P":
            _, loc, side, shares, price = op
            out.append(trade(side, shares, price, match, loc, SYMBOLS[loc], ts))
        elif code == "Q":
            _, loc, _, shares, price = op
            out.append(cross(shares, price, match, loc, SYMBOLS[loc], ts))
        elif code == "H":
            out.append(trading_action(op[1], SYMBOLS[op[1]], op[2], "X", ts))
        elif code == "R":
            out.append(directory(op[1], op[2] or SYMBOLS[op[1]], ts))
        elif code == "S":
            out.append(system_event(op[1], ts))
        else:
            out.append(msg("I", stock_locate=op[1], timestamp=ts, stock=SYMBOLS[op[1]]))
    return out


def frames_for(messages: list[bytes], how: str, per_packet: list[int]) -> list:
    if how == "itch":
        return itch_frames(messages)
    return mold_frames(messages, per_packet, ethernet=how == "eth")


@hyp(110)
@given(
    ops=op_lists(120),
    how=st.sampled_from(["eth", "mold", "itch"]),
    per_packet=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    burst=st.sampled_from([1, 2, 3, 7]),
)
def test_every_burst_equals_model(ops: list[tuple], how: str, per_packet: list[int],
                                  burst: int) -> None:
    books = Books(**SMALL)
    dec = Decoder(books=books)
    model = Model()
    frames = frames_for(encode_ops(ops), how, per_packet)
    feed_bursts(dec, frames, burst, lambda: assert_all_equal(books, model), model)
    assert books.stats()["messages"] == len(ops)


def test_duplicate_reference_across_instruments() -> None:
    """An add naming a reference live in ANOTHER instrument: the old order
    leaves that book, whose BBO, level count and crossed flag follow (they
    used to keep the departed order), under that book's seqlock."""
    books = Books(**{**SMALL, "event_capacity": 64})
    model = Model()
    msgs = [add(1, "B", 100, 1000, 1, "AAA"), add(2, "S", 100, 999, 1, "AAA"),  # crossed
            add(1, "B", 200, 1500, 2, "BBB"),  # ref 1 moves to BBB: AAA uncrossed
            replace(9, 2, 5, 5, 3), add(3, "S", 10, 1600, 3, "CCC"),
            replace(3, 2, 7, 1700, 3)]  # U whose new reference is AAA's order 2
    feed_bursts(Decoder(books=books), itch_frames(msgs), 1,
                lambda: assert_all_equal(books, model), model)
    aaa = books.book("AAA").info()
    assert (aaa.bid_price, aaa.bid_levels, aaa.ask_price, aaa.ask_levels) == (0, 0, 0, 0)
    assert not aaa.crossed and aaa.crossed_count == 1 and aaa.orders == 0
    assert books.stats()["integrity"]["duplicate_ref"] == 2
    bbo = [(int(e["instrument"]), chr(e["side"]), int(e["price"]))
           for part in books.events() for e in part if e["kind"] == lib.GW_EV_BBO]
    assert (1, "B", 0) in bbo and (1, "S", 0) in bbo


def random_ops(rng: random.Random, n: int, refs: int, locates: int) -> list[bytes]:
    """A long adversarial sequence, same mix as the hypothesis one, wider."""
    syms = {loc: f"S{(loc - 1) % max(1, locates - 1)}" for loc in range(1, locates + 1)}
    out = []
    for i in range(n):
        ts, r = 1_000 * (i + 1), rng.random()
        loc = rng.randint(1, locates)
        ref = rng.randint(1, refs)
        price = rng.randint(990, 1010)
        if r < 0.45:
            out.append(add(ref, rng.choice("BS"), rng.randint(1, 500), price, loc, syms[loc], ts,
                           mpid="MPID" if r < 0.05 else None))
        elif r < 0.55:
            out.append(execute(ref, rng.randint(1, 600), i, loc, ts))
        elif r < 0.60:
            out.append(execute_at(ref, rng.randint(1, 600), price, i, loc, ts))
        elif r < 0.68:
            out.append(cancel(ref, rng.randint(1, 600), loc, ts))
        elif r < 0.83:
            out.append(delete(ref, loc, ts))
        elif r < 0.95:
            out.append(replace(ref, rng.randint(1, refs), rng.randint(1, 500), price, loc, ts))
        elif r < 0.97:
            out.append(trade(rng.choice("BS"), rng.randint(1, 500), price, i, loc, syms[loc], ts))
        elif r < 0.98:
            out.append(directory(loc, syms[loc], ts))
        else:
            out.append(trading_action(loc, syms[loc], rng.choice("HT"), "", ts))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_long_random_sequences_final_books(seed: int) -> None:
    rng = random.Random(seed)
    messages = random_ops(rng, 6_000, refs=rng.choice((40, 300)), locates=6)
    books = Books(**SMALL)
    dec = Decoder(books=books)
    model = Model()
    checks = 0

    def check() -> None:
        nonlocal checks
        checks += 1
        if checks % 50 == 0:
            assert_all_equal(books, model, orders=False)

    feed_bursts(dec, mold_frames(messages, [1, 5, 17, 3]), 64, check, model)
    assert_all_equal(books, model)
    st = books.stats()
    for kind in ("unknown_ref", "over_execute", "over_cancel", "duplicate_ref", "crossed"):
        assert st["integrity"][kind] > 0, kind


@pytest.mark.parametrize("seed", [3, 8])
def test_small_synth_every_burst(seed: int) -> None:
    messages = list(synth.generate_messages(1_500, 5, seed))
    books = Books(**SMALL)
    dec = Decoder(books=books)
    model = Model()
    frames = mold_frames(messages, [1, 4, 9, 2])
    feed_bursts(dec, frames, 3, lambda: assert_all_equal(books, model, orders=False), model)
    assert_all_equal(books, model)
    assert sum(len(model.orders_at(i, s, p)) for i in model.instruments
               for s in "BS" for p in model.instruments[i].side(s)) == len(model.orders) > 0


@pytest.fixture(scope="module")
def synth_sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, Model]]:
    d = tmp_path_factory.mktemp("synth_books")
    out = {}
    for seed, fmt in ((1, "pcap"), (2, "binaryfile"), (5, "pcapng")):
        path = d / f"s{seed}.{fmt}"
        synth.write_synth(path, messages=30_000, symbols=25, seed=seed, fmt=fmt)
        model = Model()
        for i, m in enumerate(synth.generate_messages(30_000, 25, seed)):
            model.apply(m, i + 1)
        out[seed] = (path, model)
    return out


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_synth_session_final_books(synth_sessions: dict[int, tuple[Path, Model]],
                                   seed: int) -> None:
    path, model = synth_sessions[seed]
    books = Books(**SMALL)
    Decoder(books=books).run(Source(path))
    assert_all_equal(books, model)
    st = books.stats()
    # The generator never sends a bad reference nor crosses a book.
    assert sum(st["integrity"].values()) == 0
    assert st["orders"] == len(model.orders) > 100
