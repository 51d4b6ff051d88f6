"""``gateway fix-exchange``: a FIX acceptor that plays a simple exchange,
for strategies and tests that need a counterparty without one.

Every NewOrderSingle is acknowledged (ExecutionReport New) and, unless
``--no-fill``, filled in full at its price (or 100 for a market order);
OrderCancelRequest cancels what is still open (else OrderCancelReject,
too late to cancel); OrderCancelReplaceRequest replaces quantity and
price.  FIX 4.2 reports carry ExecTransType and ExecType 0/2/4/5, FIX 4.4
ExecType 0/F/4/5.  Sessions are named on the command line as
``BEGIN:OUR_ID:THEIR_ID`` (default FIX.4.4:EXCH:CLIENT and
FIX.4.2:EXCH:CLIENT).
"""

from __future__ import annotations

import argparse
import itertools
import logging
from dataclasses import dataclass

from gateway import fixcli
from gateway.fixengine import Engine, SessionHandle
from protocols.fixsession import Event, Message, SessionConfig

log = logging.getLogger("gateway.exchange")


@dataclass
class _Order:
    order_id: str
    cl_ord_id: str
    symbol: str
    side: bytes
    qty: int
    price: bytes
    cum: int = 0
    open: bool = True


class ExchangeApp:
    def __init__(self, fill: bool = True) -> None:
        self.fill = fill
        self.orders: dict[tuple[tuple[str, str, str], str], _Order] = {}
        self._ids = itertools.count(1)
        self.received = 0

    def on_logon(self, s: SessionHandle) -> None:
        pass

    def on_logout(self, s: SessionHandle, reason: str) -> None:
        pass

    def on_event(self, s: SessionHandle, event: Event) -> None:
        pass

    def on_message(self, s: SessionHandle, msg: Message) -> None:
        self.received += 1
        mt = msg.msg_type
        if mt == b"D":
            self._new(s, msg)
        elif mt == b"F":
            self._cancel(s, msg)
        elif mt == b"G":
            self._replace(s, msg)
        else:
            s.session.business_reject(msg, s.engine.now())
            s.engine.flush(s)

    def _new(self, s: SessionHandle, msg: Message) -> None:
        cl = (msg.get(11) or b"").decode()
        qty = int(float(msg.get(38) or b"0"))
        o = _Order(f"O{next(self._ids)}", cl, (msg.get(55) or b"").decode(),
                   msg.get(54) or b"1", qty, msg.get(44) or b"100")
        if (s.key, cl) in self.orders or qty <= 0:
            self._report(s, o, b"8", b"8", 0, text="duplicate ClOrdID or bad OrderQty")
            return
        self.orders[(s.key, cl)] = o
        self._report(s, o, b"0", b"0", 0)
        if self.fill:
            o.cum, o.open = o.qty, False
            self._report(s, o, b"2", b"2", o.qty)

    def _cancel(self, s: SessionHandle, msg: Message) -> None:
        o = self.orders.get((s.key, (msg.get(41) or b"").decode()))
        cl = (msg.get(11) or b"").decode()
        if o is None or not o.open:
            body = [(11, cl), (37, o.order_id if o else "NONE"), (39, "2" if o else "8"),
                    (41, (msg.get(41) or b"").decode()), (58, "too late to cancel"), (102, "0"),
                    (434, "1")]
            s.send("9", body)
            return
        o.open = False
        orig, o.cl_ord_id = o.cl_ord_id, cl
        self.orders[(s.key, cl)] = o
        self._report(s, o, b"4", b"4", 0, orig=orig)

    def _replace(self, s: SessionHandle, msg: Message) -> None:
        o = self.orders.get((s.key, (msg.get(41) or b"").decode()))
        cl = (msg.get(11) or b"").decode()
        if o is None or not o.open:
            body = [(11, cl), (37, o.order_id if o else "NONE"), (39, "2" if o else "8"),
                    (41, (msg.get(41) or b"").decode()), (58, "too late to replace"),
                    (102, "0"), (434, "2")]
            s.send("9", body)
            return
        orig, o.cl_ord_id = o.cl_ord_id, cl
        o.qty = int(float(msg.get(38) or str(o.qty).encode()))
        o.price = msg.get(44) or o.price
        self.orders[(s.key, cl)] = o
        self._report(s, o, b"5", b"0", 0, orig=orig)

    def _report(self, s: SessionHandle, o: _Order, exec_type: bytes, status: bytes,
                last: int, orig: str | None = None, text: str | None = None) -> None:
        fix44 = s.session.config.begin_string >= "FIX.4.4"
        if fix44 and exec_type == b"2":
            exec_type = b"F"
        leaves = 0 if status in (b"2", b"4", b"8") else o.qty - o.cum
        avg = o.price if o.cum else b"0"
        body: list[tuple[int, bytes | str | int]] = [
            (6, avg), (11, o.cl_ord_id), (14, o.cum), (17, f"E{next(self._ids)}")]
        if not fix44:
            body.append((20, "0"))
        if last:
            body += [(31, o.price), (32, last)]
        body += [(37, o.order_id), (38, o.qty), (39, status)]
        if orig is not None:
            body.append((41, orig))
        body += [(44, o.price), (54, o.side), (55, o.symbol)]
        if text:
            body.append((58, text))
        body += [(150, exec_type), (151, leaves)]
        s.send("8", body)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fix-exchange", help="FIX acceptor that acknowledges and fills orders")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--session", action="append", default=[],
                   help="BEGIN:OUR_ID:THEIR_ID (repeatable; default FIX.4.4:EXCH:CLIENT and "
                        "FIX.4.2:EXCH:CLIENT)")
    p.add_argument("--no-fill", action="store_true", help="acknowledge orders, never fill")
    fixcli.add_common(p)
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from gateway.errors import ConfigError

    fixcli.setup_logging(a)
    engine = Engine()
    app = ExchangeApp(fill=not a.no_fill)
    for spec in a.session or ["FIX.4.4:EXCH:CLIENT", "FIX.4.2:EXCH:CLIENT"]:
        parts = spec.split(":")
        if len(parts) != 3 or parts[0] not in ("FIX.4.2", "FIX.4.4"):
            raise ConfigError("--session", f"{spec!r}: expected FIX.4.2|FIX.4.4:OUR_ID:THEIR_ID")
        begin, ours, theirs = parts
        engine.add_session(SessionConfig(begin, ours, theirs),
                           fixcli.store_for(a, ours, theirs, begin), app,
                           dictionary=fixcli.dictionary_for(a, begin))
    fixcli.serve(engine, "fix-exchange", a.host, a.port)
    return 0
