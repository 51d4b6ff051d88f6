"""The live feed's sequencer (hold mode): per-message A/B arbitration, the
gap buffer, recovery through the same path, giving up, joining late.

Every scenario delivers the same synthetic session as packets on several
lines -- packed differently per line, lost, reordered, duplicated -- and
checks the outcome against decoding the session once, in order: the same
books, the same message count and the same digest (the sum of a per-message
hash, so a message applied twice or skipped shows), unless messages were
given up, in which case exactly those are missing and the books are stale.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from _frames import hyp
from hypothesis import given
from hypothesis import strategies as st

from gateway import synth
from gateway._native import ffi, lib
from gateway.book import Books
from gateway.native import Decoder, digest_of
from protocols import moldudp64 as mold

SESSION = "HOLDTEST01"
N = 1500
MESSAGES = list(synth.generate_messages(N, 6, 11))
RETRANSMIT = lib.GW_MAX_LINES - 1


@dataclass
class Pkt:
    line: int
    data: bytes


def packets(first: int, last: int, per: int, line: int) -> list[Pkt]:
    """Messages first..last (1-based, inclusive) in packets of ``per``."""
    out = []
    for s in range(first, last + 1, per):
        e = min(last, s + per - 1)
        out.append(Pkt(line, mold.encode_packet(SESSION, s, MESSAGES[s - 1 : e])))
    return out


def new_books() -> Books:
    return Books(max_instruments=32, max_orders=50_000, max_levels=20_000, event_capacity=0)


def deliver(dec: Decoder, pkts: list[Pkt], burst: int = 7) -> None:
    keep: list[Any] = []
    arr = ffi.new("struct gw_frame[]", max(1, len(pkts)))
    for i, p in enumerate(pkts):
        buf = ffi.from_buffer("uint8_t[]", p.data)
        keep.append(buf)
        f = arr[i]
        f.data, f.len, f.wire_len = buf, len(p.data), len(p.data)
        f.rx_ns, f.link, f.line, f.flags = 1_000 + i, lib.GW_LINK_MOLD, p.line, 0
    done = 0
    while done < len(pkts):
        done += dec.frames(arr + done, min(burst, len(pkts) - done))


def reference() -> tuple[dict[str, Any], int]:
    books = new_books()
    dec = Decoder(books=books)
    deliver(dec, packets(1, N, 10, 0))
    return books.snapshot(), dec.stats().digest


REF_BOOKS, REF_DIGEST = reference()


def hold_decoder(**kw: Any) -> tuple[Decoder, Books]:
    books = new_books()
    kw.setdefault("join_gap", 100)  # a first packet lost on both lines is recoverable
    return Decoder(books=books, hold=True, **kw), books


def assert_whole(dec: Decoder, books: Books) -> None:
    st = dec.stats()
    assert st.messages == N and st.digest == REF_DIGEST
    assert books.snapshot() == REF_BOOKS
    assert dec.missing() == []
    (s,) = dec.sessions()
    assert s.next_seq == N + 1 and s.held == 0 and s.lost == 0
    assert books.stats()["stale_books"] == 0


def lose(pkts: list[Pkt], rng: random.Random, frac: float) -> tuple[list[Pkt], set[int]]:
    """Drop a fraction of packets; returns the rest and the sequences lost."""
    kept, lost = [], set()
    for p in pkts:
        if rng.random() < frac:
            h = mold.decode_packet(p.data)
            lost.update(range(h.sequence, h.sequence + len(h.messages)))
        else:
            kept.append(p)
    return kept, lost


def interleave(rng: random.Random, *lines: list[Pkt], skew: int = 3) -> list[Pkt]:
    """Merge lines in sequence order with each line up to ``skew`` packets
    early or late (what two paths through different switches look like)."""
    keyed = []
    for pk in lines:
        for i, p in enumerate(pk):
            keyed.append((mold.decode_packet(p.data).sequence + rng.randint(0, skew) * 10, i, p))
    keyed.sort(key=lambda t: (t[0], t[1]))
    return [p for _, _, p in keyed]


def test_ab_loss_on_either_line_is_arbitrated_per_message() -> None:
    rng = random.Random(1)
    a, lost_a = lose(packets(1, N, 10, 0), rng, 0.2)
    b, lost_b = lose(packets(1, N, 7, 1), rng, 0.2)  # packed differently
    for seq in sorted(lost_a & lost_b):  # keep the test about A/B only
        b.append(Pkt(1, mold.encode_packet(SESSION, seq, [MESSAGES[seq - 1]])))
    dec, books = hold_decoder()
    deliver(dec, interleave(rng, a, b))
    assert_whole(dec, books)
    lines = {ln.line: ln for ln in dec.lines()}
    assert lines[0].first + lines[1].first == N
    assert lines[0].lost > 0 and lines[1].lost > 0
    assert dec.stats().dup_messages > 0


def test_b_only_and_a_only_loss() -> None:
    for dead in (0, 1):
        rng = random.Random(dead)
        a, _ = lose(packets(1, N, 10, 0), rng, 1.0 if dead == 0 else 0.0)
        b, _ = lose(packets(1, N, 10, 1), rng, 1.0 if dead == 1 else 0.0)
        dec, books = hold_decoder()
        deliver(dec, a + b)
        assert_whole(dec, books)


def test_loss_on_both_lines_is_reported_and_filled_by_retransmission() -> None:
    rng = random.Random(2)
    a = packets(1, N, 10, 0)
    b = packets(1, N, 10, 1)
    gone = {3, 4, 50, 120}  # packets lost on both lines
    a = [p for i, p in enumerate(a) if i not in gone]
    b = [p for i, p in enumerate(b) if i not in gone]
    dec, books = hold_decoder()
    deliver(dec, interleave(rng, a, b))
    missing = [(m.first, m.count) for m in dec.missing()]
    assert missing == [(31, 20), (501, 10), (1201, 10)]
    (s,) = dec.sessions()
    assert s.next_seq == 31 and s.held == N - 30 - 40 and s.gap_since_ns > 0
    # Answers come in any order, some twice, packed their own way.
    answers = [p for f, c in missing for p in packets(f, f + c - 1, 3, RETRANSMIT)]
    rng.shuffle(answers)
    deliver(dec, answers + answers[:4])
    assert_whole(dec, books)
    assert dec.sessions()[0].filled >= 40  # and what B brought after A's later packets


def test_give_up_marks_books_stale_applies_what_follows_and_goes_on() -> None:
    pk = packets(1, N, 10, 0)
    dec, books = hold_decoder()
    deliver(dec, pk[:5] + pk[7:100])  # 51..70 never come
    assert [(m.first, m.count) for m in dec.missing()] == [(51, 20)]
    assert dec.give_up(0, 0, 5) == 20
    (s,) = dec.sessions()
    assert s.lost == 20 and s.held == 0 and s.next_seq == 1001
    deliver(dec, pk[100:])
    st = dec.stats()
    assert st.messages == N - 20
    assert st.digest == (REF_DIGEST - sum(digest_of(m) for m in MESSAGES[50:70])) % 2**64
    assert books.stats()["stale_books"] == books.stats()["books"] > 0
    assert [(g.first, g.count) for g in dec.gaps()] == [(51, 20)]
    # An answer arriving after the give-up changes nothing.
    deliver(dec, packets(51, 70, 20, RETRANSMIT))
    assert dec.stats().messages == N - 20


def test_give_up_below_a_point_keeps_later_gaps_open() -> None:
    pk = packets(1, N, 10, 0)
    dec, _ = hold_decoder()
    deliver(dec, pk[:2] + pk[3:6] + pk[7:])  # 21..30 and 61..70 missing
    assert dec.give_up(0, 31, 0) == 10
    assert [(m.first, m.count) for m in dec.missing()] == [(61, 10)]
    assert dec.sessions()[0].next_seq == 61


def test_a_full_gap_buffer_gives_up_early_and_is_counted() -> None:
    pk = packets(1, N, 10, 0)
    dec, books = hold_decoder(hold_messages=64)
    deliver(dec, pk[:2] + pk[3:])  # 21..30 lost; 64 slots cannot hold the rest
    st = dec.stats()
    assert st.reasons.get("mold_hold_full") == 1
    assert st.messages == N - 10
    assert dec.sessions()[0].lost == 10 and dec.missing() == []
    assert books.stats()["stale_books"] > 0


def test_heartbeat_reveals_a_gap_at_the_tail() -> None:
    dec, _ = hold_decoder()
    deliver(dec, [*packets(1, 100, 10, 0), Pkt(1, mold.encode_heartbeat(SESSION, 131))])
    assert [(m.first, m.count) for m in dec.missing()] == [(101, 30)]
    deliver(dec, packets(101, 130, 30, RETRANSMIT))
    assert dec.missing() == [] and dec.stats().messages == 130


def test_join_near_the_start_recovers_from_one() -> None:
    dec, books = hold_decoder(join_gap=100)
    deliver(dec, packets(41, N, 10, 0))
    assert [(m.first, m.count) for m in dec.missing()] == [(1, 40)]
    deliver(dec, packets(1, 40, 40, RETRANSMIT))
    assert_whole(dec, books)


def test_join_far_in_is_late_counted_and_stale() -> None:
    dec, books = hold_decoder(join_gap=100)
    deliver(dec, packets(501, N, 10, 0))
    st = dec.stats()
    assert st.reasons.get("mold_late_join") == 1
    assert dec.missing() == [] and dec.sessions()[0].first_seq == 501
    assert dec.sessions()[0].lost == 500
    assert books.stats()["stale_books"] == books.stats()["books"] > 0


def test_a_new_session_is_sequenced_on_its_own() -> None:
    dec, _ = hold_decoder()
    deliver(dec, packets(1, 50, 10, 0))
    other = [Pkt(0, mold.encode_packet("NEXTDAY001", 1, MESSAGES[:5]))]
    deliver(dec, other)
    names = dec.session_names()
    assert names == [SESSION, "NEXTDAY001"]
    assert [s.next_seq for s in dec.sessions()] == [51, 6]


def test_hold_mode_refuses_records() -> None:
    from gateway.errors import ConfigError

    with pytest.raises(ConfigError, match="records"):
        Decoder(records=True, hold=True)


@hyp(30)
@given(seed=st.integers(0, 2**32 - 1), loss_a=st.sampled_from([0.0, 0.1, 0.5]),
       loss_b=st.sampled_from([0.0, 0.1, 0.5]), skew=st.integers(0, 6),
       dup=st.floats(0, 0.3), burst=st.integers(1, 40))
def test_any_delivery_order_applies_every_message_once(seed: int, loss_a: float, loss_b: float,
                                                       skew: int, dup: float, burst: int) -> None:
    rng = random.Random(seed)
    a, lost_a = lose(packets(1, N, rng.randint(1, 30), 0), rng, loss_a)
    b, lost_b = lose(packets(1, N, rng.randint(1, 30), 1), rng, loss_b)
    stream = interleave(rng, a, b, skew=skew)
    stream += [p for p in stream if rng.random() < dup]  # late duplicates
    # End of session on both lines: a loss at the very end is seen too.
    stream += [Pkt(ln, mold.encode_end_of_session(SESSION, N + 1)) for ln in (0, 1)]
    dec, books = hold_decoder()
    deliver(dec, stream, burst)
    both = sorted(lost_a & lost_b)
    missing = {q for m in dec.missing(10_000) for q in range(m.first, m.first + m.count)}
    assert missing == set(both)
    answers = [p for q in both for p in packets(q, q, 1, RETRANSMIT)]
    rng.shuffle(answers)
    deliver(dec, answers, burst)
    assert_whole(dec, books)
