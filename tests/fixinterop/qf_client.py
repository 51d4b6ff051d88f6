"""A QuickFIX initiator that logs on and sends NewOrderSingles.

In-process (the round-trip benchmark, tests)::

    client = QfClient(port, "FIX.4.4", "CLIENT", "EXCH", store=tmp)
    client.start()                       # waits for the Logon
    client.new_order("1", "TEST", "1", 100, "10.5")
    client.wait(lambda: client.reports_for("1") >= 2)
    client.stop()                        # Logout, then the initiator stops

``on_report`` (when given) is called on QuickFIX's thread for every
ExecutionReport, first thing in ``fromApp``, with ``time.perf_counter_ns()``
of its arrival and the message.

From a shell (the reverse interop test)::

    python -m tests.fixinterop.qf_client --port P --begin FIX.4.4 \
        --sender CLIENT --target EXCH --orders N [--store DIR] [--reset]

prints one JSON line per ExecutionReport (``{"kind": "report", "cl_ord_id":
..., "exec_type": ..., "ord_status": ...}``), then, after every order has
reached a final state (filled, rejected, cancelled) or ``--timeout``, logs
out and prints ``{"kind": "summary", ...}`` with the counts and whether the
logout was clean.  Exit status 0 when every order got its New and its Fill.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import quickfix as fix

from tests.fixinterop.qf_exchange import dictionary_path

FINAL = {"2", "4", "8", "C", "3"}   # OrdStatus: filled, cancelled, rejected, expired, done


def _get(m: Any, tag: int) -> str | None:
    return str(m.getField(tag)) if m.isSetField(tag) else None


class ClientApplication(fix.Application):
    def __init__(self, on_report: Callable[[int, Any], None] | None = None) -> None:
        super().__init__()
        self.on_report = on_report
        self.cond = threading.Condition()
        self.logged_on = False
        self.logons = 0
        self.logouts = 0
        self.reports: list[tuple[str, str, str]] = []      # (ClOrdID, ExecType, OrdStatus)
        self.by_order: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.other: Counter[str] = Counter()                # other application MsgTypes
        self.rejects: list[str] = []                        # session-level Rejects (35=3)

    def onCreate(self, session_id: Any) -> None:
        pass

    def onLogon(self, session_id: Any) -> None:
        with self.cond:
            self.logged_on = True
            self.logons += 1
            self.cond.notify_all()

    def onLogout(self, session_id: Any) -> None:
        with self.cond:
            self.logged_on = False
            self.logouts += 1
            self.cond.notify_all()

    def toAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def toApp(self, message: Any, session_id: Any) -> None:
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        if message.getHeader().getField(35) == "3":
            with self.cond:
                self.rejects.append(message.toString().replace("\x01", "|"))
                self.cond.notify_all()

    def fromApp(self, message: Any, session_id: Any) -> None:
        t = time.perf_counter_ns()
        mt = message.getHeader().getField(35)
        if mt != "8":
            with self.cond:
                self.other[mt] += 1
                self.cond.notify_all()
            return
        if self.on_report is not None:
            self.on_report(t, message)
        cl, et, st = _get(message, 11) or "", _get(message, 150) or "", _get(message, 39) or ""
        with self.cond:
            self.reports.append((cl, et, st))
            self.by_order[cl].append((et, st))
            self.cond.notify_all()


def settings_text(port: int, begin: str, sender: str, target: str, store: Path | None,
                  *, host: str = "127.0.0.1", heartbeat: int = 30, reset: bool = False,
                  log: Path | None = None) -> str:
    default: dict[str, object] = {
        "ConnectionType": "initiator",
        "SocketConnectHost": host,
        "SocketConnectPort": port,
        "SocketNodelay": "Y",
        "ReconnectInterval": 1,
        "HeartBtInt": heartbeat,
        "StartTime": "00:00:00",
        "EndTime": "00:00:00",
        "ResetOnLogon": "Y" if reset else "N",
        "UseDataDictionary": "Y",
        "DataDictionary": dictionary_path(begin),
        "CheckLatency": "Y",
        "MaxLatency": 120,
    }
    if store is not None:
        default["FileStorePath"] = store / "store"
    if log is not None:
        default["FileLogPath"] = log
    lines = ["[DEFAULT]", *(f"{k}={v}" for k, v in default.items()), "", "[SESSION]",
             f"BeginString={begin}", f"SenderCompID={sender}", f"TargetCompID={target}"]
    return "\n".join(lines) + "\n"


class QfClient:
    """One QuickFIX initiator session (see the module doc).  ``store``: a
    folder for QuickFIX's FileStore (and FileLog); None: MemoryStore, no log."""

    def __init__(self, port: int, begin: str = "FIX.4.4", sender: str = "CLIENT",
                 target: str = "EXCH", *, store: Path | None = None, host: str = "127.0.0.1",
                 heartbeat: int = 30, reset: bool = False,
                 on_report: Callable[[int, Any], None] | None = None) -> None:
        self.begin = begin
        self.session_id = fix.SessionID(begin, sender, target)
        self._tmp = tempfile.TemporaryDirectory(prefix="qf_client")
        cfg = Path(self._tmp.name) / "initiator.cfg"
        log = store / "log" if store is not None else None
        cfg.write_text(settings_text(port, begin, sender, target, store, host=host,
                                     heartbeat=heartbeat, reset=reset, log=log))
        self.settings = fix.SessionSettings(str(cfg))
        self.app = ClientApplication(on_report)
        if store is None:
            self.store_factory = fix.MemoryStoreFactory()
            self.initiator = fix.SocketInitiator(self.app, self.store_factory, self.settings)
        else:
            self.store_factory = fix.FileStoreFactory(self.settings)
            self.log_factory = fix.FileLogFactory(self.settings)
            self.initiator = fix.SocketInitiator(self.app, self.store_factory, self.settings,
                                                 self.log_factory)
        self._started = False
        self._fix44 = begin >= "FIX.4.4"

    # -- life ------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        self.initiator.start()
        self._started = True
        if not self.wait(lambda: self.app.logged_on, timeout):
            raise TimeoutError(f"{self.session_id.toString()}: no Logon within {timeout} s")

    def logout(self, timeout: float = 10.0) -> bool:
        """Log out and wait for the session to end; True when it did."""
        session = fix.Session.lookupSession(self.session_id)
        if session is not None and self.app.logged_on:
            session.logout("done")
        return self.wait(lambda: not self.app.logged_on, timeout)

    def stop(self) -> None:
        if self._started:
            self.logout()
            self.initiator.stop()
            self._started = False
        self._tmp.cleanup()

    def wait(self, cond: Callable[[], bool], timeout: float = 15.0) -> bool:
        with self.app.cond:
            return self.app.cond.wait_for(cond, timeout)

    def __enter__(self) -> QfClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- orders ------------------------------------------------------------------------

    def order_message(self, cl_ord_id: str, symbol: str, side: str, qty: int,
                      price: str) -> Any:
        m = fix.Message()
        m.getHeader().setField(35, "D")
        m.setField(11, cl_ord_id)
        if not self._fix44:
            m.setField(21, "1")
        m.setField(38, str(qty))
        m.setField(40, "2")
        m.setField(44, price)
        m.setField(54, side)
        m.setField(55, symbol)
        m.setField(59, "0")
        m.setField(60, _utc_now())
        return m

    def new_order(self, cl_ord_id: str, symbol: str = "TEST", side: str = "1",
                  qty: int = 100, price: str = "10.5") -> None:
        self.send(self.order_message(cl_ord_id, symbol, side, qty, price))

    def send(self, message: Any) -> None:
        if not fix.Session.sendToTarget(message, self.session_id):
            raise RuntimeError(f"{self.session_id.toString()}: sendToTarget refused")

    def reports_for(self, cl_ord_id: str) -> int:
        with self.app.cond:
            return len(self.app.by_order.get(cl_ord_id, ()))

    def final(self, cl_ord_id: str) -> bool:
        with self.app.cond:
            return any(st in FINAL for _, st in self.app.by_order.get(cl_ord_id, ()))

    def next_numbers(self) -> tuple[int, int]:
        """(next sender, next target) MsgSeqNum of the session."""
        s = fix.Session.lookupSession(self.session_id)
        return int(s.getExpectedSenderNum()), int(s.getExpectedTargetNum())


def _utc_now() -> str:
    t = time.time()
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fixinterop.qf_client",
                                 description="QuickFIX initiator that sends orders")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--begin", default="FIX.4.4", choices=["FIX.4.2", "FIX.4.4"])
    ap.add_argument("--sender", default="CLIENT")
    ap.add_argument("--target", default="EXCH")
    ap.add_argument("--store", type=Path, help="FileStore folder (default: in memory)")
    ap.add_argument("--reset", action="store_true", help="ResetOnLogon=Y (141=Y)")
    ap.add_argument("--orders", type=int, default=10)
    ap.add_argument("--first-id", type=int, default=1)
    ap.add_argument("--symbol", default="TEST")
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args(argv)

    def show(obj: dict[str, Any]) -> None:
        print(json.dumps(obj), flush=True)

    def on_report(t: int, m: Any) -> None:
        show({"kind": "report", "cl_ord_id": _get(m, 11), "exec_type": _get(m, 150),
              "ord_status": _get(m, 39), "seq": int(m.getHeader().getField(34))})

    client = QfClient(a.port, a.begin, a.sender, a.target, store=a.store, host=a.host,
                      reset=a.reset, on_report=on_report)
    ids = [str(a.first_id + i) for i in range(a.orders)]
    clean = False
    try:
        client.start(a.timeout)
        show({"kind": "logon", "next_numbers": client.next_numbers()})
        for cl in ids:
            client.new_order(cl, a.symbol)
        client.wait(lambda: all(client.final(cl) for cl in ids), a.timeout)
        clean = client.logout()
    finally:
        client.stop()
    app = client.app
    complete = sum(1 for cl in ids
                   if [et for et, _ in app.by_order.get(cl, [])][:1] == ["0"]
                   and any(st == "2" for _, st in app.by_order.get(cl, [])))
    show({"kind": "summary", "orders": len(ids), "reports": len(app.reports),
          "new_and_filled": complete, "logons": app.logons, "logouts": app.logouts,
          "clean_logout": clean, "session_rejects": app.rejects, "other": dict(app.other)})
    return 0 if complete == len(ids) and clean else 1


if __name__ == "__main__":
    sys.exit(main())
