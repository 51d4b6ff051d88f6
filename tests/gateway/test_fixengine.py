"""The FIX engine shell over real loopback sockets: the gateway's initiator
(order entry) against its own acceptor (the exchange app), several sessions
in one engine, reconnects, identities, schedules.  Nothing is timed; every
wait has a generous deadline."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.fixengine import Engine, SessionHandle
from gateway.fixexchange import ExchangeApp
from gateway.fixschedule import Schedule
from gateway.fixstore import FileStore
from gateway.orderentry import OrderEntry
from protocols import fixdict
from protocols.fixorders import OrderError, OrderEvent
from protocols.fixsession import SessionConfig
from protocols.fixstore import MemoryStore

S = 1_000_000_000


def run_until(engines: list[Engine], cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = engines[0].now() + int(timeout_s * S)
    while not cond():
        assert engines[0].now() < deadline, "timed out"
        for e in engines:
            e.run_once(0.002)


@pytest.fixture
def exchange() -> Iterator[tuple[Engine, int, ExchangeApp]]:
    eng = Engine()
    app = ExchangeApp()
    for begin in ("FIX.4.2", "FIX.4.4"):
        eng.add_session(SessionConfig(begin, "EXCH", "CLIENT"), MemoryStore(), app,
                        dictionary=fixdict.builtin(begin))
        eng.add_session(SessionConfig(begin, "EXCH", "OTHER"), MemoryStore(), app,
                        dictionary=fixdict.builtin(begin))
    port = eng.listen("127.0.0.1", 0)
    yield eng, port, app
    eng.close()


def client(port: int, begin: str = "FIX.4.4", sender: str = "CLIENT",
           store: MemoryStore | FileStore | None = None,
           events: list[OrderEvent] | None = None) -> tuple[Engine, OrderEntry, SessionHandle]:
    eng = Engine()
    oe = OrderEntry(begin, events.append if events is not None else None)
    h = eng.add_session(SessionConfig(begin, sender, "EXCH", heartbeat_interval=5),
                        store or MemoryStore(), oe, connect_to=("127.0.0.1", port),
                        dictionary=fixdict.builtin(begin), backoff_s=(0.05,))
    return eng, oe, h


@pytest.mark.parametrize("begin", ["FIX.4.2", "FIX.4.4"])
def test_orders_are_acknowledged_filled_cancelled_and_replaced(exchange, begin) -> None:  # type: ignore[no-untyped-def]
    ex, port, app = exchange
    events: list[OrderEvent] = []
    eng, oe, _ = client(port, begin, events=events)
    run_until([eng, ex], lambda: oe.logged_on)
    oe.new_order("1", "AAPL", "1", 100, "10.5")
    run_until([eng, ex], lambda: oe.tracker.order("1").state == "filled")  # type: ignore[union-attr]
    with pytest.raises(OrderError):
        oe.new_order("1", "AAPL", "1", 100, "10.5")  # refused before it leaves
    app.fill = False
    oe.new_order("2", "MSFT", "2", 50, "20")
    run_until([eng, ex], lambda: oe.tracker.order("2").state == "new")  # type: ignore[union-attr]
    oe.replace("3", "2", qty=70)
    run_until([eng, ex], lambda: oe.tracker.order("3").qty == 70)  # type: ignore[union-attr]
    oe.cancel("4", "3")
    run_until([eng, ex], lambda: oe.tracker.order("4").state == "cancelled")  # type: ignore[union-attr]
    assert app.received == 4
    assert [e.kind for e in events if e.kind not in ("new", "pending_new")][:1] == ["fill"]
    eng.close()


def test_several_sessions_in_one_engine_and_duplicate_identity_refused(exchange) -> None:  # type: ignore[no-untyped-def]
    ex, port, _ = exchange
    a_eng, a, _ = client(port, "FIX.4.4", "CLIENT")
    b_eng, b, _ = client(port, "FIX.4.2", "OTHER")
    run_until([a_eng, b_eng, ex], lambda: a.logged_on and b.logged_on)
    # A second connection claiming CLIENT on FIX.4.4 is closed; the first stays.
    dup_eng, dup, _ = client(port, "FIX.4.4", "CLIENT")
    run_until([dup_eng, ex, a_eng], lambda: bool(dup.logouts))
    assert a.logged_on and not dup.logged_on
    for e in (a_eng, b_eng, dup_eng):
        e.close()


def test_unknown_session_is_dropped(exchange) -> None:  # type: ignore[no-untyped-def]
    ex, port, _ = exchange
    eng, oe, _ = client(port, "FIX.4.4", "NOBODY")
    run_until([eng, ex], lambda: bool(oe.logouts))
    assert not oe.logged_on
    eng.close()


def test_initiator_reconnects_with_backoff_and_resumes_sequence_numbers(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = FileStore(tmp_path, "CLIENT-EXCH-FIX.4.4")
    eng, oe, h = client(port, store=store)
    run_until([eng], lambda: h.attempts >= 1)  # nobody listening yet: refused
    assert not oe.logged_on
    ex = Engine()
    ex_store = MemoryStore()
    ex.add_session(SessionConfig("FIX.4.4", "EXCH", "CLIENT"), ex_store, ExchangeApp(),
                   dictionary=fixdict.builtin("FIX.4.4"))
    ex.listen("127.0.0.1", port)
    run_until([eng, ex], lambda: oe.logged_on)
    oe.new_order("1", "AAPL", "1", 100, "10.5")
    run_until([eng, ex], lambda: oe.tracker.order("1").state == "filled")  # type: ignore[union-attr]
    sent_before = store.next_sender_seq
    h.logout()
    run_until([eng, ex], lambda: h.sock is None)
    run_until([eng, ex], lambda: oe.logged_on)  # reconnects on its own
    assert store.next_sender_seq == sent_before + 2  # Logout, then the new Logon
    assert ex_store.next_target_seq == store.next_sender_seq
    eng.close()
    ex.close()
    store.close()


def test_schedule_windows_and_config_errors() -> None:
    sched = Schedule.parse("09:00", "17:00", "America/New_York", "mon,tue,wed,thu,fri")
    # 2026-11-23 is a Monday: 15:00 UTC is 10:00 in New York.
    monday_10 = 1_795_446_000 * S
    assert sched.is_open(monday_10)
    assert not sched.is_open(monday_10 + 8 * 3600 * S)       # 18:00
    assert not sched.is_open(monday_10 - 2 * 86400 * S)      # Saturday
    assert sched.period_start(monday_10) == monday_10 - 3600 * S
    night = Schedule.parse("18:00", "17:00", "UTC")          # runs past midnight
    assert night.is_open(1_795_446_000 * S - 10 * 3600 * S)  # 05:00 UTC
    with pytest.raises(ConfigError, match=r"schedule\.tz"):
        Schedule.parse("09:00", "17:00", "Mars/Olympus")
    with pytest.raises(ConfigError, match=r"schedule\.days"):
        Schedule.parse("09:00", "17:00", "UTC", "mon,funday")
    with pytest.raises(ConfigError, match=r"schedule\.start"):
        Schedule.parse("9am", "17:00")


def _window(now_ns: int, start_h: float, end_h: float) -> Schedule:
    import datetime as dt

    t0 = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC)
    fmt = lambda h: (t0 + dt.timedelta(hours=h)).strftime("%H:%M:%S")  # noqa: E731
    return Schedule.parse(fmt(start_h), fmt(end_h), "UTC")


def test_acceptor_outside_its_hours_refuses_the_logon() -> None:
    ex = Engine()
    closed = _window(ex.now(), 2, 3)  # opens in two hours
    ex.add_session(SessionConfig("FIX.4.4", "EXCH", "CLIENT"), MemoryStore(), ExchangeApp(),
                   dictionary=fixdict.builtin("FIX.4.4"), schedule=closed)
    port = ex.listen("127.0.0.1", 0)
    eng, oe, _ = client(port)
    run_until([eng, ex], lambda: bool(oe.logouts))
    assert not oe.logged_on
    eng.close()
    ex.close()


def test_a_new_session_period_resets_sequence_numbers(exchange) -> None:  # type: ignore[no-untyped-def]
    ex, port, _ = exchange
    store = MemoryStore(now_ns=0)  # created long before today's window opened
    store.save_sent(1, b"yesterday")
    store.set_next_target(40)
    eng = Engine()
    oe = OrderEntry("FIX.4.4")
    eng.add_session(SessionConfig("FIX.4.4", "CLIENT", "EXCH"), store, oe,
                    connect_to=("127.0.0.1", port), dictionary=fixdict.builtin("FIX.4.4"),
                    schedule=_window(eng.now(), -1, 1))
    run_until([eng, ex], lambda: oe.logged_on)
    assert store.next_target_seq == 2 and store.next_sender_seq == 2  # both from 1 again
    assert store.creation_time_ns > 0
    eng.close()


def test_an_application_error_refuses_that_message_only() -> None:
    ex = Engine()
    app = ExchangeApp()
    ex.add_session(SessionConfig("FIX.4.4", "EXCH", "CLIENT"), MemoryStore(), app,
                   dictionary=None)  # no dictionary: the app sees OrderQty "abc"
    port = ex.listen("127.0.0.1", 0)
    events: list[OrderEvent] = []
    eng, oe, h = client(port, events=events)
    run_until([eng, ex], lambda: oe.logged_on)
    h.send("D", [(11, "BAD"), (21, "1"), (38, "abc"), (40, "2"), (44, "1"), (54, "1"),
                 (55, "X"), (59, "0"), (60, "20261122-10:00:00")])
    got: list[bytes] = []
    oe_on_message = oe.on_message
    oe.on_message = lambda s, m: (got.append(m.msg_type), oe_on_message(s, m))  # type: ignore[method-assign]
    run_until([eng, ex], lambda: b"j" in got)
    oe.new_order("1", "AAPL", "1", 100, "10.5")  # the session goes on
    run_until([eng, ex], lambda: oe.tracker.order("1").state == "filled")  # type: ignore[union-attr]
    assert ex.handles[("FIX.4.4", "EXCH", "CLIENT")].session.stats["app_errors"] == 1
    # The client's OrderEntry does not know 35=j either, and must not bounce it.
    assert got.count(b"j") == 1 and h.session.stats["rejects_not_answered"] == 1
    assert "rejects_not_answered" not in ex.handles[("FIX.4.4", "EXCH", "CLIENT")].session.stats
    eng.close()
    ex.close()
