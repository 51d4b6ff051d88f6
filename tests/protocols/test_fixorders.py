"""protocols/fixorders.py: order state per ClOrdID chain.

Every path through the states in both report dialects (FIX 4.2 with
ExecTransType and ExecType 1/2; FIX 4.4 with ExecType F/I/G/H), the local
refusals, the reports that must change nothing (unknown, malformed, duplicate,
inconsistent), the request bodies checked against QuickFIX's data
dictionaries, and two hypothesis tests: random sessions against a simulated
exchange keep the invariants and end in agreement with the exchange; garbled
reports never raise and never break an invariant.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _protocols_util import skip_or_fail
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import fix
from protocols.fixorders import (
    DONE,
    FIX42,
    FIX44,
    KINDS,
    WORKING,
    Order,
    OrderError,
    OrderTracker,
)

TT = "20240102-09:30:00.000"
VERSIONS = pytest.mark.parametrize("v", [FIX42, FIX44])
PROBLEMS = ("unknown", "malformed", "duplicate", "inconsistent")

# OrdStatus code of each state (what the simulated exchange reports).
STATUS_CODE = {"new": "0", "partially_filled": "1", "filled": "2", "done_for_day": "3",
               "cancelled": "4", "rejected": "8", "expired": "C", "pending_new": "A",
               "pending_cancel": "6", "pending_replace": "E"}


# ----------------------------------------------------------------- the venue

class Venue:
    """Builds the exchange's messages in one dialect (4.2 or 4.4)."""

    def __init__(self, v: str, symbol: str = "IBM", side: str = "1") -> None:
        self.v, self.symbol, self.side = v, symbol, side
        self.n = 0

    def exec_id(self) -> str:
        self.n += 1
        return f"X{self.n}"

    def report(self, cl: str, exec_type: str, status: str, *, cum: Any, leaves: Any,
               qty: Any = None, avg: Any = 0, last: Any = None, px: Any = None,
               orig: str | None = None, oid: str = "OID1", text: str | None = None,
               reason: str | None = None, trans: str = "0", price: Any = None,
               exec_id: str | None = None) -> dict[int, bytes]:
        f: dict[int, Any] = {37: oid, 11: cl}
        if orig is not None:
            f[41] = orig
        f[17] = exec_id or self.exec_id()
        if self.v == FIX42:
            f[20] = trans
        f.update({150: exec_type, 39: status, 55: self.symbol, 54: self.side})
        if qty is not None:
            f[38] = qty
        if price is not None:
            f[44] = price
        if last is not None:
            f[32], f[31] = last, px
        f.update({151: leaves, 14: cum, 6: avg})
        if reason is not None:
            f[103] = reason
        if text is not None:
            f[58] = text
        return {k: str(x).encode() for k, x in f.items()}

    def ack(self, cl: str, qty: Any, **kw: Any) -> dict[int, bytes]:
        return self.report(cl, "0", "0", cum=0, leaves=qty, qty=qty, **kw)

    def fill(self, cl: str, *, last: Any, px: Any, cum: Any, qty: Any, avg: Any,
             status: str | None = None, **kw: Any) -> dict[int, bytes]:
        leaves = Decimal(qty) - Decimal(cum)
        done = leaves == 0
        et = "F" if self.v == FIX44 else ("2" if done else "1")
        st_ = status or ("2" if done else "1")
        return self.report(cl, et, st_, cum=cum, leaves=leaves, qty=qty, avg=avg, last=last,
                           px=px, **kw)

    def status(self, cl: str, status: str, **kw: Any) -> dict[int, bytes]:
        if self.v == FIX42:
            return self.report(cl, status, status, trans="3", exec_id="0", **kw)
        return self.report(cl, "I", status, **kw)

    def correct(self, cl: str, status: str, *, bust: bool = False, **kw: Any) -> dict[int, bytes]:
        if self.v == FIX42:
            return self.report(cl, status, status, trans="1" if bust else "2", **kw)
        return self.report(cl, "H" if bust else "G", status, **kw)

    def replaced(self, cl: str, orig: str, *, cum: Any, qty: Any, price: Any = None,
                 status: str | None = None, **kw: Any) -> dict[int, bytes]:
        leaves = Decimal(qty) - Decimal(cum)
        now = status or ("2" if leaves == 0 else "1" if Decimal(cum) > 0 else "0")
        return self.report(cl, "5", "5" if self.v == FIX42 and status is None else now,
                           cum=cum, leaves=leaves, qty=qty, price=price, orig=orig, **kw)

    def cxl_reject(self, cl: str, orig: str, status: str, *, to: str = "1",
                   reason: str | None = None, text: str | None = None,
                   oid: str = "OID1") -> dict[int, bytes]:
        f: dict[int, Any] = {37: oid, 11: cl, 41: orig, 39: status, 434: to}
        if reason is not None:
            f[102] = reason
        if text is not None:
            f[58] = text
        return {k: str(x).encode() for k, x in f.items()}


# ---------------------------------------------- QuickFIX dictionary checks

@functools.cache
def _dictionary(v: str) -> Any:
    try:
        import quickfix
    except ImportError:
        skip_or_fail("quickfix (its data dictionaries) is not installed")
    path = Path(sys.prefix) / "share" / "quickfix" / f"FIX{v[4]}{v[6]}.xml"
    if not path.is_file():
        skip_or_fail(f"QuickFIX data dictionary {path} is absent")
    return quickfix.DataDictionary(str(path))


def assert_valid(v: str, msg_type: str, body: list[tuple[int, bytes]] | Mapping[int, bytes]
                 ) -> None:
    """A whole message around ``body`` passes QuickFIX's validation."""
    import quickfix
    dd = _dictionary(v)
    items = list(body.items()) if isinstance(body, Mapping) else list(body)
    raw = fix.encode(v, [(35, msg_type), (49, "GW"), (56, "EX"), (34, 1), (52, TT), *items])
    dd.validate(quickfix.Message(raw.decode(), dd, True))


def invariants(t: OrderTracker) -> None:
    seen: dict[str, Order] = {}
    for o in t.orders():
        if o.state in WORKING:
            assert o.cum_qty + o.leaves_qty == o.qty, o
        else:
            assert o.state in DONE and o.leaves_qty == 0, o
        assert 0 <= o.cum_qty <= o.qty, o
        assert o.cl_ord_id in o.history and o.history[0] == o.orig_cl_ord_id
        assert o.links[o.cl_ord_id] == "live"
        assert set(o.links) == set(o.history)
        for c in o.history:
            assert c not in seen, f"ClOrdID {c} in two chains"
            seen[c] = o
            assert t.order(c) is o
        assert (o.pending is None) == (o.pending_cl_ord_id is None)


def new(t: OrderTracker, cl: str = "C1", qty: Any = 100, price: Any = "10.5",
        **kw: Any) -> list[tuple[int, bytes]]:
    return t.new_order(cl, "IBM", "1", qty, price, transact_time=TT, **kw)


def acked(v: str, qty: int = 100) -> tuple[OrderTracker, Venue, Order]:
    t, ven = OrderTracker(v), Venue(v)
    new(t, qty=qty)
    ev = t.on_execution_report(ven.ack("C1", qty))
    assert ev.kind == "new" and ev.state == "new"
    o = t.order("C1")
    assert o is not None
    return t, ven, o


# ------------------------------------------------------------- request bodies

def test_bodies_fix42() -> None:
    t = OrderTracker(FIX42)
    d = t.new_order("C1", "IBM", "1", 100, "10.50", account="ACC", transact_time=TT)
    assert d == [(11, b"C1"), (1, b"ACC"), (21, b"1"), (55, b"IBM"), (54, b"1"), (60, TT.encode()),
                 (38, b"100"), (40, b"2"), (44, b"10.50"), (59, b"0")]
    t.on_execution_report(Venue(FIX42).ack("C1", 100, oid="OID7"))
    f = t.cancel("C2", "C1", TT)
    assert f == [(41, b"C1"), (11, b"C2"), (37, b"OID7"), (1, b"ACC"), (55, b"IBM"),
                 (54, b"1"), (60, TT.encode()), (38, b"100")]
    t.on_cancel_reject(Venue(FIX42).cxl_reject("C2", "C1", "0", oid="OID7"))
    g = t.replace("C3", "C1", qty=200, transact_time=TT)
    assert g == [(41, b"C1"), (11, b"C3"), (37, b"OID7"), (1, b"ACC"), (21, b"1"),
                 (55, b"IBM"), (54, b"1"), (60, TT.encode()), (38, b"200"), (40, b"2"),
                 (44, b"10.50"), (59, b"0")]


def test_bodies_fix44_market_and_stop() -> None:
    t = OrderTracker(FIX44, handl_inst=None)
    d = t.new_order("M1", "IBM", "2", "5", None, ord_type="1", tif="3", transact_time=TT)
    assert d == [(11, b"M1"), (55, b"IBM"), (54, b"2"), (60, TT.encode()), (38, b"5"),
                 (40, b"1"), (59, b"3")]
    s = t.new_order("S1", "IBM", "1", 5, "10", ord_type="4", stop_px="9.5", transact_time=TT)
    assert (44, b"10") in s and (99, b"9.5") in s and (21, b"1") not in s
    t.on_execution_report(Venue(FIX44).ack("S1", 5))
    g = t.replace("S2", "S1", price=Decimal("10.25"), transact_time=TT)
    assert (38, b"5") in g and (44, b"10.25") in g and (99, b"9.5") in g


@pytest.mark.quickfix
@VERSIONS
def test_bodies_pass_quickfix_dictionaries(v: str) -> None:
    t, ven = OrderTracker(v), Venue(v)
    assert_valid(v, "D", new(t))
    assert_valid(v, "D", t.new_order("M1", "IBM", "2", 7, None, ord_type="1",
                                     transact_time="20240102-09:30:00"))
    t.on_execution_report(ven.ack("C1", 100))
    assert_valid(v, "G", t.replace("C2", "C1", qty=150, price="10.75", transact_time=TT))
    t.on_cancel_reject(ven.cxl_reject("C2", "C1", "0", to="2"))
    assert_valid(v, "F", t.cancel("C3", "C1", TT))
    # and the simulated exchange's messages are real FIX too
    assert_valid(v, "8", ven.ack("C1", 100))
    assert_valid(v, "8", ven.fill("C1", last=10, px="10.5", cum=10, qty=100, avg="10.5"))
    assert_valid(v, "8", ven.replaced("C2", "C1", cum=10, qty=150, price="10.75"))
    assert_valid(v, "8", ven.status("C1", "1", cum=10, leaves=90, qty=100))
    assert_valid(v, "8", ven.correct("C1", "0", bust=True, cum=0, leaves=100, qty=100))
    assert_valid(v, "9", ven.cxl_reject("C3", "C1", "1", reason="0", text="too late"))


def test_quantities_keep_their_digits() -> None:
    t = OrderTracker(FIX44)
    body = dict(t.new_order("A", "X", "1", Decimal("1E+2"), "0.00001", transact_time=TT))
    assert body[38] == b"100" and body[44] == b"0.00001"
    body = dict(t.new_order("B", "X", "1", "12345678901234567890.123456789", Decimal("-0"),
                            transact_time=TT))
    assert body[38] == b"12345678901234567890.123456789" and body[44] == b"0"


# ---------------------------------------------------------- state transitions

@VERSIONS
def test_new_partial_filled(v: str) -> None:
    t, ven = OrderTracker(v), Venue(v)
    new(t)
    o = t.order("C1")
    assert o is not None and o.state == "pending_new" and o.pending == "new"
    assert t.on_execution_report(ven.report("C1", "A", "A", cum=0, leaves=100)).state == \
        "pending_new"
    assert o.pending == "new"
    ev = t.on_execution_report(ven.ack("C1", 100, oid="OID9"))
    assert (ev.kind, ev.state, ev.prev_state) == ("new", "new", "pending_new")
    assert o.pending is None and o.order_id == "OID9" and t.open_orders() == [o]
    ev = t.on_execution_report(ven.fill("C1", last=30, px="10.5", cum=30, qty=100, avg="10.5"))
    assert (ev.kind, ev.state, ev.last_qty, ev.last_px) == ("fill", "partially_filled", 30,
                                                             Decimal("10.5"))
    assert (o.cum_qty, o.leaves_qty, o.avg_px) == (30, 70, Decimal("10.5"))
    ev = t.on_execution_report(ven.fill("C1", last=70, px="10.4", cum=100, qty=100,
                                        avg="10.43"))
    assert (ev.kind, ev.state, ev.prev_state) == ("fill", "filled", "partially_filled")
    assert (o.cum_qty, o.leaves_qty, o.avg_px) == (100, 0, Decimal("10.43"))
    assert (o.last_qty, o.last_px) == (70, Decimal("10.4"))
    assert [(f.qty, f.px) for f in o.fills] == [(30, Decimal("10.5")), (70, Decimal("10.4"))]
    assert t.open_orders() == [] and o.done
    s = t.stats()
    assert (s["sent_new"], s["pending_new"], s["new"], s["fill"]) == (1, 1, 1, 2)
    assert all(s[k] == 0 for k in PROBLEMS)
    invariants(t)


@VERSIONS
def test_fill_without_ack_settles_pending_new(v: str) -> None:
    t, ven = OrderTracker(v), Venue(v)
    new(t, qty=10)
    ev = t.on_execution_report(ven.fill("C1", last=10, px="10.5", cum=10, qty=10, avg="10.5"))
    assert ev.state == "filled" and ev.order is not None and ev.order.pending is None


@VERSIONS
def test_cancel_accepted(v: str) -> None:
    t, ven, o = acked(v)
    t.cancel("C2", "C1", TT)
    assert (o.state, o.pending, o.pending_cl_ord_id) == ("pending_cancel", "cancel", "C2")
    assert t.order("C2") is o and t.link_state("C2") == "pending_cancel"
    ev = t.on_execution_report(ven.report("C2", "6", "6", cum=0, leaves=100, orig="C1"))
    assert (ev.kind, ev.state) == ("pending_cancel", "pending_cancel")
    ev = t.on_execution_report(ven.report("C2", "4", "4", cum=0, leaves=0, orig="C1"))
    assert (ev.kind, ev.state, ev.cl_ord_id, ev.orig_cl_ord_id) == ("cancelled", "cancelled",
                                                                    "C2", "C1")
    assert o.cl_ord_id == "C2" and o.orig_cl_ord_id == "C1" and o.pending is None
    assert o.history == ["C1", "C2"] and t.order("C1") is o
    assert t.link_state("C1") == "cancelled" and t.link_state("C2") == "cancelled"
    assert o.leaves_qty == 0 and t.open_orders() == []
    invariants(t)


@VERSIONS
def test_cancel_rejected_returns_to_previous_state(v: str) -> None:
    t, ven, o = acked(v)
    t.cancel("C2", "C1", TT)
    ev = t.on_cancel_reject(ven.cxl_reject("C2", "C1", "0", reason="2", text="no"))
    assert (ev.kind, ev.state, ev.prev_state, ev.reason, ev.text) == (
        "cancel_reject", "new", "pending_cancel", 2, "no")
    assert o.pending is None and o.cl_ord_id == "C1" and t.link_state("C2") == "rejected"
    # from partially filled, with a fill arriving while the cancel is pending
    t.on_execution_report(ven.fill("C1", last=10, px=10, cum=10, qty=100, avg=10))
    t.cancel("C3", "C1", TT)
    ev = t.on_execution_report(ven.fill("C1", last=5, px=10, cum=15, qty=100, avg=10))
    assert ev.kind == "fill" and ev.state == "pending_cancel"
    assert o.prev_state == "partially_filled" and o.cum_qty == 15 and o.leaves_qty == 85
    ev = t.on_cancel_reject(ven.cxl_reject("C3", "C1", "1"))
    assert (ev.kind, ev.state) == ("cancel_reject", "partially_filled")
    invariants(t)


@VERSIONS
def test_filled_while_cancel_pending_then_too_late(v: str) -> None:
    t, ven, o = acked(v)
    t.cancel("C2", "C1", TT)
    ev = t.on_execution_report(ven.fill("C1", last=100, px=10, cum=100, qty=100, avg=10))
    assert ev.state == "filled" and o.pending == "cancel"
    with pytest.raises(OrderError, match="already filled"):
        t.replace("C3", "C1", qty=50, transact_time=TT)
    ev = t.on_cancel_reject(ven.cxl_reject("C2", "C1", "2", reason="0", text="too late"))
    assert (ev.kind, ev.state, ev.reason) == ("cancel_reject", "filled", 0)
    assert o.pending is None
    invariants(t)


@VERSIONS
def test_cancel_reject_status_must_agree_with_quantities(v: str) -> None:
    t, ven, _ = acked(v)
    t.on_execution_report(ven.fill("C1", last=10, px=10, cum=10, qty=100, avg=10))
    t.cancel("C2", "C1", TT)
    # 39=0 (new) cannot be right with CumQty 10: the state before the request stands
    assert t.on_cancel_reject(ven.cxl_reject("C2", "C1", "0")).state == "partially_filled"


@VERSIONS
def test_replace_accepted_moves_the_chain(v: str) -> None:
    t, ven, o = acked(v)
    t.on_execution_report(ven.fill("C1", last=20, px="10.5", cum=20, qty=100, avg="10.5"))
    t.replace("C2", "C1", qty=150, price="10.75", transact_time=TT)
    assert (o.state, o.pending, o.prev_state) == ("pending_replace", "replace",
                                                  "partially_filled")
    assert o.qty == 100 and o.price == Decimal("10.5")
    ev = t.on_execution_report(ven.report("C2", "E", "E", cum=20, leaves=80, orig="C1"))
    assert ev.state == "pending_replace"
    ev = t.on_execution_report(ven.replaced("C2", "C1", cum=20, qty=150, price="10.75",
                                            oid="OID2"))
    assert (ev.kind, ev.state, ev.cl_ord_id, ev.orig_cl_ord_id) == (
        "replaced", "partially_filled", "C2", "C1")
    assert (o.cl_ord_id, o.qty, o.price, o.leaves_qty, o.order_id) == (
        "C2", 150, Decimal("10.75"), 130, "OID2")
    assert t.link_state("C1") == "replaced" and t.link_state("C2") == "partially_filled"
    assert t.order("C1") is t.order("C2") is o and o.pending is None
    # the next request points at the new live ClOrdID, whichever link the caller names
    f = dict(t.cancel("C3", "C1", TT))
    assert f[41] == b"C2" and f[38] == b"150" and f[37] == b"OID2"
    ev = t.on_execution_report(ven.report("C3", "4", "4", cum=20, leaves=0, orig="C2"))
    assert ev.state == "cancelled" and o.cl_ord_id == "C3" and o.history == ["C1", "C2", "C3"]
    invariants(t)


@VERSIONS
def test_replace_down_to_cum_qty_fills(v: str) -> None:
    t, ven, o = acked(v)
    t.on_execution_report(ven.fill("C1", last=40, px=10, cum=40, qty=100, avg=10))
    t.replace("C2", "C1", qty=40, transact_time=TT)
    ev = t.on_execution_report(ven.replaced("C2", "C1", cum=40, qty=40, price="10.5"))
    assert ev.state == "filled" and o.leaves_qty == 0 and o.qty == 40
    invariants(t)


@VERSIONS
def test_replace_rejected(v: str) -> None:
    t, ven, o = acked(v)
    t.replace("C2", "C1", price="11", transact_time=TT)
    ev = t.on_cancel_reject(ven.cxl_reject("C2", "C1", "0", to="2", reason="3",
                                           text="already pending"))
    assert (ev.kind, ev.state, ev.cl_ord_id, ev.reason, ev.text) == (
        "replace_reject", "new", "C2", 3, "already pending")
    assert (o.cl_ord_id, o.qty, o.price, o.pending) == ("C1", 100, Decimal("10.5"), None)
    assert t.link_state("C2") == "rejected" and t.order("C2") is o
    assert t.stats()["replace_reject"] == 1
    invariants(t)


@VERSIONS
def test_replace_rejected_by_execution_report(v: str) -> None:
    t, ven, o = acked(v)
    t.replace("C2", "C1", qty=120, transact_time=TT)
    ev = t.on_execution_report(ven.report("C2", "8", "0", cum=0, leaves=100, orig="C1",
                                          reason="99", text="bad"))
    assert (ev.kind, ev.state, ev.reason) == ("replace_reject", "new", 99)
    assert o.qty == 100 and o.pending is None


@VERSIONS
def test_new_rejected(v: str) -> None:
    t, ven = OrderTracker(v), Venue(v)
    new(t)
    ev = t.on_execution_report(ven.report("C1", "8", "8", cum=0, leaves=0, oid="NONE",
                                          reason="1", text="unknown symbol"))
    assert (ev.kind, ev.state, ev.reason, ev.text) == ("rejected", "rejected", 1,
                                                       "unknown symbol")
    o = t.order("C1")
    assert o is not None and o.done and o.pending is None and o.order_id is None
    assert o.leaves_qty == 0 and t.open_orders() == []
    with pytest.raises(OrderError, match=r"'C2'.*already rejected"):
        t.cancel("C2", "C1", TT)
    invariants(t)


@VERSIONS
@pytest.mark.parametrize(("et", "code", "state"), [("C", "C", "expired"),
                                                   ("3", "3", "done_for_day"),
                                                   ("4", "4", "cancelled")])
def test_unsolicited_end(v: str, et: str, code: str, state: str) -> None:
    t, ven, o = acked(v)
    t.on_execution_report(ven.fill("C1", last=10, px=10, cum=10, qty=100, avg=10))
    ev = t.on_execution_report(ven.report("C1", et, code, cum=10, leaves=0))
    assert (ev.kind, ev.state) == (state, state) and o.done and o.leaves_qty == 0
    assert t.open_orders() == []
    ev = t.on_execution_report(ven.fill("C1", last=5, px=10, cum=15, qty=100, avg=10))
    assert ev.kind == "inconsistent" and o.cum_qty == 10


@VERSIONS
def test_unsolicited_cancel_while_replace_pending(v: str) -> None:
    t, ven, o = acked(v)
    t.replace("C2", "C1", qty=50, transact_time=TT)
    ev = t.on_execution_report(ven.report("C1", "4", "4", cum=0, leaves=0))
    assert ev.state == "cancelled" and o.pending == "replace" and o.cl_ord_id == "C1"
    ev = t.on_cancel_reject(ven.cxl_reject("C2", "C1", "4", to="2", reason="1"))
    assert (ev.kind, ev.state) == ("replace_reject", "cancelled") and o.pending is None
    invariants(t)


@VERSIONS
def test_stopped_and_4_2_replaced_status_use_quantities(v: str) -> None:
    t, ven, _ = acked(v)
    t.on_execution_report(ven.fill("C1", last=10, px=10, cum=10, qty=100, avg=10))
    ev = t.on_execution_report(ven.report("C1", "7", "7", cum=10, leaves=90))
    assert (ev.kind, ev.state) == ("stopped", "partially_filled")


@VERSIONS
def test_status_and_trade_corrections(v: str) -> None:
    t, ven, o = acked(v)
    t.on_execution_report(ven.fill("C1", last=40, px=10, cum=40, qty=100, avg=10))
    ev = t.on_execution_report(ven.status("C1", "1", cum=40, leaves=60, qty=100))
    assert (ev.kind, ev.state) == ("status", "partially_filled")
    ev = t.on_execution_report(ven.correct("C1", "1", cum=30, leaves=70, qty=100, last=30,
                                           px=10, avg=10))
    assert (ev.kind, ev.state, o.cum_qty, o.leaves_qty) == ("trade_correct", "partially_filled",
                                                            30, 70)
    ev = t.on_execution_report(ven.correct("C1", "0", bust=True, cum=0, leaves=100, qty=100,
                                           avg=0))
    assert (ev.kind, ev.state, o.cum_qty) == ("trade_cancel", "new", 0)
    # a status report resynchronises an order that missed a fill
    ev = t.on_execution_report(ven.fill("C1", last=10, px=10, cum=20, qty=100, avg=10))
    assert ev.kind == "inconsistent" and o.cum_qty == 0
    ev = t.on_execution_report(ven.status("C1", "1", cum=20, leaves=80, qty=100))
    assert ev.kind == "status" and (o.cum_qty, o.state) == (20, "partially_filled")
    invariants(t)


# ----------------------------------------------------------- local refusals

@VERSIONS
def test_duplicate_clordid_refused(v: str) -> None:
    t, ven, _ = acked(v)
    with pytest.raises(OrderError, match=r"'C1'.*duplicate ClOrdID"):
        new(t, "C1")
    t.cancel("C2", "C1", TT)
    t.on_cancel_reject(ven.cxl_reject("C2", "C1", "0"))
    for use in (lambda: new(t, "C2"), lambda: t.cancel("C2", "C1", TT),
                lambda: t.replace("C2", "C1", qty=5, transact_time=TT)):
        with pytest.raises(OrderError, match=r"'C2'.*duplicate ClOrdID"):
            use()
    with pytest.raises(OrderError, match=r"'C1'.*duplicate"):
        t.replace("C1", "C1", qty=5, transact_time=TT)
    # a refused request does not use up its ClOrdID
    with pytest.raises(OrderError):
        new(t, "C9", qty=0)
    new(t, "C9")
    assert t.stats()["refused"] == 6 and t.stats()["sent_new"] == 2
    invariants(t)


@VERSIONS
def test_request_refusals(v: str) -> None:
    t, ven, _ = acked(v)
    refusals: list[tuple[str, Any]] = [
        ("unknown OrigClOrdID 'ZZ'", lambda: t.cancel("R1", "ZZ", TT)),
        ("TransactTime", lambda: t.cancel("R1", "C1", "2024-01-02 09:30")),
        ("changes nothing", lambda: t.replace("R1", "C1", transact_time=TT)),
        ("changes nothing", lambda: t.replace("R1", "C1", qty=100, price="10.50",
                                              transact_time=TT)),
        ("not float", lambda: new(t, "R1", qty=1.5)),
        ("not float", lambda: new(t, "R1", price=10.5)),
        ("not bool", lambda: new(t, "R1", qty=True)),
        ("not a decimal", lambda: new(t, "R1", qty="1e3")),
        ("not finite", lambda: new(t, "R1", qty=Decimal("NaN"))),
        ("must be > 0", lambda: new(t, "R1", qty=-5)),
        ("needs a Price", lambda: new(t, "R1", price=None)),
        ("takes no Price", lambda: new(t, "R1", ord_type="1")),
        ("needs a StopPx", lambda: new(t, "R1", ord_type="4")),
        ("takes no StopPx", lambda: new(t, "R1", stop_px="9")),
        ("Side", lambda: t.new_order("R1", "IBM", "Z", 1, 1, transact_time=TT)),
        ("OrdType", lambda: new(t, "R1", ord_type="?")),
        ("TimeInForce '6'", lambda: new(t, "R1", tif="6")),
        ("Symbol", lambda: t.new_order("R1", "", "1", 1, 1, transact_time=TT)),
        ("Account", lambda: new(t, "R1", account="a\x01b")),
        ("printable", lambda: new(t, "")),
        ("printable", lambda: new(t, "a\x01")),
    ]
    for why, call in refusals:
        with pytest.raises(OrderError, match=why):
            call()
    t.on_execution_report(ven.fill("C1", last=60, px=10, cum=60, qty=100, avg=10))
    with pytest.raises(OrderError, match="below CumQty 60"):
        t.replace("R1", "C1", qty=50, transact_time=TT)
    t.replace("R2", "C1", qty=60, transact_time=TT)
    with pytest.raises(OrderError, match=r"'R3'.*replace request 'R2' is still pending"):
        t.cancel("R3", "C1", TT)
    with pytest.raises(OrderError, match=r"'R3'.*still pending"):
        t.replace("R3", "R2", qty=70, transact_time=TT)
    new(t, "N1")
    with pytest.raises(OrderError, match=r"'R3'.*new request 'N1' is still pending"):
        t.cancel("R3", "N1", TT)
    assert t.stats()["refused"] == len(refusals) + 4
    assert t.stats()["sent_replace"] == 1
    invariants(t)


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="begin_string"):
        OrderTracker("FIX.4.3")
    with pytest.raises(ValueError, match="HandlInst"):
        OrderTracker(FIX42, handl_inst=None)


# ------------------------------------------------- reports that change nothing

@VERSIONS
def test_unknown_clordid_counted(v: str) -> None:
    t, ven, o = acked(v)
    before = (o.state, o.cum_qty)
    ev = t.on_execution_report(ven.fill("NOPE", last=1, px=1, cum=1, qty=100, avg=1,
                                        oid="OTHER"))
    assert (ev.kind, ev.order, ev.cl_ord_id) == ("unknown", None, "NOPE")
    ev = t.on_cancel_reject(ven.cxl_reject("NOPE", "NOPE0", "0", oid="OTHER"))
    assert ev.kind == "unknown"
    assert t.stats()["unknown"] == 2 and (o.state, o.cum_qty) == before


@VERSIONS
def test_lookup_by_order_id_or_orig(v: str) -> None:
    t, ven, o = acked(v)
    msg = ven.fill("C1", last=5, px=10, cum=5, qty=100, avg=10)
    del msg[11]
    assert t.on_execution_report(msg).order is o and o.cum_qty == 5
    # an exchange-initiated cancel under a ClOrdID of its own, naming ours in 41
    ev = t.on_execution_report(ven.report("OPS1", "4", "4", cum=5, leaves=0, orig="C1",
                                          oid="?"))
    assert ev.kind == "cancelled" and ev.order is o and o.cl_ord_id == "C1"
    assert t.order("OPS1") is None


@VERSIONS
def test_overfill_inconsistent(v: str) -> None:
    t, ven, o = acked(v)
    t.on_execution_report(ven.fill("C1", last=60, px=10, cum=60, qty=100, avg=10))
    snapshot = (o.state, o.cum_qty, o.leaves_qty, o.avg_px, list(o.fills))
    bad = [
        ven.fill("C1", last=50, px=10, cum=110, qty=110, avg=10),          # beyond OrderQty
        ven.report("C1", "F" if v == FIX44 else "1", "1", cum=50, leaves=50, last=10, px=10),
        ven.fill("C1", last=10, px=10, cum=80, qty=100, avg=10),           # 60 + 10 != 80
        ven.fill("C1", last=0, px=10, cum=60, qty=100, avg=10),
        ven.report("C1", "0", "1", cum=70, leaves=30),                      # no fill
        ven.report("C1", "0", "1", cum=60, leaves=30),                      # 60 + 30 != 100
        ven.report("C1", "5", "1", cum=60, leaves=40, orig="C0"),          # replace not sent
        ven.report("C1", "2" if v == FIX42 else "F", "2", cum=70, leaves=30, last=10, px=10),
    ]
    for msg in bad:
        ev = t.on_execution_report(msg)
        assert ev.kind == "inconsistent", (msg, ev)
        assert ev.order is o and ev.state == "partially_filled" and ev.text
        assert (o.state, o.cum_qty, o.leaves_qty, o.avg_px, list(o.fills)) == snapshot
    assert t.stats()["inconsistent"] == len(bad)
    # a cancel reject with no request pending
    assert t.on_cancel_reject(ven.cxl_reject("C1", "C0", "1")).kind == "inconsistent"
    invariants(t)


@VERSIONS
def test_stale_cancel_reject_for_an_older_request(v: str) -> None:
    t, ven, o = acked(v)
    t.cancel("C2", "C1", TT)
    t.on_cancel_reject(ven.cxl_reject("C2", "C1", "0"))
    t.cancel("C3", "C1", TT)
    ev = t.on_cancel_reject(ven.cxl_reject("C2", "C1", "0"))
    assert ev.kind == "inconsistent" and o.pending == "cancel"
    assert t.on_execution_report(ven.report("C3", "4", "4", cum=0, leaves=0,
                                            orig="C1")).state == "cancelled"


@VERSIONS
def test_malformed_and_duplicate(v: str) -> None:
    t, ven, o = acked(v)
    good = ven.fill("C1", last=5, px=10, cum=5, qty=100, avg=10)
    for tag, value in [(39, None), (150, None), (14, None), (151, None), (32, None),
                       (14, b"5x"), (151, b"-1"), (39, b"Z"), (6, b"nan"), (31, b"")]:
        msg = dict(good)
        if value is None:
            del msg[tag]
        else:
            msg[tag] = value
        assert t.on_execution_report(msg).kind == "malformed", (tag, value)
    if v == FIX42:
        assert t.on_execution_report({**good, 20: b"7"}).kind == "malformed"
    assert t.on_execution_report({11: "C1", 39: 5}).kind == "malformed"  # type: ignore[dict-item]
    assert o.cum_qty == 0
    assert t.on_execution_report(good).kind == "fill"
    assert t.on_execution_report(good).kind == "duplicate"     # a resent report
    assert o.cum_qty == 5 and len(o.fills) == 1
    assert t.stats()["duplicate"] == 1
    invariants(t)


def test_stats_lists_every_kind() -> None:
    s = OrderTracker(FIX44).stats()
    assert set(KINDS) <= set(s) and all(n == 0 for n in s.values())
    assert {"sent_new", "sent_cancel", "sent_replace", "refused"} <= set(s)


# ------------------------------------------------------- simulated exchange

@dataclass
class SimOrder:
    cl: str
    qty: Decimal
    price: Decimal | None
    oid: str
    status: str = "new"
    cum: Decimal = Decimal(0)

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.cum if self.status in ("new", "partially_filled") else Decimal(0)


class SimExchange:
    """A small, valid exchange: requests queue in, messages queue out, both
    in order (one TCP session each way), so reports can race requests."""

    def __init__(self, v: str) -> None:
        self.v, self.venue = v, Venue(v)
        self.inbox: list[tuple[str, dict[int, bytes]]] = []
        self.outbox: list[tuple[str, dict[int, bytes]]] = []
        self.live: dict[str, SimOrder] = {}       # exchange's live ClOrdID -> order
        self.orders: dict[str, SimOrder] = {}     # original ClOrdID -> order

    def _out(self, msg: dict[int, bytes], kind: str = "8") -> None:
        self.outbox.append((kind, msg))

    def _report(self, o: SimOrder, cl: str, et: str, **kw: Any) -> dict[int, bytes]:
        return self.venue.report(cl, et, STATUS_CODE[o.status], cum=o.cum, leaves=o.leaves,
                                 qty=o.qty, oid=o.oid, **kw)

    def process(self, reject: bool, pending_ack: bool, old_status: bool) -> None:
        msg_type, f = self.inbox.pop(0)
        cl = f[11].decode()
        if msg_type == "D":
            qty = Decimal(f[38].decode())
            o = SimOrder(cl, qty, Decimal(f[44].decode()), f"O{len(self.orders)}")
            self.orders[cl] = o
            if pending_ack:
                o.status = "pending_new"
                self._out(self.venue.report(cl, "A", "A", cum=0, leaves=qty, qty=qty,
                                            oid=o.oid))
            if reject:
                o.status = "rejected"
                self._out(self._report(o, cl, "8", reason="3", text="limit"))
            else:
                o.status = "new"
                self.live[cl] = o
                self._out(self._report(o, cl, "0"))
            return
        orig = f[41].decode()
        o = self.live[orig]
        to = "1" if msg_type == "F" else "2"
        if o.status not in ("new", "partially_filled"):
            self._out(self.venue.cxl_reject(cl, orig, STATUS_CODE[o.status], to=to, reason="0",
                                            oid=o.oid), "9")
            return
        new_qty = Decimal(f[38].decode())
        if reject or new_qty < o.cum:
            self._out(self.venue.cxl_reject(cl, orig, STATUS_CODE[o.status], to=to, reason="2",
                                            oid=o.oid), "9")
            return
        if msg_type == "F":
            if pending_ack:
                self._out(self.venue.report(cl, "6", "6", cum=o.cum, leaves=o.leaves, qty=o.qty,
                                            orig=orig, oid=o.oid))
            o.status = "cancelled"
            self._out(self._report(o, cl, "4", orig=orig))
        else:
            if pending_ack:
                self._out(self.venue.report(cl, "E", "E", cum=o.cum, leaves=o.leaves, qty=o.qty,
                                            orig=orig, oid=o.oid))
            o.qty, o.price = new_qty, Decimal(f[44].decode())
            o.status = "filled" if o.cum == o.qty else "partially_filled" if o.cum else "new"
            status = "5" if self.v == FIX42 and old_status else STATUS_CODE[o.status]
            self._out(self.venue.report(cl, "5", status, cum=o.cum, leaves=o.leaves, qty=o.qty,
                                        price=o.price, orig=orig, oid=o.oid))
        del self.live[orig]
        self.live[cl] = o
        o.cl = cl

    def working(self) -> list[SimOrder]:
        return [o for o in self.live.values() if o.status in ("new", "partially_filled")]

    def fill(self, o: SimOrder, qty: Decimal) -> None:
        o.cum += qty
        o.status = "filled" if o.cum == o.qty else "partially_filled"
        self._out(self.venue.fill(o.cl, last=qty, px=o.price, cum=o.cum, qty=o.qty,
                                  avg=o.price, oid=o.oid))

    def end(self, o: SimOrder, how: str) -> None:
        o.status = how
        self._out(self._report(o, o.cl, {"expired": "C", "cancelled": "4",
                                         "done_for_day": "3"}[how]))


ACTIONS = st.sampled_from(["new", "new", "cancel", "replace", "replace", "dup", "process",
                           "process", "deliver", "deliver", "deliver", "fill", "fill", "end"])


REJECT = st.sampled_from([False, False, False, True])


@settings(max_examples=150)
@given(st.sampled_from([FIX42, FIX44]), st.data())
def test_random_sessions_keep_invariants(v: str, data: st.DataObject) -> None:
    t, ex = OrderTracker(v), SimExchange(v)
    sent: list[str] = []
    last_cum: dict[int, Decimal] = {}
    n = 0

    def fresh() -> str:
        nonlocal n
        n += 1
        return f"K{n}"

    def deliver() -> None:
        kind, msg = ex.outbox.pop(0)
        ev = t.on_execution_report(msg) if kind == "8" else t.on_cancel_reject(msg)
        assert ev.kind not in PROBLEMS, (ev, msg)
        for o in t.orders():
            assert o.cum_qty >= last_cum.get(id(o), Decimal(0))
            last_cum[id(o)] = o.cum_qty
        invariants(t)

    def pick_order() -> tuple[Order, str]:
        o = data.draw(st.sampled_from(t.orders()))
        return o, data.draw(st.sampled_from(o.history))

    for _ in range(data.draw(st.integers(1, 60))):
        action = data.draw(ACTIONS)
        if action == "new":
            cl = fresh()
            body = t.new_order(cl, "IBM", "1", data.draw(st.integers(1, 500)),
                               data.draw(st.sampled_from(["10", "10.25", "9.5"])),
                               transact_time=TT)
            sent.append(cl)
            ex.inbox.append(("D", dict(body)))
        elif action in ("cancel", "replace") and t.orders():
            o, link = pick_order()
            cl = fresh()
            blocked = o.done or o.pending is not None or o.state in ("pending_cancel",
                                                                     "pending_replace")
            try:
                if action == "cancel":
                    body = t.cancel(cl, link, TT)
                else:
                    q = data.draw(st.one_of(st.none(), st.integers(1, 600),
                                            st.just(max(1, int(o.cum_qty)))))
                    px = data.draw(st.sampled_from([None, "10", "10.5", "11"]))
                    new_q = o.qty if q is None else Decimal(q)
                    new_px = o.price if px is None else Decimal(px)
                    blocked = blocked or new_q < o.cum_qty or (new_q, new_px) == (o.qty, o.price)
                    body = t.replace(cl, link, qty=q, price=px, transact_time=TT)
            except OrderError:
                assert blocked
                continue
            assert not blocked
            sent.append(cl)
            assert dict(body)[41] == o.cl_ord_id.encode()
            ex.inbox.append(("F" if action == "cancel" else "G", dict(body)))
        elif action == "dup" and sent:
            with pytest.raises(OrderError, match="duplicate"):
                t.new_order(data.draw(st.sampled_from(sent)), "IBM", "1", 1, "1",
                            transact_time=TT)
        elif action == "process" and ex.inbox:
            ex.process(data.draw(REJECT), data.draw(st.booleans()),
                       data.draw(st.booleans()))
        elif action == "deliver" and ex.outbox:
            deliver()
        elif action == "fill" and ex.working():
            o_ = data.draw(st.sampled_from(ex.working()))
            ex.fill(o_, Decimal(data.draw(st.integers(1, int(o_.leaves)))))
        elif action == "end" and ex.working():
            ex.end(data.draw(st.sampled_from(ex.working())),
                   data.draw(st.sampled_from(["expired", "cancelled", "done_for_day"])))

    while ex.inbox or ex.outbox:
        if ex.inbox:
            ex.process(data.draw(REJECT), data.draw(st.booleans()),
                       data.draw(st.booleans()))
        while ex.outbox:
            deliver()
    # every ClOrdID sent maps to exactly one order; tracker and exchange agree
    assert sorted(c for o in t.orders() for c in o.history) == sorted(sent)
    assert len(t.orders()) == len(ex.orders)
    for first, so in ex.orders.items():
        mine = t.order(first)
        assert mine is not None and mine.orig_cl_ord_id == first
        assert (mine.state, mine.cum_qty, mine.qty, mine.cl_ord_id, mine.pending) == (
            so.status, so.cum, so.qty, so.cl, None)
        # a reject carries no OrderID; a pending-new ack before it may have
        assert mine.order_id in ((None, so.oid) if so.status == "rejected" else (so.oid,))
    assert {o.orig_cl_ord_id for o in t.open_orders()} == {
        c for c, so in ex.orders.items() if so.status in ("new", "partially_filled")}
    s = t.stats()
    assert all(s[k] == 0 for k in PROBLEMS)
    assert s["sent_new"] + s["sent_cancel"] + s["sent_replace"] == len(sent)


# ------------------------------------------------------------ garbled input

TAGS = [6, 11, 14, 17, 20, 31, 32, 37, 38, 39, 41, 44, 150, 151, 434]
VALUES = st.one_of(
    st.sampled_from([b"C1", b"C2", b"C3", b"K", b"0", b"1", b"2", b"3", b"5", b"8", b"A",
                     b"F", b"I", b"G", b"H", b"E", b"6", b"4", b"C", b"D", b"10", b"50",
                     b"60", b"100", b"-1", b"", b"1e5", b"NaN", b"OID1", b"X1", b"0.5"]),
    st.binary(max_size=6))


def templates(v: str) -> list[tuple[bool, dict[int, bytes]]]:
    """Valid-looking messages about the orders of the garbled test."""
    ven = Venue(v)
    return [
        (False, ven.ack("C1", 100)),
        (False, ven.ack("C3", 10, oid="OID3")),
        (False, ven.fill("C1", last=10, px=10, cum=10, qty=100, avg=10)),
        (False, ven.fill("C2", last=50, px=10, cum=50, qty=50, avg=10)),
        (False, ven.fill("C3", last=10, px=10, cum=10, qty=10, avg=10, oid="OID3")),
        (False, ven.replaced("C2", "C1", cum=0, qty=50, price="10.5")),
        (False, ven.report("C2", "4", "4", cum=0, leaves=0, orig="C1")),
        (False, ven.report("C1", "C", "C", cum=0, leaves=0)),
        (False, ven.report("C3", "8", "8", cum=0, leaves=0)),
        (False, ven.status("C1", "1", cum=20, leaves=80, qty=100)),
        (False, ven.correct("C1", "0", bust=True, cum=0, leaves=100, qty=100)),
        (True, ven.cxl_reject("C2", "C1", "0", to="2")),
        (True, ven.cxl_reject("C1", "C0", "1")),
    ]


@settings(max_examples=300)
@given(st.sampled_from([FIX42, FIX44]),
       st.lists(st.tuples(st.integers(0, 12), st.dictionaries(st.sampled_from(TAGS), VALUES,
                                                                max_size=3),
                          st.lists(st.sampled_from(TAGS), max_size=2)), max_size=25))
def test_garbled_reports_never_raise_nor_break_invariants(
        v: str, msgs: list[tuple[int, dict[int, bytes], list[int]]]) -> None:
    t, ven = OrderTracker(v), Venue(v)
    new(t, "C1")
    t.on_execution_report(ven.ack("C1", 100))
    t.replace("C2", "C1", qty=50, transact_time=TT)
    new(t, "C3", qty=10)
    total = 1  # the ack
    base = templates(v)
    for which, changes, drop in msgs:
        cancel_reject, msg = base[which]
        msg = {**msg, **changes}
        for tag in drop:
            msg.pop(tag, None)
        ev = t.on_cancel_reject(msg) if cancel_reject else t.on_execution_report(msg)
        total += 1
        assert ev.kind in KINDS
        invariants(t)
    assert sum(t.stats()[k] for k in KINDS) == total
