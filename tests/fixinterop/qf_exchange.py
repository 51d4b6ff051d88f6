"""A QuickFIX acceptor playing the exchange, for the gateway's interop tests
and the round-trip benchmark.

What it does with each application message it receives (``fromApp``):

* NewOrderSingle (D): ExecutionReport New, then (unless the order's Symbol
  is a ``--no-fill-symbol``, or ``--ack-only``) a Fill for the whole
  quantity at the order's price.  FIX 4.2 reports carry ExecTransType
  (20=0) and ExecType 0 then 2; FIX 4.4 ExecType 0 then F.  A ClOrdID seen
  before is rejected (ExecType 8), except a PossDup copy, which is ignored.
* OrderCancelRequest (F): ExecutionReport Cancelled (150=4, 39=4) for an
  open order, else OrderCancelReject (35=9).
* OrderCancelReplaceRequest (G): ExecutionReport Replaced (150=5, 39=0)
  with the new OrderQty and Price, else OrderCancelReject.
* BusinessMessageReject (j): logged, not answered (answering a refusal
  with a refusal would never end);
* anything else: QuickFIX's BusinessMessageReject (UnsupportedMessageType).

``--ack-only`` answers each NewOrderSingle with the New report and nothing
else: one report per order, for the benchmark.

``--log-messages FILE`` writes every message QuickFIX hands up -- the
application's (``fromApp``) and the session's (``fromAdmin``), which QuickFIX
delivers only in sequence, once the sequence number checks passed -- as
one JSON line, flushed: ``{"app": true, "msg_type": "D", "seq": 7,
"poss_dup": false, "cl_ord_id": "12", ...}``; SequenceResets add
``new_seq`` and ``gap_fill``.  Tests read it to see that no sequence number
was lost, skipped or used twice.

Control, one command per line on stdin (answered with one JSON line on
stdout, ``{"control": CMD, "ok": true, "next_sender": N, "next_target": M}``);
a leading ``@TARGET`` picks the session (default: the first):

* ``status``: only the answer (the session's next sequence numbers);
* ``jump N``: skip N outgoing sequence numbers
  (``Session.setNextSenderMsgSeqNum``), then send a Heartbeat, so the peer
  sees a sequence number too high, asks for a resend and gets a
  SequenceReset-GapFill over the hole;
* ``rewind N``: expect an incoming sequence number N lower than the next
  one (``Session.setNextTargetMsgSeqNum``), as if the last N messages were
  lost: the peer's next message is too high, and QuickFIX asks for them
  again;
* ``heartbeat``: send a Heartbeat;
* ``test-request ID``: send a TestRequest;
* ``news TEXT``: send an unsolicited News (35=B);
* ``secdef [SYMBOL]``: send an unsolicited SecurityDefinition (35=d);
* ``report CLORDID``: send an unsolicited order-status ExecutionReport;
* ``logout [TEXT]``: log the session out (QuickFIX then refuses Logons,
  closing the connection, until ``logon``);
* ``logon``: accept Logons again.

Other stdout lines: ``{"event": "listening", "port": P}`` once it accepts,
``{"event": "logon", "target": T}``, ``{"event": "logout", "target": T}``.

Sessions: ``--begin`` with ``--sender`` and each ``--target`` (repeatable).
Store: QuickFIX's FileStore under ``--store`` (``--memory-store``: in
memory), ResetOnLogon/Logout/Disconnect all N, so sequence numbers survive
reconnects (and restarts of this process with the same store).
Dictionaries: the project's ``protocols/dicts`` when there, else those of
the quickfix wheel.

Run: ``python -m tests.fixinterop.qf_exchange --port P --store DIR
--begin FIX.4.4 --sender EXCH --target CLIENT [--log-messages FILE]``;
it runs until SIGTERM/SIGINT or end of stdin with ``--exit-on-eof``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import quickfix as fix

from tests.fixscripts.qf_echo import acceptor_defaults, stop_on_signals

ROOT = Path(__file__).resolve().parents[2]
DICT_NAMES = {"FIX.4.2": "FIX42.xml", "FIX.4.4": "FIX44.xml"}


def dictionary_path(begin: str) -> Path:
    """The data dictionary for ``begin``: the project's, else the wheel's."""
    name = DICT_NAMES[begin]
    for folder in (ROOT / "protocols" / "dicts", Path(sys.prefix) / "share" / "quickfix"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no {name} in protocols/dicts or {sys.prefix}/share/quickfix")


def _get(m: Any, tag: int) -> str | None:
    return str(m.getField(tag)) if m.isSetField(tag) else None


@dataclass
class _Order:
    order_id: str
    cl_ord_id: str
    symbol: str
    side: str
    qty: int
    price: str
    cum: int = 0
    open: bool = True


class ExchangeApplication(fix.Application):
    """The exchange: acks, fills, cancels, replaces (see the module doc)."""

    def __init__(self, no_fill_symbols: Sequence[str] = (), ack_only: bool = False,
                 log: IO[str] | None = None, out: IO[str] | None = None) -> None:
        super().__init__()
        self.no_fill = frozenset(no_fill_symbols)
        self.ack_only = ack_only
        self.log = log
        self.out = out or sys.stdout
        self.lock = threading.RLock()
        self.orders: dict[tuple[str, str], _Order] = {}
        self._ids = itertools.count(1)

    # -- callbacks ---------------------------------------------------------------

    def onCreate(self, session_id: Any) -> None:
        pass

    def onLogon(self, session_id: Any) -> None:
        self.emit({"event": "logon", "target": session_id.getTargetCompID().getValue()})

    def onLogout(self, session_id: Any) -> None:
        self.emit({"event": "logout", "target": session_id.getTargetCompID().getValue()})

    def toAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def toApp(self, message: Any, session_id: Any) -> None:
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        self._log(message, app=False)

    def fromApp(self, message: Any, session_id: Any) -> None:
        self._log(message, app=True)
        mt = message.getHeader().getField(35)
        with self.lock:
            if mt == "D":
                self._new(message, session_id)
            elif mt == "F":
                self._cancel(message, session_id)
            elif mt == "G":
                self._replace(message, session_id)
            elif mt == "j":
                pass  # the peer refused something we sent: never answer a refusal
            else:
                raise fix.UnsupportedMessageType()

    # -- output ------------------------------------------------------------------

    def emit(self, obj: dict[str, Any]) -> None:
        with self.lock:
            self.out.write(json.dumps(obj) + "\n")
            self.out.flush()

    def _log(self, message: Any, app: bool) -> None:
        if self.log is None:
            return
        h = message.getHeader()
        rec: dict[str, Any] = {
            "app": app, "msg_type": h.getField(35), "seq": int(h.getField(34)),
            "poss_dup": _get(h, 43) == "Y", "cl_ord_id": _get(message, 11),
            "orig_cl_ord_id": _get(message, 41), "test_req_id": _get(message, 112)}
        if rec["msg_type"] == "4":
            rec["new_seq"] = int(message.getField(36))
            rec["gap_fill"] = _get(message, 123) == "Y"
        with self.lock:
            self.log.write(json.dumps(rec) + "\n")
            self.log.flush()

    # -- orders ------------------------------------------------------------------

    def _new(self, m: Any, sid: Any) -> None:
        cl = _get(m, 11) or ""
        key = (sid.toString(), cl)
        qty = int(float(_get(m, 38) or "0"))
        o = _Order(f"O{next(self._ids)}", cl, _get(m, 55) or "?", _get(m, 54) or "1", qty,
                   _get(m, 44) or "100")
        if key in self.orders or qty <= 0:
            if key in self.orders and _get(m.getHeader(), 43) == "Y":
                return  # a resent copy of an order we have
            self._report(sid, o, "8", "8", 0, text="duplicate ClOrdID or bad OrderQty")
            return
        self.orders[key] = o
        self._report(sid, o, "0", "0", 0)
        if not self.ack_only and o.symbol not in self.no_fill:
            o.cum, o.open = o.qty, False
            self._report(sid, o, "2", "2", o.qty)

    def _find(self, m: Any, sid: Any) -> _Order | None:
        return self.orders.get((sid.toString(), _get(m, 41) or ""))

    def _cancel_reject(self, m: Any, sid: Any, o: _Order | None, response_to: str) -> None:
        r = fix.Message()
        r.getHeader().setField(35, "9")
        r.setField(11, _get(m, 11) or "")
        r.setField(37, o.order_id if o else "NONE")
        r.setField(39, "2" if o else "8")
        r.setField(41, _get(m, 41) or "")
        r.setField(58, "too late" if o else "unknown order")
        r.setField(102, "0" if o else "1")
        r.setField(434, response_to)
        fix.Session.sendToTarget(r, sid)

    def _cancel(self, m: Any, sid: Any) -> None:
        o = self._find(m, sid)
        if o is None or not o.open:
            self._cancel_reject(m, sid, o, "1")
            return
        orig, o.cl_ord_id, o.open = o.cl_ord_id, _get(m, 11) or "", False
        self.orders[(sid.toString(), o.cl_ord_id)] = o
        self._report(sid, o, "4", "4", 0, orig=orig)

    def _replace(self, m: Any, sid: Any) -> None:
        o = self._find(m, sid)
        if o is None or not o.open:
            self._cancel_reject(m, sid, o, "2")
            return
        orig, o.cl_ord_id = o.cl_ord_id, _get(m, 11) or ""
        o.qty = int(float(_get(m, 38) or o.qty))
        o.price = _get(m, 44) or o.price
        self.orders[(sid.toString(), o.cl_ord_id)] = o
        self._report(sid, o, "5", "0", 0, orig=orig)

    def _report(self, sid: Any, o: _Order, exec_type: str, status: str, last: int,
                orig: str | None = None, text: str | None = None,
                trans_type: str = "0") -> None:
        fix44 = sid.getBeginString().getValue() >= "FIX.4.4"
        if fix44 and exec_type == "2":
            exec_type = "F"
        r = fix.Message()
        r.getHeader().setField(35, "8")
        r.setField(6, o.price if o.cum else "0")
        r.setField(11, o.cl_ord_id)
        r.setField(14, str(o.cum))
        r.setField(17, f"E{next(self._ids)}")
        if not fix44:
            r.setField(20, trans_type)
        if last:
            r.setField(31, o.price)
            r.setField(32, str(last))
        r.setField(37, o.order_id)
        r.setField(38, str(o.qty))
        r.setField(39, status)
        if orig is not None:
            r.setField(41, orig)
        r.setField(44, o.price)
        r.setField(54, o.side)
        r.setField(55, o.symbol)
        if text:
            r.setField(58, text)
        r.setField(150, exec_type)
        r.setField(151, str(0 if status in ("2", "4", "8") else o.qty - o.cum))
        fix.Session.sendToTarget(r, sid)

    def status_report(self, sid: Any, cl_ord_id: str) -> None:
        """An unsolicited order-status ExecutionReport (4.4 ExecType I,
        4.2 ExecTransType 3)."""
        with self.lock:
            o = self.orders.get((sid.toString(), cl_ord_id))
            if o is None:
                o = _Order("NONE", cl_ord_id, "?", "1", 0, "0", open=False)
            status = "0" if o.open else ("2" if o.cum >= o.qty and o.qty else "4")
            fix44 = sid.getBeginString().getValue() >= "FIX.4.4"
            self._report(sid, o, "I" if fix44 else "0", status, 0, trans_type="3")


# ---- control --------------------------------------------------------------------

class Controller:
    """Runs the stdin commands (see the module doc) against the sessions."""

    def __init__(self, app: ExchangeApplication, sessions: Sequence[Any]) -> None:
        self.app = app
        self.sessions = {s.getTargetCompID().getValue(): s for s in sessions}
        self.first = sessions[0]

    def run(self, line: str) -> dict[str, Any]:
        words = line.split()
        sid = self.first
        if words and words[0].startswith("@"):
            sid = self.sessions[words.pop(0)[1:]]
        if not words:
            raise ValueError("empty command")
        cmd, args = words[0], words[1:]
        session = fix.Session.lookupSession(sid)
        if session is None:
            raise ValueError(f"no session {sid.toString()}")
        if cmd == "jump":
            n = int(args[0])
            session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + n)
            self._admin(sid, "0")
        elif cmd == "rewind":
            session.setNextTargetMsgSeqNum(session.getExpectedTargetNum() - int(args[0]))
        elif cmd == "heartbeat":
            self._admin(sid, "0")
        elif cmd == "test-request":
            m = fix.Message()
            m.getHeader().setField(35, "1")
            m.setField(112, args[0] if args else "TEST")
            fix.Session.sendToTarget(m, sid)
        elif cmd == "news":
            m = fix.Message()
            m.getHeader().setField(35, "B")
            m.setField(148, " ".join(args) or "news")
            m.setField(33, "1")   # LinesOfText / NoLinesOfText: one line
            m.setField(58, "unsolicited")
            fix.Session.sendToTarget(m, sid)
        elif cmd == "secdef":
            m = fix.Message()
            m.getHeader().setField(35, "d")
            m.setField(320, "REQ1")
            m.setField(322, "RSP1")
            m.setField(323, "1")          # SecurityResponseType: accept as is
            if sid.getBeginString().getValue() < "FIX.4.4":
                m.setField(393, "1")      # TotalNumSecurities (required in 4.2)
            m.setField(55, args[0] if args else "TEST")
            fix.Session.sendToTarget(m, sid)
        elif cmd == "report":
            self.app.status_report(sid, args[0])
        elif cmd == "logout":
            session.logout(" ".join(args))
        elif cmd == "logon":
            session.logon()
        elif cmd != "status":
            raise ValueError(f"unknown command {cmd!r}")
        return {"control": cmd, "ok": True, "target": sid.getTargetCompID().getValue(),
                "next_sender": session.getExpectedSenderNum(),
                "next_target": session.getExpectedTargetNum(),
                "logged_on": bool(session.isLoggedOn())}

    @staticmethod
    def _admin(sid: Any, msg_type: str) -> None:
        m = fix.Message()
        m.getHeader().setField(35, msg_type)
        fix.Session.sendToTarget(m, sid)

    def serve(self, stream: IO[str], stop: threading.Event, exit_on_eof: bool) -> None:
        for line in stream:
            if not line.strip():
                continue
            try:
                answer = self.run(line)
            except Exception as e:  # a bad command must not end the exchange
                answer = {"control": line.split()[0] if line.split() else "", "ok": False,
                          "error": f"{type(e).__name__}: {e}"}
            self.app.emit(answer)
        if exit_on_eof:
            stop.set()


# ---- settings and main ------------------------------------------------------------

def settings_text(port: int, store: Path, begin: str, sender: str, targets: Sequence[str],
                  host: str = "127.0.0.1", file_log: bool = True) -> str:
    default: dict[str, object] = {
        **acceptor_defaults(port, host, store),
        "BeginString": begin,
        "SenderCompID": sender,
        "ResetOnLogon": "N",
        "ResetOnLogout": "N",
        "ResetOnDisconnect": "N",
        "DataDictionary": dictionary_path(begin),
    }
    if file_log:
        default["FileLogPath"] = store / "log"
    lines = ["[DEFAULT]", *(f"{k}={v}" for k, v in default.items())]
    for target in targets:
        lines += ["", "[SESSION]", f"TargetCompID={target}"]
    return "\n".join(lines) + "\n"


class Exchange:
    """The acceptor, startable in-process (``start``/``stop``) or from ``main``."""

    def __init__(self, port: int, store: Path, begin: str = "FIX.4.4", sender: str = "EXCH",
                 targets: Sequence[str] = ("CLIENT",), *, host: str = "127.0.0.1",
                 no_fill_symbols: Sequence[str] = (), ack_only: bool = False,
                 log_messages: Path | None = None, memory_store: bool = False,
                 file_log: bool = True) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="qf_exchange")
        cfg = Path(self._tmp.name) / "acceptor.cfg"
        cfg.write_text(settings_text(port, store, begin, sender, targets, host, file_log))
        self.settings = fix.SessionSettings(str(cfg))
        self._log_file = log_messages.open("a") if log_messages else None
        self.app = ExchangeApplication(no_fill_symbols, ack_only, self._log_file)
        self.store_factory = (fix.MemoryStoreFactory() if memory_store
                              else fix.FileStoreFactory(self.settings))
        if file_log:
            self.log_factory = fix.FileLogFactory(self.settings)
            self.acceptor = fix.SocketAcceptor(self.app, self.store_factory, self.settings,
                                               self.log_factory)
        else:
            self.acceptor = fix.SocketAcceptor(self.app, self.store_factory, self.settings)
        self.session_ids = [fix.SessionID(begin, sender, t) for t in targets]

    def start(self) -> None:
        self.acceptor.start()

    def stop(self) -> None:
        self.acceptor.stop()
        if self._log_file is not None:
            self._log_file.close()
        self._tmp.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fixinterop.qf_exchange",
                                 description="QuickFIX acceptor playing the exchange")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--store", type=Path, required=True, help="folder for the store and logs")
    ap.add_argument("--begin", default="FIX.4.4", choices=sorted(DICT_NAMES))
    ap.add_argument("--sender", default="EXCH", help="our SenderCompID")
    ap.add_argument("--target", action="append", default=[],
                    help="the client's CompID (repeatable: one session each; default CLIENT)")
    ap.add_argument("--log-messages", type=Path, help="JSON line per received message")
    ap.add_argument("--no-fill-symbol", action="append", default=[],
                    help="orders on this Symbol are acknowledged, never filled (repeatable)")
    ap.add_argument("--ack-only", action="store_true",
                    help="answer each NewOrderSingle with one ExecutionReport (New) only")
    ap.add_argument("--memory-store", action="store_true", help="QuickFIX MemoryStore")
    ap.add_argument("--no-file-log", action="store_true", help="no QuickFIX FileLog")
    ap.add_argument("--exit-on-eof", action="store_true", help="stop when stdin closes")
    a = ap.parse_args(argv)
    stop = stop_on_signals()
    ex = Exchange(a.port, a.store, a.begin, a.sender, a.target or ["CLIENT"], host=a.host,
                  no_fill_symbols=a.no_fill_symbol, ack_only=a.ack_only,
                  log_messages=a.log_messages, memory_store=a.memory_store,
                  file_log=not a.no_file_log)
    ex.start()
    ctl = Controller(ex.app, ex.session_ids)
    threading.Thread(target=ctl.serve, args=(sys.stdin, stop, a.exit_on_eof),
                     daemon=True).start()
    ex.app.emit({"event": "listening", "port": a.port, "begin": a.begin,
                 "dictionary": str(dictionary_path(a.begin))})
    try:
        stop.wait()
    finally:
        ex.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
