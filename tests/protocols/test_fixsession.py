"""The sans-IO FIX session: bytes and time in, events and bytes out.

A ``Peer`` writes the counterparty's messages; time is a plain integer, so
heartbeat and timeout behaviour is exact and nothing sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from protocols import fix
from protocols.fixsession import (
    Application,
    Disconnect,
    FixSession,
    GapDetected,
    Garbled,
    LocalProtocolError,
    LoggedOn,
    SessionConfig,
    State,
    parse_utc_timestamp,
    utc_timestamp,
)
from protocols.fixstore import MemoryStore

S = 1_000_000_000
T0 = 1_700_000_000 * S


class Peer:
    def __init__(self, begin: str = "FIX.4.4", us: str = "TW", them: str = "ISLD") -> None:
        self.begin, self.us, self.them, self.seq = begin, us, them, 1

    def msg(self, msg_type: str, body: list[tuple[int, str]] = (), seq: int | None = None,  # type: ignore[assignment]
            now: int = T0, header: list[tuple[int, str]] = ()) -> bytes:  # type: ignore[assignment]
        if seq is None:
            seq, self.seq = self.seq, self.seq + 1
        fields = [(35, msg_type), (34, str(seq)), (49, self.us), (52, utc_timestamp(now)),
                  (56, self.them), *header, *body]
        return fix.encode(self.begin, fields)


def parsed(data: bytes) -> list[dict[int, bytes]]:
    return [dict(f.fields) for f in fix.frame(data)[0]]


def acceptor(**kw: object) -> tuple[FixSession, MemoryStore]:
    store = MemoryStore()
    cfg = SessionConfig("FIX.4.4", "ISLD", "TW", **kw)  # type: ignore[arg-type]
    s = FixSession(cfg, store, initiator=False)
    s.connection_made(T0)
    return s, store


def logged_on(hb: int = 30, **kw: object) -> tuple[FixSession, MemoryStore, Peer]:
    s, store = acceptor(**kw)
    p = Peer()
    s.receive_data(p.msg("A", [(98, "0"), (108, str(hb))]), T0)
    assert [type(e) for e in s.events()] == [LoggedOn]
    assert parsed(s.data_to_send())[0][35] == b"A"
    return s, store, p


def test_acceptor_answers_a_logon_with_its_heartbeat_interval() -> None:
    s, store, _ = logged_on(hb=7)
    assert s.state is State.ACTIVE and s.heartbeat_interval == 7
    assert store.next_sender_seq == 2 and store.next_target_seq == 2


def test_first_message_not_a_logon_drops_the_connection() -> None:
    s, _ = acceptor()
    s.receive_data(Peer().msg("0"), T0)
    assert [type(e) for e in s.events()] == [Disconnect] and s.state is State.DISCONNECTED


def test_initiator_sends_logon_with_reset_and_credentials() -> None:
    store = MemoryStore()
    store.save_sent(1, b"old")
    cfg = SessionConfig("FIX.4.4", "TW", "ISLD", heartbeat_interval=5, reset_on_logon=True,
                        username="u", password="p")
    s = FixSession(cfg, store, initiator=True)
    s.connection_made(T0)
    logon = parsed(s.data_to_send())[0]
    assert logon[34] == b"1" and logon[141] == b"Y" and logon[553] == b"u" and logon[554] == b"p"
    assert logon[108] == b"5"
    s.receive_data(Peer(us="ISLD", them="TW").msg("A", [(98, "0"), (108, "5"), (141, "Y")]), T0)
    assert [type(e) for e in s.events()] == [LoggedOn] and s.data_to_send() == b""


def test_every_message_is_stored_before_it_is_handed_out() -> None:
    s, store, p = logged_on()
    s.receive_data(p.msg("1", [(112, "X")]), T0)
    out = s.data_to_send()
    assert dict(store.sent(1, 0))[2] == out and parsed(out)[0][112] == b"X"


def test_heartbeat_test_request_and_silent_peer() -> None:
    s, _, _ = logged_on(hb=10)
    s.timer(T0 + 10 * S)
    assert parsed(s.data_to_send())[0][35] == b"0"
    s.timer(T0 + 12 * S)  # 1.2 x HeartBtInt without a word: TestRequest
    tr = parsed(s.data_to_send())[0]
    assert tr[35] == b"1" and tr[112] == b"TEST"
    s.timer(T0 + 20 * S)  # no heartbeat while the TestRequest is unanswered
    assert s.data_to_send() == b""
    s.timer(T0 + 24 * S)  # 2.4 x: the peer is gone
    assert [type(e) for e in s.events()] == [Disconnect]


def test_too_high_queues_and_asks_for_the_gap_once() -> None:
    s, store, p = logged_on()
    s.receive_data(p.msg("0", seq=5) + p.msg("0", seq=6), T0)
    reqs = parsed(s.data_to_send())
    assert len(reqs) == 1 and reqs[0][35] == b"2" and reqs[0][7] == b"2" and reqs[0][16] == b"0"
    assert GapDetected(2, 4) in s.events()
    s.receive_data(b"".join(p.msg("0", seq=n) for n in (2, 3, 4)), T0)
    assert store.next_target_seq == 7  # the queued 5 and 6 applied after the fill


def test_resend_chunks_when_configured() -> None:
    s, _, p = logged_on(resend_chunk=2)
    s.receive_data(p.msg("0", seq=7), T0)
    first = parsed(s.data_to_send())[0]
    assert (first[7], first[16]) == (b"2", b"3")
    s.receive_data(p.msg("0", seq=2) + p.msg("0", seq=3), T0)
    second = parsed(s.data_to_send())[0]
    assert (second[7], second[16]) == (b"4", b"5")


def test_too_low_without_possdup_logs_out_with_the_reason() -> None:
    s, _, p = logged_on()
    s.receive_data(p.msg("0", seq=2) + p.msg("0", seq=2), T0)
    out = parsed(s.data_to_send())
    assert out[-1][35] == b"5"
    assert out[-1][58] == b"MsgSeqNum too low, expecting 3 but received 2"
    assert isinstance(s.events()[-1], Disconnect)


def test_possdup_duplicate_is_ignored_and_needs_orig_sending_time() -> None:
    s, store, p = logged_on()
    s.receive_data(p.msg("0", seq=2), T0)
    s.receive_data(p.msg("0", seq=2, header=[(43, "Y"), (122, utc_timestamp(T0))]), T0)
    assert s.data_to_send() == b"" and store.next_target_seq == 3
    s.receive_data(p.msg("D", [(11, "x")], seq=2, header=[(43, "Y")]), T0)
    rej = parsed(s.data_to_send())[0]
    assert rej[35] == b"3" and rej[371] == b"122" and rej[373] == b"1"


def test_resend_request_replays_application_messages_and_gap_fills_admin() -> None:
    s, store, p = logged_on()
    s.send("D", [(11, "A")], T0 + S)           # 2
    s.timer(T0 + 31 * S)                      # 3: heartbeat
    s.send("D", [(11, "B")], T0 + 32 * S)      # 4
    s.data_to_send()
    s.receive_data(p.msg("2", [(7, "1"), (16, "0")], now=T0 + 40 * S), T0 + 40 * S)
    out = parsed(s.data_to_send())
    assert [(m[35], m[34]) for m in out] == [(b"4", b"1"), (b"D", b"2"), (b"4", b"3"), (b"D", b"4")]
    assert out[0][36] == b"2" and out[0][123] == b"Y" and out[2][36] == b"4"
    assert out[1][43] == b"Y" and out[1][122] == utc_timestamp(T0 + S).encode()
    assert store.next_sender_seq == 5  # a resend takes no new numbers


def test_garbled_messages_are_ignored_and_counted() -> None:
    s, store, p = logged_on()
    good = p.msg("0", seq=2)
    bad = good[:-4] + b"%03d\x01" % ((int(good[-4:-1]) + 1) % 256)
    s.receive_data(bad, T0)
    assert [type(e) for e in s.events()] == [Garbled] and store.next_target_seq == 2
    s.receive_data(good, T0)
    assert store.next_target_seq == 3 and s.stats["garbled"] == 1


def test_sequence_reset_gap_fill_and_reset() -> None:
    s, store, p = logged_on()
    s.receive_data(p.msg("4", [(36, "10"), (123, "Y")], seq=2), T0)
    assert store.next_target_seq == 10
    s.receive_data(p.msg("4", [(36, "5")], seq=0), T0)  # reset mode: backwards is refused
    assert parsed(s.data_to_send())[0][373] == b"5" and store.next_target_seq == 10
    s.receive_data(p.msg("4", [(36, "50")], seq=0), T0)
    assert store.next_target_seq == 50


def test_logout_handshake_both_ways() -> None:
    s, _, p = logged_on()
    s.logout(T0, "bye")
    assert parsed(s.data_to_send())[0][58] == b"bye" and s.state is State.LOGOUT_SENT
    s.receive_data(p.msg("5", seq=2), T0)
    assert isinstance(s.events()[-1], Disconnect) and s.data_to_send() == b""
    s2, _, p2 = logged_on()
    s2.receive_data(p2.msg("5", seq=2), T0)
    assert parsed(s2.data_to_send())[0][35] == b"5" and s2.state is State.DISCONNECTED


def test_sending_time_and_comp_id_problems_reject_then_log_out() -> None:
    s, _, p = logged_on()
    s.receive_data(p.msg("0", seq=2, now=T0 - 121 * S), T0)
    out = parsed(s.data_to_send())
    assert [m[35] for m in out] == [b"3", b"5"] and out[0][373] == b"10"


def test_application_messages_become_events_and_sending_needs_a_logon() -> None:
    s, _, p = logged_on()
    s.receive_data(p.msg("D", [(11, "X")]), T0)
    ev = s.events()
    assert isinstance(ev[0], Application) and ev[0].msg.get(11) == b"X"
    s2, _ = acceptor()
    with pytest.raises(LocalProtocolError):
        s2.send("D", [(11, "X")], T0)


def test_state_survives_reconnects_through_the_store() -> None:
    s, store, p = logged_on()
    s.send("D", [(11, "A")], T0)
    s.connection_lost(T0)
    s.connection_made(T0 + S)
    s.receive_data(p.msg("A", [(98, "0"), (108, "30")], now=T0 + S), T0 + S)
    logon = parsed(s.data_to_send())[0]
    assert logon[34] == b"3" and store.next_target_seq == 3


def _split(data: bytes) -> Iterator[list[bytes]]:
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]


def test_split_reads_give_the_same_session() -> None:
    p = Peer()
    stream = p.msg("A", [(98, "0"), (108, "30")]) + p.msg("1", [(112, "X")]) + p.msg("0")
    whole, _ = acceptor()
    whole.receive_data(stream, T0)
    want = parsed(whole.data_to_send())
    for parts in _split(stream):
        s, _ = acceptor()
        for part in parts:
            s.receive_data(part, T0)
        got = parsed(s.data_to_send())
        assert [(m[35], m[34]) for m in got] == [(m[35], m[34]) for m in want]


def test_utc_timestamps_round_trip() -> None:
    assert parse_utc_timestamp(utc_timestamp(T0 + 123_000_000).encode()) == T0 + 123_000_000
    assert parse_utc_timestamp(b"20240101-00:00:00") is not None
    assert parse_utc_timestamp(b"2024x101-00:00:00") is None
    assert parse_utc_timestamp(b"20241301-00:00:00") is None
