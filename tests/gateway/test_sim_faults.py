"""Fault plans of the simulator: parsing, and seeded decisions that do exactly
what the plan says (which packets, how many)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import ConfigError
from gateway.sim.faults import (
    Datagram,
    LineFaultPlan,
    LineFaults,
    RetransmitFaultPlan,
    RetransmitFaults,
    SeqStop,
    TimeStop,
)

MS = 1_000_000


def packets(n: int, per: int = 10) -> list[Datagram]:
    """n packets of ``per`` messages each, sequences from 1."""
    return [Datagram(1 + i * per, per, b"p%d" % i) for i in range(n)]


def run(faults: LineFaults, pkts: list[Datagram], now_ns: int = 0
        ) -> list[tuple[int, Datagram]]:
    """(index of the decide call that emitted it, or len(pkts) for flush, packet)."""
    out = [(i, d) for i, p in enumerate(pkts) for d in faults.decide(p, now_ns)]
    return out + [(len(pkts), d) for d in faults.flush()]


def draws(seed: int | str, n: int) -> list[tuple[float, float, float]]:
    """The documented draws: three numbers per packet offered (drop, reorder, dup)."""
    rng = random.Random(seed)
    return [(rng.random(), rng.random(), rng.random()) for _ in range(n)]


# ---- parsing -------------------------------------------------------------------


def test_parse_full_spec() -> None:
    plan = LineFaultPlan.parse(
        "drop=0.01, burst=100-199,reorder=0.001:3,dup=0.002,stop=5000+2000,"
        "stop=@1.5s+250ms,burst=7-7,seed=9")
    assert plan == LineFaultPlan(
        drop=0.01, bursts=((100, 199), (7, 7)), reorder=0.001, reorder_depth=3, dup=0.002,
        stops=(SeqStop(5000, 2000), TimeStop(1_500 * MS, 250 * MS)), seed=9)
    assert LineFaultPlan.parse(str(plan)) == plan
    assert plan.loses
    assert not LineFaultPlan.parse("reorder=0.5,dup=1").loses
    assert LineFaultPlan.parse("") == LineFaultPlan.parse("none") == LineFaultPlan()
    assert LineFaultPlan.parse("reorder=0.2").reorder_depth == 1


def test_parse_retransmit_spec() -> None:
    plan = RetransmitFaultPlan.parse("delay=20ms,drop=0.25,stop=3,seed=4")
    assert plan == RetransmitFaultPlan(delay_ns=20 * MS, drop=0.25, stop_after=3, seed=4)
    assert RetransmitFaultPlan.parse(str(plan)) == plan
    assert RetransmitFaultPlan.parse("stop").stop_after == 0
    assert RetransmitFaultPlan.parse("delay=1.5").delay_ns == 1_500 * MS
    assert RetransmitFaultPlan.parse("delay=800us").delay_ns == 800_000
    assert RetransmitFaultPlan.parse("delay=7ns").delay_ns == 7


@pytest.mark.parametrize(("spec", "key", "says"), [
    ("drop=0.1,bogus=3", "bogus", "allowed: drop, burst, reorder, dup, stop, seed"),
    ("drop=1.5", "drop", "probability 0..1"),
    ("drop=lots", "drop", "probability 0..1"),
    ("drop", "drop", "needs a value"),
    ("drop=0.1,drop=0.2", "drop", "given twice"),
    ("burst=200-100", "burst", "FIRST <= LAST"),
    ("burst=0-5", "burst", "FIRST <= LAST"),
    ("burst=100", "burst", "FIRST-LAST"),
    ("reorder=0.1:0", "reorder", "depth after ':'"),
    ("reorder=2", "reorder", "probability"),
    ("dup=-0.1", "dup", "probability"),
    ("stop=5000", "stop", "SEQ+PACKETS"),
    ("stop=5000+0", "stop", "PACKETS >= 1"),
    ("stop=@soon+1s", "stop", "@TIME+DURATION"),
    ("seed=x", "seed", "integer"),
])
def test_line_parse_errors_name_the_key(spec: str, key: str, says: str) -> None:
    with pytest.raises(ConfigError) as e:
        LineFaultPlan.parse(spec, "--faults-a")
    assert e.value.key == key
    assert says in str(e.value)
    assert "--faults-a" in str(e.value)


@pytest.mark.parametrize(("spec", "key", "says"), [
    ("delay=fast", "delay", "duration"),
    ("delay=5min", "delay", "duration"),
    ("drop=2", "drop", "probability"),
    ("stop=-1", "stop", "integer >= 0"),
    ("reorder=0.1", "reorder", "allowed: delay, drop, stop, seed"),
])
def test_retransmit_parse_errors_name_the_key(spec: str, key: str, says: str) -> None:
    with pytest.raises(ConfigError) as e:
        RetransmitFaultPlan.parse(spec)
    assert e.value.key == key
    assert says in str(e.value)


# ---- line decisions --------------------------------------------------------------


def test_no_faults_sends_everything_in_order() -> None:
    pkts = packets(50)
    f = LineFaults(LineFaultPlan())
    assert [d for _, d in run(f, pkts)] == pkts
    assert f.counters.dropped == f.counters.duplicated == f.counters.reordered == 0


def test_drop_drops_exactly_the_packets_its_draws_say() -> None:
    pkts = packets(2000)
    f = LineFaults(LineFaultPlan(drop=0.1), seed=5)
    sent = {d.first_seq for _, d in run(f, pkts)}
    lost = {p.first_seq for p, r in zip(pkts, draws(5, len(pkts)), strict=True) if r[0] < 0.1}
    assert sent == {p.first_seq for p in pkts} - lost
    assert f.counters.dropped == len(lost)
    assert f.counters.dropped_messages == 10 * len(lost)
    assert 140 <= len(lost) <= 260  # ~200 expected: the draws are really uniform
    # the plan's own seed overrides the one given, and decides the same way
    g = LineFaults(LineFaultPlan(drop=0.1, seed=5), seed=99)
    assert {d.first_seq for _, d in run(g, pkts)} == sent


def test_drops_do_not_move_when_reorder_and_dup_are_added() -> None:
    pkts = packets(500)
    plain = LineFaults(LineFaultPlan(drop=0.2), seed=3)
    mixed = LineFaults(LineFaultPlan(drop=0.2, reorder=0.3, dup=0.3), seed=3)
    assert ({d.first_seq for _, d in run(plain, pkts)}
            == {d.first_seq for _, d in run(mixed, pkts)})
    assert plain.counters.dropped == mixed.counters.dropped


def test_burst_drops_every_packet_touching_the_range() -> None:
    pkts = packets(40)  # 1-10, 11-20, ...
    f = LineFaults(LineFaultPlan(bursts=((100, 199), (305, 305))))
    sent = [d.first_seq for _, d in run(f, pkts)]
    lost = [91, 101, 111, 121, 131, 141, 151, 161, 171, 181, 191, 301]
    assert sorted(set(range(1, 401, 10)) - set(sent)) == lost
    assert f.counters.dropped == len(lost)


def test_dup_sends_the_drawn_packets_twice_back_to_back() -> None:
    pkts = packets(1000)
    f = LineFaults(LineFaultPlan(dup=0.05), seed=11)
    out = [d for _, d in run(f, pkts)]
    twice = {p.first_seq for p, r in zip(pkts, draws(11, len(pkts)), strict=True) if r[2] < 0.05}
    assert twice and f.counters.duplicated == len(twice)
    assert len(out) == len(pkts) + len(twice)
    i = 0
    for p in pkts:  # order kept; a duplicate follows its original
        assert out[i] == p
        i += 2 if p.first_seq in twice else 1


@pytest.mark.parametrize("depth", [1, 3])
def test_reorder_holds_the_drawn_packets_for_depth_packets(depth: int) -> None:
    pkts = packets(1000)
    f = LineFaults(LineFaultPlan(reorder=0.05, reorder_depth=depth), seed=21)
    held = {i for i, r in enumerate(draws(21, len(pkts))) if r[1] < 0.05}
    emitted = run(f, pkts)
    assert held and f.counters.reordered == len(held)
    assert sorted(d.first_seq for _, d in emitted) == [p.first_seq for p in pkts]
    for call, d in emitted:
        i = (d.first_seq - 1) // 10
        assert call == (min(i + depth, len(pkts)) if i in held else i)
    # within one call a held packet follows the packet offered in that call
    order = [d.first_seq for _, d in emitted]
    first_held = min(held)
    if first_held + depth < len(pkts) and first_held + depth not in held:
        at = order.index(pkts[first_held].first_seq)
        assert order[at - 1] == pkts[first_held + depth].first_seq


def test_seq_stop_silences_the_line_for_n_packets() -> None:
    pkts = packets(20)
    f = LineFaults(LineFaultPlan(stops=(SeqStop(55, 3),)))
    silent = []
    sent = []
    for p in pkts:
        sent += [d.first_seq for d in f.decide(p, 0)]
        silent.append(f.stopped(0))
    assert sorted(set(range(1, 201, 10)) - set(sent)) == [51, 61, 71]
    # silent from the packet carrying 55 (51-60) through the third withheld one
    assert silent[4:8] == [False, True, True, False]
    assert f.counters.stopped == f.counters.dropped == 3


def test_time_stop_silences_the_line_for_a_while() -> None:
    pkts = packets(4)
    f = LineFaults(LineFaultPlan(stops=(TimeStop(1_000 * MS, 500 * MS),)))
    t0 = 7_000 * MS
    f.begin(t0)
    at = [t0 + 500 * MS, t0 + 1_000 * MS, t0 + 1_499 * MS, t0 + 1_500 * MS]
    sent = [d.first_seq for p, t in zip(pkts, at, strict=True) for d in f.decide(p, t)]
    assert sent == [1, 31]
    assert [f.stopped(t) for t in at] == [False, True, True, False]
    assert f.counters.stopped == 2


def test_held_packets_due_during_a_stop_are_lost_with_it() -> None:
    pkts = packets(10)
    f = LineFaults(LineFaultPlan(reorder=1.0, stops=(SeqStop(21, 1),)))
    out = [d.first_seq for _, d in run(f, pkts)]
    # reorder=1 holds every packet one call; packet 2's call (seq 21..30) is
    # silent, so packet 1 released then is lost with it
    assert 11 not in out and 21 not in out
    assert f.counters.stopped == 2


@given(
    sizes=st.lists(st.integers(1, 60), min_size=1, max_size=80),
    reorder=st.floats(0, 1), depth=st.integers(1, 6), dup=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_without_loss_faults_every_sequence_is_sent(
    sizes: list[int], reorder: float, depth: int, dup: float, seed: int
) -> None:
    pkts, seq = [], 1
    for n in sizes:
        pkts.append(Datagram(seq, n, b""))
        seq += n
    f = LineFaults(LineFaultPlan(reorder=reorder, reorder_depth=depth, dup=dup), seed=seed)
    emitted = [d for _, d in run(f, pkts)]
    covered = [s for d in emitted for s in range(d.first_seq, d.first_seq + d.count)]
    assert set(covered) == set(range(1, seq))
    assert len(emitted) == len(pkts) + f.counters.duplicated
    assert all(1 <= emitted.count(p) <= 2 for p in pkts)


# ---- retransmission server decisions ------------------------------------------------


def test_retransmit_drop_and_delay() -> None:
    f = RetransmitFaults(RetransmitFaultPlan(drop=0.3, delay_ns=5 * MS), seed=2)
    rng = random.Random(2)
    for k in range(300):
        expect = None if rng.random() < 0.3 else k + 5 * MS
        assert f.decide(k) == expect


def test_retransmit_stop() -> None:
    never = RetransmitFaults(RetransmitFaultPlan.parse("stop"))
    assert [never.decide(0) for _ in range(5)] == [None] * 5
    two = RetransmitFaults(RetransmitFaultPlan.parse("stop=2"))
    assert [two.decide(9) for _ in range(4)] == [9, 9, None, None]
