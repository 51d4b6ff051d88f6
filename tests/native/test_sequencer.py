"""MoldUDP64 sequencing on one line: gaps, duplicates, overlaps, heartbeats,
end of session, several sessions, late join, the session table limit, and a
hypothesis run against a deliberately simple Python model of the rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from _frames import (
    MOLD,
    end_of_session,
    heartbeat,
    hyp,
    mold_packet,
    run_frames,
    sample_message,
    udp_frame,
)
from hypothesis import given
from hypothesis import strategies as st

from protocols import itch50
from protocols import moldudp64 as mold


def msgs(first: int, count: int) -> list[bytes]:
    """``count`` S messages whose stock locate is their sequence (mod 2**16)."""
    return [sample_message("S", first + i) for i in range(count)]


def pkt(first: int, count: int, session: str = "SESSION001") -> bytes:
    return mold_packet(msgs(first, count), first, session)


def run(payloads: list[bytes], **kw):
    """Payloads in Ethernet frames, one per frame, rx_ns = 1000 * (index + 1)."""
    frames = [udp_frame(p) for p in payloads]
    return run_frames(frames, rx_ns=[1000 * (i + 1) for i in range(len(frames))], **kw)


def seqs(res) -> list[int]:
    return res.records["seq"].tolist()


def test_in_order_stream_has_no_gaps() -> None:
    res = run([pkt(1, 3), pkt(4, 1), pkt(5, 10), pkt(15, 2)])
    assert seqs(res) == list(range(1, 17))
    assert res.stats.gaps == res.stats.gap_messages == res.stats.dup_messages == 0
    assert res.decoder.gaps() == []
    (s,) = res.decoder.sessions()
    assert (s.name, s.first_seq, s.next_seq, s.packets, s.messages) == ("SESSION001", 1, 17, 4, 16)
    assert not s.ended


def test_missing_packet_is_one_gap_with_its_range() -> None:
    res = run([pkt(1, 3), pkt(7, 2), pkt(9, 1)])
    assert seqs(res) == [1, 2, 3, 7, 8, 9]
    assert res.stats.gaps == 1 and res.stats.gap_messages == 3
    (g,) = res.decoder.gaps()
    assert (g.session, g.first, g.count, g.rx_ns, g.line) == ("SESSION001", 4, 3, 2000, 0)
    (s,) = res.decoder.sessions()
    assert (s.gaps, s.gap_messages, s.next_seq) == (1, 3, 10)


def test_duplicate_packet_is_counted_not_decoded_twice() -> None:
    res = run([pkt(1, 3), pkt(4, 3), pkt(4, 3), pkt(1, 3), pkt(7, 1)])
    assert seqs(res) == list(range(1, 8))
    assert res.stats.dup_messages == 6
    assert res.stats.reasons == {"mold_duplicate": 6}
    assert res.stats.messages == 7 and res.stats.gaps == 0
    (s,) = res.decoder.sessions()
    assert (s.dup_packets, s.dup_messages, s.messages) == (2, 6, 7)


def test_partially_overlapping_packet_decodes_only_new_messages() -> None:
    res = run([pkt(1, 5), pkt(3, 6)])
    assert seqs(res) == list(range(1, 9))
    # The new ones are the overlapping packet's last three, with their own bytes.
    assert res.dicts()[5:] == [
        {**itch50.decode(m), "session": "SESSION001", "sequence": 6 + i}
        for i, m in enumerate(msgs(6, 3))
    ]
    assert res.records["v"][5:, 1].tolist() == [6, 7, 8]  # stock_locate == sequence
    assert res.stats.dup_messages == 3
    (s,) = res.decoder.sessions()
    assert (s.dup_packets, s.dup_messages, s.messages, s.next_seq) == (1, 3, 8, 9)


def test_heartbeat_ahead_reveals_a_tail_gap() -> None:
    res = run([pkt(1, 4), heartbeat(5), heartbeat(5), heartbeat(9), heartbeat(3)])
    assert res.stats.heartbeats == 4
    (g,) = res.decoder.gaps()
    assert (g.first, g.count, g.rx_ns) == (5, 4, 4000)
    (s,) = res.decoder.sessions()
    assert (s.heartbeats, s.next_seq, s.messages) == (4, 9, 4)
    # Data after the heartbeat continues from its sequence without a new gap.
    res2 = run([pkt(1, 4), heartbeat(9), pkt(9, 2)])
    assert seqs(res2) == [1, 2, 3, 4, 9, 10] and res2.stats.gaps == 1


def test_end_of_session_marks_the_session_ended() -> None:
    res = run([pkt(1, 2), end_of_session(3)])
    (s,) = res.decoder.sessions()
    assert s.ended and res.stats.end_of_session == 1 and res.stats.gaps == 0
    res2 = run([pkt(1, 2), end_of_session(6)])
    (s2,) = res2.decoder.sessions()
    assert s2.ended and [(g.first, g.count) for g in res2.decoder.gaps()] == [(3, 3)]


def test_second_session_has_its_own_entry_and_sequence() -> None:
    res = run([pkt(1, 3, "DAY1"), end_of_session(4, "DAY1"), pkt(1, 2, "DAY2"),
               pkt(4, 1, "DAY1"), pkt(3, 1, "DAY2")])
    a, b = res.decoder.sessions()
    assert (a.name, a.next_seq, a.messages, a.ended) == ("DAY1", 5, 4, True)
    assert (b.name, b.next_seq, b.messages, b.ended) == ("DAY2", 4, 3, False)
    got = [(d["session"], d["sequence"]) for d in res.dicts()]
    assert got == [("DAY1", 1), ("DAY1", 2), ("DAY1", 3), ("DAY2", 1), ("DAY2", 2),
                   ("DAY1", 4), ("DAY2", 3)]
    assert res.records["session"].tolist() == [0, 0, 0, 1, 1, 0, 1]
    assert res.stats.gaps == 0 and res.stats.dup_messages == 0


def test_late_join_is_not_a_gap() -> None:
    res = run([pkt(1000, 3), pkt(1003, 1)])
    (s,) = res.decoder.sessions()
    assert (s.first_seq, s.next_seq, s.gaps) == (1000, 1004, 0)
    assert res.stats.gaps == 0 and seqs(res) == [1000, 1001, 1002, 1003]
    # Joining on a heartbeat: data at its sequence is not a gap either.
    res2 = run([heartbeat(50), pkt(50, 1)])
    (s2,) = res2.decoder.sessions()
    assert (s2.first_seq, s2.next_seq, res2.stats.gaps) == (50, 51, 0)


def test_more_than_16_sessions_fills_the_table() -> None:
    names = [f"S{i:03d}" for i in range(18)]
    payloads = [pkt(1, 1, n) for n in names] + [pkt(2, 1, names[0]), pkt(2, 1, names[17])]
    res = run(payloads)
    assert [s.name for s in res.decoder.sessions()] == names[:16]
    assert res.stats.reasons == {"mold_sessions_full": 3}
    assert res.stats.messages == 17 and res.stats.mold_packets == 20
    assert [(d["session"], d["sequence"]) for d in res.dicts()][-1] == ("S000", 2)


def test_count_overrun_advances_only_by_what_was_framed() -> None:
    broken = mold.encode_header("SESSION001", 1, 5) + b"".join(
        len(m).to_bytes(2, "big") + m for m in msgs(1, 3))
    res = run([broken, pkt(6, 2)])
    assert seqs(res) == [1, 2, 3, 6, 7]
    assert res.stats.reasons == {"mold_count_overrun": 1}
    (g,) = res.decoder.gaps()
    assert (g.first, g.count) == (4, 2)


def test_late_packet_behind_a_gap_is_a_duplicate() -> None:
    """Policy: the sequencer does not fill gaps; recovery is the feed handler's."""
    res = run([pkt(1, 3), pkt(7, 3), pkt(4, 3)])
    assert seqs(res) == [1, 2, 3, 7, 8, 9]
    assert res.stats.gap_messages == 3 and res.stats.dup_messages == 3


def test_gap_log_keeps_the_first_256_and_stats_count_all() -> None:
    payloads = [pkt(1 + 2 * i, 1) for i in range(300)]  # every other sequence missing
    res = run_frames(payloads, MOLD)
    assert res.stats.gaps == 299 and res.stats.gap_messages == 299
    gaps = res.decoder.gaps()
    assert len(gaps) == 256
    assert [(g.first, g.count) for g in gaps] == [(2 + 2 * i, 1) for i in range(256)]


def test_session_names_keep_every_byte_but_trailing_spaces() -> None:
    names = [b"ABC\t      ", b"ABC\xa0     ", b"ABC       ", b"\x00" * 10, b" LEADING  "]
    res = run_frames([mold_packet(msgs(1, 1), 1, n) for n in names], MOLD)
    want = [mold.decode_packet(mold_packet(msgs(1, 1), 1, n)).session for n in names]
    assert res.decoder.session_names() == want
    assert len(set(want)) == len(names)


# ------------------------------------------------------------ model check


@dataclass
class Model:
    """The sequencing rules, written as plainly as possible."""

    next: dict[str, int] = field(default_factory=dict)
    first: dict[str, int] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    decoded: list[tuple[str, int]] = field(default_factory=list)
    gaps: list[tuple[str, int, int]] = field(default_factory=list)
    dups: int = 0
    full: int = 0

    def packet(self, name: str, seq: int, count: int) -> None:
        if name not in self.next:
            if len(self.next) == 16:
                self.full += 1
                return
            self.next[name] = seq
            self.first[name] = seq
        expected = self.next[name]
        if seq > expected:
            self.gaps.append((name, expected, seq - expected))
            expected = seq
        if count in (0, 0xFFFF):
            if count == 0xFFFF:
                self.ended.add(name)
            self.next[name] = expected
            return
        skip = expected - seq
        self.dups += min(skip, count)
        for s in range(seq + skip, seq + count):
            self.decoded.append((name, s))
        self.next[name] = max(expected, seq + count)


packet_strategy = st.tuples(
    st.sampled_from([f"N{i:02d}" for i in range(18)] + ["MAIN"] * 30),
    st.integers(1, 40),
    st.sampled_from([0, 0xFFFF, 1, 1, 2, 3, 5]),
)


@hyp(200)
@given(packets=st.lists(packet_strategy, min_size=1, max_size=60))
def test_sequencer_matches_a_simple_model(packets: list[tuple[str, int, int]]) -> None:
    model = Model()
    payloads = []
    for name, seq, count in packets:
        model.packet(name, seq, count)
        if count == 0:
            payloads.append(heartbeat(seq, name))
        elif count == 0xFFFF:
            payloads.append(end_of_session(seq, name))
        else:
            payloads.append(pkt(seq, count, name))
    res = run_frames(payloads, MOLD)
    assert [(d["session"], d["sequence"]) for d in res.dicts()] == model.decoded
    assert res.records["v"][:, 1].tolist() == [s % 65536 for _, s in model.decoded]
    assert [(g.session, g.first, g.count) for g in res.decoder.gaps()] == model.gaps
    assert res.stats.dup_messages == model.dups
    assert res.stats.reasons.get("mold_sessions_full", 0) == model.full
    sessions = {s.name: s for s in res.decoder.sessions()}
    assert list(sessions) == list(model.next)
    for name, s in sessions.items():
        assert (s.first_seq, s.next_seq, s.ended) == (
            model.first[name], model.next[name], name in model.ended)
