"""The simulator's MoldUDP64 retransmission server: the sans-IO core and the
UDP shell on loopback."""

from __future__ import annotations

import random
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import ConfigError
from gateway.sim.faults import RetransmitFaultPlan
from gateway.sim.messages import MessageStore
from gateway.sim.retransmit import RetransmitCore, RetransmitServer
from protocols import moldudp64

SESSION = "TESTSESS01"
MS = 1_000_000


def make_store(n: int = 500, first_seq: int = 1) -> MessageStore:
    # distinct messages of varied lengths, so a wrong sequence shows
    msgs = [b"%d:" % (first_seq + i) + b"x" * (i % 37) for i in range(n)]
    return MessageStore(SESSION, msgs, first_seq=first_seq)


def unpack(packets: list[bytes], max_payload: int = 1400) -> list[tuple[int, bytes]]:
    """(sequence, message) of every message carried, checking packets are sane."""
    out: list[tuple[int, bytes]] = []
    for raw in packets:
        assert len(raw) <= max_payload
        p = moldudp64.decode_packet(raw)
        assert p.session == SESSION and 0 < p.count < moldudp64.END_OF_SESSION_COUNT
        out += [(p.sequence + i, m) for i, m in enumerate(p.messages)]
    return out


def expect(store: MessageStore, first: int, last: int) -> list[tuple[int, bytes]]:
    return [(s, store.messages[s - store.first_seq]) for s in range(first, last + 1)]


def test_request_answered_with_the_right_messages() -> None:
    store = make_store()
    core = RetransmitCore(store, max_payload=200)
    pkts = core.handle(moldudp64.encode_request(SESSION, 37, 120), now_ns=0)
    assert len(pkts) > 1  # packed into several packets of <= 200 bytes
    assert unpack(pkts, 200) == expect(store, 37, 156)
    c = core.counters
    assert (c.requests, c.answered, c.answered_messages, c.answer_packets) == (1, 1, 120, len(pkts))


def test_count_capped_at_max_per_request() -> None:
    store = make_store()
    core = RetransmitCore(store, max_per_request=25)
    assert unpack(core.handle(moldudp64.encode_request(SESSION, 100, 300), 0)) == expect(
        store, 100, 124)
    assert unpack(core.handle(moldudp64.encode_request(SESSION, 200, 25), 0)) == expect(
        store, 200, 224)
    assert core.counters.capped == 1


def test_out_of_range_and_partial_requests() -> None:
    store = make_store(500, first_seq=101)  # sequences 101..600
    core = RetransmitCore(store)
    assert core.handle(moldudp64.encode_request(SESSION, 601, 10), 0) == []
    assert core.handle(moldudp64.encode_request(SESSION, 50, 51), 0) == []  # 50..100
    assert core.counters.out_of_range == 2
    # what exists of a request reaching past either end, nothing past them
    assert unpack(core.handle(moldudp64.encode_request(SESSION, 590, 50), 0)) == expect(
        store, 590, 600)
    assert unpack(core.handle(moldudp64.encode_request(SESSION, 95, 10), 0)) == expect(
        store, 101, 104)
    assert core.counters.short_answers == 2
    assert core.counters.answered == 2


def test_other_session_is_not_answered() -> None:
    core = RetransmitCore(make_store())
    assert core.handle(moldudp64.encode_request("OTHER", 1, 10), 0) == []
    assert core.counters.other_session == 1 and core.counters.answered == 0


@pytest.mark.parametrize("request_bytes", [
    b"",
    b"short",
    moldudp64.encode_request(SESSION, 1, 5)[:-1],
    moldudp64.encode_request(SESSION, 1, 5) + b"\x00",
    moldudp64.encode_heartbeat(SESSION, 1),  # count 0
    moldudp64.encode_end_of_session(SESSION, 1),  # count 0xFFFF
    moldudp64.encode_header(SESSION, 0, 5),  # sequence 0
])
def test_malformed_requests_are_counted_and_ignored(request_bytes: bytes) -> None:
    core = RetransmitCore(make_store())
    assert core.handle(request_bytes, 0) == []
    assert core.counters.bad_requests == 1 and core.counters.requests == 1


@given(st.binary(max_size=40))
def test_any_bytes_are_handled_without_a_crash(request_bytes: bytes) -> None:
    core = RetransmitCore(make_store(50))
    answer = core.handle(request_bytes, 0)
    c = core.counters
    outcomes = c.answered + c.bad_requests + c.other_session + c.out_of_range
    assert c.requests == 1 and outcomes == 1
    assert bool(answer) == bool(c.answered)


def test_dropped_answers_are_the_drawn_ones() -> None:
    store = make_store()
    core = RetransmitCore(store, faults=RetransmitFaultPlan(drop=0.4), seed=8)
    rng = random.Random(8)
    for k in range(200):
        answered = core.handle(moldudp64.encode_request(SESSION, 1 + k, 3), 0)
        assert bool(answered) == (rng.random() >= 0.4)
    c = core.counters
    assert c.dropped_answers + c.answered == 200 and 50 <= c.dropped_answers <= 110


def test_delayed_answers_wait_for_their_time() -> None:
    store = make_store()
    core = RetransmitCore(store, faults=RetransmitFaultPlan(delay_ns=10 * MS))
    t0 = 1_000 * MS
    assert core.handle(moldudp64.encode_request(SESSION, 5, 3), t0, peer="p1") == []
    assert core.handle(moldudp64.encode_request(SESSION, 9, 2), t0 + MS, peer="p2") == []
    assert core.next_due_ns() == t0 + 10 * MS
    assert core.due(t0 + 10 * MS - 1) == []
    [(peer, pkts)] = core.due(t0 + 10 * MS)
    assert peer == "p1" and unpack(pkts) == expect(store, 5, 7)
    [(peer, pkts)] = core.due(t0 + 60 * MS)
    assert peer == "p2" and unpack(pkts) == expect(store, 9, 10)
    assert core.next_due_ns() is None and core.counters.delayed_answers == 2


def test_stopped_server_core_answers_nothing() -> None:
    core = RetransmitCore(make_store(), faults=RetransmitFaultPlan.parse("stop=1"))
    assert core.handle(moldudp64.encode_request(SESSION, 1, 3), 0)
    assert core.handle(moldudp64.encode_request(SESSION, 1, 3), 0) == []
    assert core.counters.dropped_answers == 1


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ConfigError) as e:
        RetransmitCore(make_store(), max_per_request=0)
    assert e.value.key == "--max-per-request"
    with pytest.raises(ConfigError):
        RetransmitCore(make_store(), max_payload=10)


# ---- the UDP shell -------------------------------------------------------------


def client() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(10)
    return s


def receive_messages(s: socket.socket, count: int) -> list[tuple[int, bytes]]:
    got: list[tuple[int, bytes]] = []
    while len(got) < count:
        got += unpack([s.recv(65536)])
    return got


def test_server_answers_over_udp_and_survives_garbage() -> None:
    store = make_store()
    with RetransmitServer(store, max_payload=300) as server, client() as c:
        c.sendto(b"\xff" * 7, server.address)
        c.sendto(moldudp64.encode_request("OTHER", 1, 5), server.address)
        c.sendto(moldudp64.encode_request(SESSION, 250, 40), server.address)
        assert receive_messages(c, 40) == expect(store, 250, 289)
        c.sendto(moldudp64.encode_request(SESSION, 499, 9), server.address)
        assert receive_messages(c, 2) == expect(store, 499, 500)
    k = server.counters
    assert (k.requests, k.bad_requests, k.other_session, k.answered) == (4, 1, 1, 2)


def test_server_delays_and_drops() -> None:
    store = make_store()
    plan = RetransmitFaultPlan.parse("delay=30ms,stop=1")
    with RetransmitServer(store, faults=plan) as server, client() as c:
        c.sendto(moldudp64.encode_request(SESSION, 10, 4), server.address)
        assert receive_messages(c, 4) == expect(store, 10, 13)  # after the delay
        c.sendto(moldudp64.encode_request(SESSION, 20, 4), server.address)
        c.settimeout(0.3)
        with pytest.raises(TimeoutError):
            c.recv(65536)
    assert server.counters.delayed_answers == 1 and server.counters.dropped_answers == 1


def test_bind_failure_names_the_option() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(ConfigError) as e:
            RetransmitServer(make_store(), taken.getsockname())
    assert e.value.key == "--retransmit"
