"""Order entry over a FIX session: the application side of an initiator.

``OrderEntry`` keeps order state per ClOrdID chain (``protocols.fixorders``
decides; duplicate ClOrdIDs are refused before anything leaves) and sends
NewOrderSingle, OrderCancelRequest and OrderCancelReplaceRequest through
the C template encoder (``gw_fix_encode_columns``): one template per message
type and field set, header, BodyLength and CheckSum filled in one pass,
then saved to the store and written like every other message.
ExecutionReports and OrderCancelRejects update the orders and are handed on
as ``OrderEvent``s; other application messages are refused with a
BusinessMessageReject.

``gateway fix-orders`` drives it from the command line: log on, send N
orders, print every order event as a JSON line, log out when all are done.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from decimal import Decimal

from gateway import fixcli
from gateway.fixengine import Engine, SessionHandle
from gateway.fixscan import FixEncoder
from protocols.fixorders import OrderError, OrderEvent, OrderTracker
from protocols.fixsession import Event, LocalProtocolError, Message, SessionConfig

log = logging.getLogger("gateway.orders")


class OrderEntry:
    def __init__(self, begin_string: str,
                 on_event: Callable[[OrderEvent], None] | None = None) -> None:
        self.tracker = OrderTracker(begin_string)
        self.on_order_event = on_event
        self.handle: SessionHandle | None = None
        self.logged_on = False
        self.logouts: list[str] = []
        self._templates: dict[tuple[bytes, tuple[int, ...]], FixEncoder] = {}

    # -- requests ------------------------------------------------------------------

    def new_order(self, cl_ord_id: str, symbol: str, side: str, qty: int | str | Decimal,
                  price: int | str | Decimal | None = None, ord_type: str = "2",
                  tif: str = "0") -> int:
        h = self._ready()
        body = self.tracker.new_order(cl_ord_id, symbol, side, qty, price, ord_type, tif,
                                      transact_time=self._transact_time(h))
        return self._send(h, b"D", body)

    def cancel(self, cl_ord_id: str, orig_cl_ord_id: str) -> int:
        h = self._ready()
        body = self.tracker.cancel(cl_ord_id, orig_cl_ord_id, self._transact_time(h))
        return self._send(h, b"F", body)

    def replace(self, cl_ord_id: str, orig_cl_ord_id: str,
                qty: int | str | Decimal | None = None,
                price: int | str | Decimal | None = None) -> int:
        h = self._ready()
        body = self.tracker.replace(cl_ord_id, orig_cl_ord_id, qty, price,
                                    transact_time=self._transact_time(h))
        return self._send(h, b"G", body)

    def _ready(self) -> SessionHandle:
        h = self.handle
        if h is None or not h.session.logged_on:
            raise LocalProtocolError("the session is not logged on")
        return h

    @staticmethod
    def _transact_time(h: SessionHandle) -> str:
        return h.session.sending_time(h.engine.now())

    def _send(self, h: SessionHandle, msg_type: bytes, body: list[tuple[int, bytes]]) -> int:
        tags = tuple([t for t, _ in body])
        enc = self._templates.get((msg_type, tags))
        if enc is None:
            c = h.session.config
            enc = FixEncoder(c.begin_string, msg_type.decode(), c.sender_comp_id,
                             c.target_comp_id, list(tags))
            self._templates[(msg_type, tags)] = enc
        seq = h.session.next_sender_seq
        raw = enc.encode_one(seq, h.session.sending_time(h.engine.now()), [v for _, v in body])
        h.send_encoded([(seq, raw)])
        return seq

    # -- the engine's callbacks -------------------------------------------------------

    def on_logon(self, s: SessionHandle) -> None:
        self.handle = s
        self.logged_on = True

    def on_logout(self, s: SessionHandle, reason: str) -> None:
        self.logged_on = False
        self.logouts.append(reason)

    def on_event(self, s: SessionHandle, event: Event) -> None:
        log.debug("%s: %s", s.key, event)

    def on_message(self, s: SessionHandle, msg: Message) -> None:
        mt = msg.msg_type
        if mt == b"8":
            ev = self.tracker.on_execution_report(msg.values())
        elif mt == b"9":
            ev = self.tracker.on_cancel_reject(msg.values())
        else:
            s.session.business_reject(msg, s.engine.now())
            s.engine.flush(s)
            return
        if self.on_order_event is not None:
            self.on_order_event(ev)


# ---- gateway fix-orders ---------------------------------------------------------------

def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fix-orders", help="log on as a FIX initiator and send orders")
    p.add_argument("--connect", required=True, help="HOST:PORT of the acceptor")
    p.add_argument("--begin", default="FIX.4.4", choices=["FIX.4.2", "FIX.4.4"])
    p.add_argument("--sender", required=True, help="our SenderCompID")
    p.add_argument("--target", required=True, help="the acceptor's CompID")
    p.add_argument("--reset", action="store_true", help="ResetSeqNumFlag on Logon")
    p.add_argument("--heartbeat", type=int, default=30, help="HeartBtInt, seconds")
    p.add_argument("--orders", type=int, default=10)
    p.add_argument("--first-id", type=int, default=1, help="ClOrdIDs count up from here")
    p.add_argument("--symbol", default="TEST")
    p.add_argument("--interval-ms", type=float, default=0.0, help="pause between orders")
    p.add_argument("--timeout", type=float, default=30.0, help="give up after this long")
    fixcli.add_common(p)
    p.set_defaults(func=run_orders)


def run_orders(a: argparse.Namespace) -> int:
    from gateway.errors import ConfigError

    fixcli.setup_logging(a)
    host, _, port = a.connect.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError("--connect", f"{a.connect!r}: expected HOST:PORT")

    def show(ev: OrderEvent) -> None:
        print(json.dumps({"kind": ev.kind, "cl_ord_id": ev.cl_ord_id, "state": ev.state}),
              flush=True)

    engine = Engine()
    oe = OrderEntry(a.begin, show)
    store = fixcli.store_for(a, a.sender, a.target, a.begin)
    cfg = SessionConfig(a.begin, a.sender, a.target, heartbeat_interval=a.heartbeat,
                        reset_on_logon=a.reset)
    h = engine.add_session(cfg, store, oe, connect_to=(host, int(port)), backoff_s=(0.5, 1, 2),
                           dictionary=fixcli.dictionary_for(a, a.begin))
    deadline = engine.now() + int(a.timeout * 1e9)
    sent, next_at = 0, 0
    try:
        while engine.now() < deadline:
            engine.run_once(0.001 if sent < a.orders else 0.01)
            now = engine.now()
            if oe.logged_on and sent < a.orders and now >= next_at:
                try:
                    oe.new_order(f"{a.first_id + sent}", a.symbol, "1", 100, "10.5")
                except OrderError as e:
                    print(json.dumps({"kind": "refused", "error": str(e)}), flush=True)
                sent += 1
                next_at = now + int(a.interval_ms * 1e6)
            # Done when every order has its answer (acknowledged or refused).
            if sent == a.orders and oe.logged_on \
                    and all(o.state != "pending_new" for o in oe.tracker.orders()):
                h.logout()
                engine.run(until=lambda: h.sock is None or engine.now() > deadline)
                break
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
    stats = {"sent": sent, "next_sender_seq": store.next_sender_seq,
             "next_target_seq": store.next_target_seq, **oe.tracker.stats()}
    print(json.dumps({"kind": "summary", **stats}), flush=True)
    return 0 if sent == a.orders else 1

