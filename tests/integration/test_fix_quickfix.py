"""The gateway's FIX stack against the real QuickFIX engine, both ways.

* the gateway as initiator (``Engine`` + ``OrderEntry`` in this process, or
  ``gateway fix-orders`` as a subprocess) against ``tests.fixinterop.
  qf_exchange``, a QuickFIX acceptor playing the exchange: orders filled,
  cancelled and replaced; a lost ExecutionReport recovered by resend; a
  sequence jump closed with SequenceReset-GapFill; unsolicited messages; a
  gateway killed with SIGKILL and restarted on the same store;
* QuickFIX as initiator (``tests.fixinterop.qf_client``) against the
  gateway's own acceptor, ``gateway fix-exchange``.

Nothing is timed: every wait has a generous deadline and fails with what it
was waiting for.  Ports come from the OS; every process is stopped by its
fixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.fixengine import Engine, SessionHandle
from gateway.fixstore import FileStore
from gateway.orderentry import OrderEntry
from protocols import fixdict
from protocols.fixorders import OrderEvent
from protocols.fixsession import (
    Event,
    GapDetected,
    LoggedOut,
    Message,
    RejectSent,
    SessionConfig,
)
from tests.fixinterop.gapproxy import NthDropProxy

# Marked, not skipped at import: `make test` deselects these while the
# QuickFIX wheel builds and runs them once it is installed.
pytestmark = [pytest.mark.quickfix, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _quickfix() -> None:
    pytest.importorskip("quickfix")

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0          # seconds: any one wait; far above what anything takes
VERSIONS = ["FIX.4.2", "FIX.4.4"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- subprocesses ------------------------------------------------------------------

class Proc:
    """A child process from the repository root; a thread collects its stdout
    lines (JSON lines parsed, others kept as text); stderr goes to a file."""

    def __init__(self, args: list[str], log_dir: Path, name: str) -> None:
        self.name = name
        self.stderr_path = log_dir / f"{name}.stderr"
        self._stderr = self.stderr_path.open("w")
        self.p = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                  bufsize=1, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[Any] = []
        self.cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for raw in self.p.stdout:
            try:
                item: Any = json.loads(raw)
            except ValueError:
                item = raw.rstrip("\n")
            with self.cond:
                self.lines.append(item)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def json(self) -> list[dict[str, Any]]:
        with self.cond:
            return [x for x in self.lines if isinstance(x, dict)]

    def wait_line(self, pred: Callable[[Any], bool], what: str, start: int = 0,
                  timeout: float = WAIT) -> tuple[int, Any]:
        """The first line from index ``start`` on that ``pred`` accepts."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    if pred(self.lines[i]):
                        return i, self.lines[i]
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"{self.name}: no {what} within {timeout} s "
                                         f"(exit {self.p.poll()}); stdout {self.lines[-10:]}; "
                                         f"stderr {self.stderr()[-2000:]}")
                self.cond.wait(min(left, 0.5))

    def count(self, pred: Callable[[Any], bool]) -> int:
        with self.cond:
            return sum(1 for x in self.lines if pred(x))

    def send(self, line: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def finish(self, timeout: float = WAIT) -> int:
        rc = self.p.wait(timeout)
        self._reader.join(5)
        return rc

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        for f in (self.p.stdin, self.p.stdout):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        self._stderr.close()


class QfExchange(Proc):
    """``tests.fixinterop.qf_exchange`` in a child process."""

    def __init__(self, tmp: Path, begin: str, extra: list[str], name: str) -> None:
        self.port = free_port()
        self.store = tmp / name
        self.messages = tmp / f"{name}.received.jsonl"
        self.begin = begin
        self._next_answer = 0
        super().__init__(["-m", "tests.fixinterop.qf_exchange", "--port", str(self.port),
                          "--store", str(self.store), "--begin", begin, "--sender", "EXCH",
                          "--target", "CLIENT", "--log-messages", str(self.messages), *extra],
                         tmp, name)

    def control(self, command: str) -> dict[str, Any]:
        """Send a control command and return its answer."""
        self.send(command)
        i, answer = self.wait_line(lambda x: isinstance(x, dict) and "control" in x,
                                   f"answer to {command!r}", start=self._next_answer)
        self._next_answer = i + 1
        assert answer["ok"], answer
        return dict(answer)

    def received(self) -> list[dict[str, Any]]:
        """The messages QuickFIX handed up, in order (see qf_exchange)."""
        if not self.messages.exists():
            return []
        return [json.loads(x) for x in self.messages.read_text().splitlines() if x]

    def wait_received(self, pred: Callable[[list[dict[str, Any]]], bool], what: str,
                      timeout: float = WAIT) -> list[dict[str, Any]]:
        """Poll ``received()`` until ``pred`` accepts it."""
        deadline = time.monotonic() + timeout
        while not pred(got := self.received()):
            assert time.monotonic() < deadline, f"QuickFIX: no {what} within {timeout} s: {got}"
            time.sleep(0.01)
        return got

    def qf_log(self, kind: str) -> str:
        """QuickFIX's own FileLog of the session: ``messages`` or ``event``."""
        path = self.store / "log" / f"{self.begin}-EXCH-CLIENT.{kind}.current.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def sent_by_quickfix(self) -> list[dict[int, str]]:
        """The messages QuickFIX sent (from its FileLog), as tag -> value."""
        out = []
        for line in self.qf_log("messages").splitlines():
            _, _, raw = line.partition(" : ")
            fields = dict(f.split("=", 1) for f in raw.split("\x01") if "=" in f)
            if fields.get("49") == "EXCH":
                out.append({int(k): v for k, v in fields.items() if k.isdigit()})
        return out


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in reversed(started):
        p.stop()


@pytest.fixture
def exchange(tmp_path: Path, procs: list[Proc]) -> Callable[..., QfExchange]:
    def start(begin: str, *extra: str) -> QfExchange:
        for attempt in range(3):  # a free port can be taken before the child binds it
            ex = QfExchange(tmp_path, begin, list(extra), f"qf_exchange{len(procs)}-{attempt}")
            procs.append(ex)
            try:
                ex.wait_line(lambda x: isinstance(x, dict) and x.get("event") == "listening",
                             "listening line")
                return ex
            except AssertionError:
                if ex.p.poll() is None:
                    raise
        raise AssertionError("qf_exchange did not start")
    return start


# ---- the gateway in this process --------------------------------------------------------

class RecordingOrderEntry(OrderEntry):
    """OrderEntry that also keeps the session events and the application
    messages it was handed."""

    def __init__(self, begin: str) -> None:
        self.order_events: list[OrderEvent] = []
        super().__init__(begin, self.order_events.append)
        self.session_events: list[Event] = []
        self.messages: list[Message] = []

    def on_event(self, s: SessionHandle, event: Event) -> None:
        self.session_events.append(event)
        super().on_event(s, event)

    def on_message(self, s: SessionHandle, msg: Message) -> None:
        self.messages.append(msg)
        super().on_message(s, msg)


class Gateway:
    """Engine + OrderEntry, driven from the test's thread (``run_until``)."""

    def __init__(self, port: int, begin: str, store_dir: Path) -> None:
        self.engine = Engine()
        self.oe = RecordingOrderEntry(begin)
        self.store = FileStore(store_dir, f"CLIENT-EXCH-{begin}")
        cfg = SessionConfig(begin, "CLIENT", "EXCH", heartbeat_interval=30)
        self.h = self.engine.add_session(cfg, self.store, self.oe,
                                         connect_to=("127.0.0.1", port),
                                         dictionary=fixdict.builtin(begin),
                                         backoff_s=(0.2, 0.5, 1.0))

    @property
    def stats(self) -> dict[str, int]:
        return self.h.session.stats

    def run_until(self, cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway: no {what} within {timeout} s; order events "
                                     f"{[(e.kind, e.cl_ord_id) for e in self.oe.order_events]}; "
                                     f"session events {self.oe.session_events}; "
                                     f"stats {self.stats}; logouts {self.oe.logouts}")
            self.engine.run_once(0.02)

    def logon(self) -> None:
        self.run_until(lambda: self.oe.logged_on, "Logon")

    def settle(self) -> None:
        """Until no order waits for an answer from the exchange."""
        self.run_until(lambda: not any(o.pending for o in self.oe.tracker.orders()),
                       "answer to every request")

    def logout(self) -> None:
        self.h.logout("bye")
        self.run_until(lambda: self.h.sock is None, "end of the logout handshake")

    def close(self) -> None:
        self.engine.close()
        self.store.close()

    def state(self, cl: str) -> str | None:
        return self.oe.tracker.link_state(cl)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Callable[[int, str], Gateway]]:
    made: list[Gateway] = []

    def make(port: int, begin: str) -> Gateway:
        gw = Gateway(port, begin, tmp_path / f"gateway{len(made)}")
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.close()


def wait_in_step(gw: Gateway, ex: QfExchange) -> None:
    """Until both sides agree on the next sequence numbers.  QuickFIX counts
    a message in only after its callback returned (after any answer went
    out), so a first look can catch it in between."""
    deadline = time.monotonic() + WAIT
    while True:
        st = ex.control("status")
        ours = (gw.store.next_sender_seq, gw.store.next_target_seq)
        if (st["next_target"], st["next_sender"]) == ours:
            return
        assert time.monotonic() < deadline, (st, ours)
        gw.engine.run_once(0.05)


def assert_in_step(gw: Gateway, ex: QfExchange) -> None:
    """Both sides agree on the next sequence numbers, and nobody rejected anything."""
    wait_in_step(gw, ex)
    assert gw.stats["rejects_sent"] == 0
    assert not [e for e in gw.oe.session_events if type(e).__name__ == "SessionReject"]
    assert not [m for m in ex.received() if m["msg_type"] == "3"], "QuickFIX got a Reject"


# ---- a. the gateway as initiator --------------------------------------------------------

@pytest.mark.parametrize("begin", VERSIONS)
def test_gateway_orders_filled_cancelled_replaced(begin: str, exchange: Callable[..., QfExchange],
                                                  gateway: Callable[[int, str], Gateway]) -> None:
    ex = exchange(begin, "--no-fill-symbol", "HOLD")
    gw = gateway(ex.port, begin)
    gw.logon()
    oe = gw.oe
    oe.new_order("F1", "TEST", "1", 100, "10.5")
    oe.new_order("F2", "TEST", "2", 50, "11")
    oe.new_order("C1", "HOLD", "1", 100, "9.5")
    oe.new_order("R1", "HOLD", "2", 200, "12")
    gw.settle()
    assert [gw.state(c) for c in ("F1", "F2", "C1", "R1")] == ["filled", "filled", "new", "new"]

    oe.cancel("C1-cxl", "C1")
    oe.replace("R1-rpl", "R1", qty=300, price="12.25")
    gw.settle()
    assert gw.state("C1") == "cancelled" and gw.state("C1-cxl") == "cancelled"
    assert gw.state("R1") == "replaced" and gw.state("R1-rpl") == "new"
    r1 = oe.tracker.order("R1")
    assert r1 is not None and r1.cl_ord_id == "R1-rpl"
    assert (r1.qty, str(r1.price), r1.leaves_qty) == (300, "12.25", 300)

    oe.cancel("R1-cxl", "R1-rpl")  # the replaced order, by its new ClOrdID
    gw.settle()
    assert gw.state("R1-cxl") == "cancelled" and not oe.tracker.open_orders()

    kinds = Counter(e.kind for e in oe.order_events)
    assert kinds == {"new": 4, "fill": 2, "cancelled": 2, "replaced": 1}, kinds
    f1 = oe.tracker.order("F1")
    assert f1 is not None and f1.cum_qty == 100 and str(f1.avg_px) == "10.5"
    got = [(m["msg_type"], m["cl_ord_id"]) for m in ex.received() if m["app"]]
    assert got == [("D", "F1"), ("D", "F2"), ("D", "C1"), ("D", "R1"), ("F", "C1-cxl"),
                   ("G", "R1-rpl"), ("F", "R1-cxl")]
    assert_in_step(gw, ex)
    gw.logout()
    assert ex.received()[-1]["msg_type"] == "5"
    ex.wait_line(lambda x: isinstance(x, dict) and x.get("event") == "logout", "QF logout")


# ---- b. a lost ExecutionReport, recovered by resend --------------------------------------

@pytest.mark.parametrize("begin", VERSIONS)
def test_gap_recovered_by_resend(begin: str, exchange: Callable[..., QfExchange],
                                 gateway: Callable[[int, str], Gateway]) -> None:
    ex = exchange(begin)
    with NthDropProxy(("127.0.0.1", ex.port), {"8": {2}}) as proxy:
        gw = gateway(proxy.port, begin)
        gw.logon()
        gw.oe.new_order("1", "TEST", "1", 100, "10")
        # The New arrives, the Fill (the 2nd report) is dropped: nothing to
        # notice yet -- the order just waits.
        gw.run_until(lambda: proxy.dropped["8"] == 1 and gw.state("1") == "new", "New of 1")
        assert gw.stats["resend_requests_sent"] == 0
        gw.oe.new_order("2", "TEST", "1", 100, "10")
        gw.run_until(lambda: gw.state("1") == "filled" and gw.state("2") == "filled",
                     "both orders filled")
        (lost,) = proxy.dropped_seqs
        assert gw.stats["resend_requests_sent"] >= 1
        gaps = [e for e in gw.oe.session_events if isinstance(e, GapDetected)]
        assert gaps and gaps[0].begin == lost, gaps
        # QuickFIX got the ResendRequest for the lost number and resent it.
        asks = [m for m in ex.received() if m["msg_type"] == "2"]
        assert asks, "no ResendRequest reached QuickFIX"
        resent = [m for m in gw.oe.messages if m.seq == lost]
        assert len(resent) == 1 and resent[0].get(43) == b"Y", resent
        assert resent[0].get(122) is not None  # OrigSendingTime on the copy
        # Every report applied once: resent copies of what had arrived are
        # dropped by the session, not applied twice.
        kinds = Counter(e.kind for e in gw.oe.order_events)
        assert kinds == {"new": 2, "fill": 2}, kinds
        assert_in_step(gw, ex)
        gw.logout()


# ---- c. QuickFIX jumps its sequence number: SequenceReset-GapFill -------------------------

@pytest.mark.parametrize("begin", VERSIONS)
def test_sequence_jump_gap_filled(begin: str, exchange: Callable[..., QfExchange],
                                  gateway: Callable[[int, str], Gateway]) -> None:
    ex = exchange(begin)
    gw = gateway(ex.port, begin)
    gw.logon()
    gw.oe.new_order("1", "TEST", "1", 100, "10")
    gw.run_until(lambda: gw.state("1") == "filled", "order 1 filled")
    before = gw.store.next_target_seq
    assert ex.control("status")["next_sender"] == before
    jumped = ex.control("jump 7")   # 7 numbers skipped, then a Heartbeat
    assert jumped["next_sender"] == before + 8
    gw.run_until(lambda: gw.store.next_target_seq == before + 8,
                 "next expected number past the jump")
    assert gw.stats["resend_requests_sent"] == 1
    gaps = [e for e in gw.oe.session_events if isinstance(e, GapDetected)]
    assert [(g.begin, g.end) for g in gaps] == [(before, before + 6)]
    # QuickFIX answered with one SequenceReset-GapFill over the hole (and the
    # Heartbeat, which is not resent).
    fills = [m for m in ex.sent_by_quickfix() if m.get(35) == "4"]
    assert [(int(m[34]), int(m[36]), m.get(123), m.get(43)) for m in fills] == \
        [(before, before + 8, "Y", "Y")]
    assert [m for m in ex.received() if m["msg_type"] == "2"]
    # The session stays up and keeps working.
    assert gw.h.session.logged_on and gw.oe.logouts == []
    gw.oe.new_order("2", "TEST", "2", 10, "11")
    gw.run_until(lambda: gw.state("2") == "filled", "order 2 filled")
    assert_in_step(gw, ex)
    gw.logout()


# A SequenceReset-GapFill that moves the next expected number past the
# outstanding ResendRequest's range closes it, so a new gap right after is
# asked for again (QuickFIX 1.16 keeps the range and stalls until a timeout:
# "Already sent ResendRequest ... Not sending another").
def test_second_jump_right_after_a_gap_fill(exchange: Callable[..., QfExchange],
                                            gateway: Callable[[int, str], Gateway]) -> None:
    ex = exchange("FIX.4.4")
    gw = gateway(ex.port, "FIX.4.4")
    gw.logon()
    first = ex.control("jump 3")
    gw.run_until(lambda: gw.store.next_target_seq == first["next_sender"], "first gap filled")
    queued = gw.stats["queued"]
    second = ex.control("jump 3")
    gw.run_until(lambda: gw.stats["queued"] > queued, "the second too-high Heartbeat")
    # A too-high message either finds its gap already asked for or asks now.
    assert gw.stats["resend_requests_sent"] == 2
    gw.run_until(lambda: gw.store.next_target_seq == second["next_sender"], "second gap filled")


@pytest.mark.parametrize("begin", VERSIONS)
def test_gateway_serves_resend_request(begin: str, exchange: Callable[..., QfExchange],
                                       gateway: Callable[[int, str], Gateway]) -> None:
    """QuickFIX forgets the gateway's last messages (its expected number goes
    back 4): the gateway's next message is too high for it, it asks for a
    resend, and the gateway resends its orders with PossDupFlag (the
    exchange must not act on them twice) and gap-fills its admin messages."""
    ex = exchange(begin, "--no-fill-symbol", "HOLD")
    gw = gateway(ex.port, begin)
    gw.logon()
    gw.oe.new_order("1", "HOLD", "1", 100, "10")
    gw.oe.new_order("2", "HOLD", "1", 100, "10")
    gw.oe.new_order("3", "HOLD", "1", 100, "10")
    gw.settle()
    ex.control("test-request T1")   # answered by a Heartbeat: an admin message to gap-fill
    gw.run_until(lambda: any(m.get("test_req_id") == "T1" for m in ex.received()),
                 "Heartbeat answering the TestRequest")
    first_seq = {m["cl_ord_id"]: m["seq"] for m in ex.received() if m["msg_type"] == "D"}
    st = ex.control("rewind 4")     # orders 1..3 and the Heartbeat
    assert st["next_target"] == gw.store.next_sender_seq - 4
    gw.oe.cancel("3-cxl", "3")
    gw.settle()
    assert gw.state("3") == "cancelled" and gw.state("1") == gw.state("2") == "new"
    assert gw.stats["resends_served"] == 1
    received = ex.received()
    again = [m for m in received if m["poss_dup"] and m["msg_type"] == "D"]
    assert {m["cl_ord_id"]: m["seq"] for m in again} == first_seq
    fills = [m for m in received if m["poss_dup"] and m["msg_type"] == "4"]
    hb_seq = max(first_seq.values()) + 1
    assert [(m["seq"], m["new_seq"], m["gap_fill"]) for m in fills] == \
        [(hb_seq, hb_seq + 1, True)]
    # The exchange acknowledged each order once: no second New, no reject.
    kinds = Counter(e.kind for e in gw.oe.order_events)
    assert kinds == {"new": 3, "cancelled": 1}, kinds
    assert_in_step(gw, ex)
    gw.logout()


@pytest.mark.parametrize("begin", VERSIONS)
def test_exchange_logout_and_reconnect(begin: str, exchange: Callable[..., QfExchange],
                                       gateway: Callable[[int, str], Gateway]) -> None:
    """QuickFIX logs the session out: the gateway answers, disconnects, keeps
    trying to reconnect (refused while QuickFIX keeps the session disabled),
    and logs on again -- same sequence numbers -- once it is enabled."""
    ex = exchange(begin)
    gw = gateway(ex.port, begin)
    gw.logon()
    gw.oe.new_order("1", "TEST", "1", 100, "10")
    gw.run_until(lambda: gw.state("1") == "filled", "order 1 filled")
    ex.control("logout closing time")
    gw.run_until(lambda: not gw.oe.logged_on and gw.h.sock is None, "Logout and disconnect")
    assert [e.text for e in gw.oe.session_events if isinstance(e, LoggedOut)] == ["closing time"]
    ex.wait_received(lambda got: any(m["msg_type"] == "5" for m in got),
                     "Logout answer from the gateway")
    # Refused while disabled: at least one attempt (a Logon that QuickFIX
    # never accepts, whose number the gateway has used up all the same).
    gw.run_until(lambda: len(gw.oe.logouts) >= 2, "a refused reconnect")
    ex.control("logon")
    gw.run_until(lambda: gw.oe.logged_on, "Logon after the exchange enabled it again")
    gw.oe.new_order("2", "TEST", "1", 100, "10")
    gw.run_until(lambda: gw.state("2") == "filled", "order 2 filled")
    assert_in_step(gw, ex)
    assert "too low" not in ex.qf_log("event").lower()
    gw.logout()


@pytest.mark.parametrize("begin", VERSIONS)
def test_unsolicited_messages(begin: str, exchange: Callable[..., QfExchange],
                              gateway: Callable[[int, str], Gateway]) -> None:
    """An unsolicited order-status report is applied; an application message
    the order-entry application has no use for (SecurityDefinition) gets a
    BusinessMessageReject naming it; a MsgType outside the dictionary (News,
    unless the dictionary defines it) gets a session Reject, reason 11."""
    ex = exchange(begin, "--no-fill-symbol", "HOLD")
    gw = gateway(ex.port, begin)
    gw.logon()
    gw.oe.new_order("1", "HOLD", "1", 100, "10")
    gw.settle()
    ex.control("report 1")
    gw.run_until(lambda: any(e.kind == "status" for e in gw.oe.order_events), "status report")
    assert gw.state("1") == "new"

    def refusals(msg_type: str) -> list[dict[str, Any]]:
        return [m for m in ex.received() if m["msg_type"] == msg_type]

    ex.control("secdef TEST")
    gw.run_until(lambda: any(m.msg_type == b"d" for m in gw.oe.messages), "SecurityDefinition")
    gw.run_until(lambda: bool(refusals("j")), "BusinessMessageReject at QuickFIX")
    ex.control("news hello")
    if gw.h.session.dictionary is not None and \
            getattr(gw.h.session.dictionary, "has_msg_type", lambda t: True)("B"):
        gw.run_until(lambda: len(refusals("j")) == 2, "BusinessMessageReject of the News")
    else:
        gw.run_until(lambda: bool(refusals("3")), "Reject of the News at QuickFIX")
        (rej,) = [e for e in gw.oe.session_events if isinstance(e, RejectSent)]
        assert rej.reason == 11
    refused = [m for m in ex.sent_by_quickfix() if m.get(35) in ("j", "3")]
    assert not refused, "QuickFIX answered the gateway's refusal"
    wait_in_step(gw, ex)
    assert gw.h.session.logged_on
    gw.logout()


# ---- d. kill -9 and restart on the same store ----------------------------------------------

def fix_orders(ex: QfExchange, store: Path, first_id: int, orders: int,
               port: int | None = None) -> list[str]:
    return ["-m", "gateway", "fix-orders", "--connect", f"127.0.0.1:{port or ex.port}",
            "--begin", ex.begin, "--sender", "CLIENT", "--target", "EXCH",
            "--store", str(store), "--interval-ms", "20", "--orders", str(orders),
            "--first-id", str(first_id), "--timeout", "60"]


@pytest.mark.parametrize("blackhole", [False, True], ids=["plain", "reports-lost"])
@pytest.mark.parametrize("begin", VERSIONS)
def test_kill_9_and_restart(begin: str, blackhole: bool, tmp_path: Path,
                            exchange: Callable[..., QfExchange], procs: list[Proc]) -> None:
    """SIGKILL the gateway mid-run and restart it on the same store.

    ``plain``: killed while orders flow.  ``reports-lost``: the first run
    talks through a proxy that, after the 20th order's Fill, swallows every
    ExecutionReport -- so when it is killed, QuickFIX has sent reports the
    gateway never saw; the restarted gateway must ask for them (and, knowing
    nothing of the first run's orders, count them as unknown)."""
    ex = exchange(begin)
    store = tmp_path / "gateway-store"
    with contextlib.ExitStack() as stack:
        port = None
        if blackhole:
            proxy = stack.enter_context(NthDropProxy(("127.0.0.1", ex.port),
                                                     {"8": range(41, 1000)}))
            port = proxy.port
        first = Proc(fix_orders(ex, store, 1, 200, port), tmp_path, "fix-orders-1")
        procs.append(first)
        first.wait_line(lambda x: isinstance(x, dict) and x.get("kind") == "fill"
                        and int(x["cl_ord_id"]) >= 20, "20 orders filled")
        if blackhole:
            ex.wait_received(lambda got: sum(1 for m in got if m["msg_type"] == "D") >= 30,
                             "10 orders past the blackhole")
        first.p.send_signal(signal.SIGKILL)
        assert first.finish() == -signal.SIGKILL
    assert not [x for x in first.json() if x.get("kind") == "summary"]
    ex.wait_line(lambda x: isinstance(x, dict) and x.get("event") == "logout",
                 "QuickFIX noticing the lost connection")
    reached = sum(1 for m in ex.received() if m["msg_type"] == "D")
    assert reached < 200, "the first run finished before it was killed"

    second = Proc(fix_orders(ex, store, 1001, 50), tmp_path, "fix-orders-2")
    procs.append(second)
    assert second.finish(90) == 0, second.stderr()[-3000:]
    out = second.json()
    (summary,) = [x for x in out if x.get("kind") == "summary"]
    # The counts add up: every order of this run sent once, acked once, filled once.
    assert summary["sent"] == summary["sent_new"] == 50
    assert summary["new"] == summary["fill"] == 50, summary
    for k in ("refused", "rejected", "malformed", "duplicate", "inconsistent", "other"):
        assert summary[k] == 0, (k, summary)
    fills = {x["cl_ord_id"] for x in out if x.get("kind") == "fill"}
    assert fills == {str(i) for i in range(1001, 1051)}
    # Reports for the first run's orders (resent after the restart) are
    # unknown to the new process -- and only those.  The first run's orders:
    # what reached QuickFIX before the kill, and what the first run had
    # stored but not yet written when it was killed (resent after the
    # restart, PossDup).
    first_orders = {m["cl_ord_id"] for m in ex.received()
                    if m["msg_type"] == "D" and int(m["cl_ord_id"]) <= 200}
    unknown = [x for x in out if x.get("kind") == "unknown"]
    assert summary["unknown"] == len(unknown)
    assert all(x["cl_ord_id"] in first_orders for x in unknown), unknown
    if blackhole:
        # Exactly the reports swallowed: New and Fill of each order past the 20th.
        swallowed = {x["cl_ord_id"] for x in unknown}
        assert swallowed == first_orders - {str(i) for i in range(1, 21)}
        assert len(unknown) == 2 * len(swallowed)
        assert [m for m in ex.received() if m["msg_type"] == "2"], "no ResendRequest"

    # Logged on again without a Logout for a too-low sequence number.
    assert ex.count(lambda x: isinstance(x, dict) and x.get("event") == "logon") == 2
    events = ex.qf_log("event")
    assert "too low" not in events.lower(), events[-3000:]
    assert "MsgSeqNum too low" not in ex.qf_log("messages")

    # Every number from the gateway reached QuickFIX: exactly once as a new
    # message (maybe plus PossDup copies), never reused for another ClOrdID,
    # and no hole that no gap fill covers.
    deadline = time.monotonic() + WAIT
    while (st := ex.control("status"))["next_target"] != summary["next_sender_seq"]:
        assert time.monotonic() < deadline, (st, summary)  # QuickFIX still on the Logout
        time.sleep(0.05)
    assert st["next_sender"] == summary["next_target_seq"]
    last = st["next_target"] - 1
    received = ex.received()
    covered: set[int] = set()
    fresh: Counter[int] = Counter()
    ids: dict[int, set[str]] = defaultdict(set)
    for m in received:
        if m["msg_type"] == "4" and m.get("gap_fill"):
            covered.update(range(m["seq"], m["new_seq"]))
        else:
            covered.add(m["seq"])
        if not m["poss_dup"]:
            fresh[m["seq"]] += 1
        if m["cl_ord_id"] is not None:
            ids[m["seq"]].add(m["cl_ord_id"])
    assert covered >= set(range(1, last + 1)), sorted(set(range(1, last + 1)) - covered)
    assert max(covered) == last
    assert [s for s, n in fresh.items() if n > 1] == []
    assert {s: c for s, c in ids.items() if len(c) > 1} == {}
    orders = [m["cl_ord_id"] for m in received if m["msg_type"] == "D"]
    assert len(orders) == len(set(orders)), "a ClOrdID reached QuickFIX twice"
    # Everything the first run printed as acknowledged reached QuickFIX.
    acked = {x["cl_ord_id"] for x in first.json() if x.get("kind") == "new"}
    assert acked <= first_orders
    assert {str(i) for i in range(1001, 1051)} <= set(orders)


# ---- e. QuickFIX as initiator against the gateway's acceptor -------------------------------

@pytest.mark.parametrize(("begin", "reset"), [("FIX.4.2", False), ("FIX.4.4", False),
                                              ("FIX.4.4", True)])
def test_quickfix_initiator_against_gateway_exchange(begin: str, reset: bool, tmp_path: Path,
                                                     procs: list[Proc]) -> None:
    for attempt in range(3):  # a free port can be taken before the child binds it
        port = free_port()
        gw = Proc(["-m", "gateway", "fix-exchange", "--port", str(port), "--session",
                   f"{begin}:EXCH:CLIENT", "--store", str(tmp_path / "exchange-store")],
                  tmp_path, f"fix-exchange-{attempt}")
        procs.append(gw)
        try:
            gw.wait_line(lambda x: isinstance(x, str) and "listening" in x, "listening line")
            break
        except AssertionError:
            if gw.p.poll() is None or attempt == 2:
                raise
    args = ["-m", "tests.fixinterop.qf_client", "--port", str(port), "--begin", begin,
            "--sender", "CLIENT", "--target", "EXCH", "--orders", "25",
            "--store", str(tmp_path / "client-store"), "--timeout", "30"]
    client = Proc([*args, "--reset"] if reset else args, tmp_path, "qf_client")
    procs.append(client)
    assert client.finish(60) == 0, (client.lines[-5:], client.stderr()[-3000:])
    out = client.json()
    (summary,) = [x for x in out if x.get("kind") == "summary"]
    assert summary["new_and_filled"] == summary["orders"] == 25, summary
    assert summary["reports"] == 50
    assert summary["clean_logout"] and summary["logons"] == 1 and summary["logouts"] == 1
    assert summary["session_rejects"] == [] and summary["other"] == {}
    per_order: dict[str, list[str]] = defaultdict(list)
    for x in out:
        if x.get("kind") == "report":
            per_order[x["cl_ord_id"]].append(x["exec_type"])
    fill = "F" if begin == "FIX.4.4" else "2"
    assert per_order == {str(i): ["0", fill] for i in range(1, 26)}
    assert gw.p.poll() is None, "the gateway's acceptor died"
