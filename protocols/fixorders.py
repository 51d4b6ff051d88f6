"""FIX 4.2 / 4.4 order-entry state: one order per ClOrdID chain (sans-IO).

Nothing here reads a clock, a socket or a file.  Requests go out as lists of
``(tag, value-bytes)`` *body* fields: the caller's session puts the header
around them (BeginString, BodyLength, MsgType 35 = ``D``/``F``/``G``,
sequence number, SendingTime...) and sends.  Incoming ExecutionReports (8)
and OrderCancelRejects (9) come in as ``Mapping[int, bytes]`` (tag to value)
and come back as one :class:`OrderEvent` each.

Theory of operation
===================

The chain
---------
A FIX order is named by its ClOrdID (11).  Every cancel (F) or cancel/replace
(G) request gets a ClOrdID of its own and points at the order's current one
with OrigClOrdID (41).  The ClOrdIDs of one order form a *chain*::

    C1 (D) --G 41=C1--> C2 --G 41=C2--> C3 --F 41=C3--> C4

:class:`OrderTracker` keeps one :class:`Order` per chain and indexes it under
every ClOrdID of the chain (the original, each request's, accepted or not),
so a report naming any of them finds the same object.  ``Order.cl_ord_id``
is the *live* ClOrdID: the newest one the exchange accepted (the original,
then the ClOrdID of each accepted replace, finally that of the accepted
cancel).  Requests must name the live one in OrigClOrdID; callers may name
any ClOrdID of the chain and the tracker sends the live one.  Each ClOrdID has
a *link state* (:meth:`OrderTracker.link_state`): the live link has the
order's state; an old link superseded by an accepted replace is
``replaced``, one superseded by an accepted cancel is ``cancelled``, a
request the exchange refused is ``rejected``, an outstanding request is
``pending_cancel`` / ``pending_replace``.  ``Order.history`` lists the
chain's ClOrdIDs in the order they were sent.

States
------
``Order.state`` is the state of the live order.  OrdStatus (39) of each
report is authoritative for it; ExecType (150) says what happened (the event
kind).  Requests in flight overlay the state: while our cancel/replace is
outstanding the order shows ``pending_cancel`` / ``pending_replace`` (FIX's
own precedence puts Pending Cancel/Replace above New and Partially Filled),
and ``Order.prev_state`` keeps the state the exchange reports underneath, so a
reject returns the order to it, fills during the request included.

================  =============================================  ==========
state             meaning                                        working?
================  =============================================  ==========
pending_new       D sent (or OrdStatus A): not yet accepted      yes
new               accepted, nothing filled (39=0; also D)        yes
partially_filled  0 < CumQty < OrderQty (39=1)                   yes
filled            CumQty reached OrderQty (39=2)                 done
pending_cancel    F sent and unanswered, or 39=6                 yes
cancelled         39=4                                           done
pending_replace   G sent and unanswered, or 39=E                 yes
replaced          only an old *link* (never ``Order.state``)     --
rejected          the D was refused (39=8)                       done
expired           39=C                                           done
done_for_day      39=3: no more executions today                 done
================  =============================================  ==========

OrdStatus values without a state of their own (5 Replaced, FIX 4.2 only;
7 Stopped; 9 Suspended; B Calculated; D Accepted for bidding) give the working
state the quantities imply: ``filled`` if LeavesQty is 0 and CumQty reached
OrderQty, else ``partially_filled`` if CumQty > 0, else ``new``.

``done_for_day`` counts as done: the tracker lives for one session/day, and
no execution can come for the order before it ends (a multi-day order is
cancelled in the next day's session).  ``open_orders()`` lists orders that
are not done.  Working orders keep ``cum_qty + leaves_qty == qty``; done ones
have ``leaves_qty == 0``.

Event kinds (ExecType, with FIX 4.2 ExecTransType 20)
-----------------------------------------------------
``fill`` (4.2 ExecType 1/2 with 20=0; 4.4 ExecType F), ``new`` (0),
``pending_new`` (A), ``pending_cancel`` (6), ``cancelled`` (4),
``pending_replace`` (E), ``replaced`` (5), ``rejected`` (8), ``expired``
(C), ``done_for_day`` (3), ``stopped`` (7), ``suspended`` (9),
``calculated`` (B), ``restated`` (D), ``status`` (4.4 ExecType I, 4.2
ExecTransType 3), ``trade_correct`` (4.4 G, 4.2 20=2), ``trade_cancel``
(4.4 H, 4.2 20=1), ``other`` (an ExecType this table does not know);
from 9: ``cancel_reject`` / ``replace_reject``.  Reports that change nothing:
``unknown`` (no order for ClOrdID 11 / OrigClOrdID 41 / OrderID 37),
``malformed`` (a required field missing or unparsable), ``duplicate`` (an
ExecID already applied to the chain, e.g. a resent report), ``inconsistent``
(an impossible transition, see below).  ``stats()`` counts every kind, plus
``sent_new`` / ``sent_cancel`` / ``sent_replace`` and ``refused``.  Both
dialects are read the same way: the tracker accepts 4.2 and 4.4 report styles
whatever ``begin_string`` it sends with.

Requests and answers
--------------------
* D: the order starts ``pending_new`` with ``pending == "new"``; any report
  whose OrdStatus is not A settles it (``new``, a fill, ``rejected``...).
* F / G: the order becomes ``pending_cancel`` / ``pending_replace`` with
  ``pending`` set.  ExecType 4 naming the cancel's ClOrdID, or ExecType 5
  naming the replace's, accepts it: the live ClOrdID moves to the request's
  and, for a replace, OrderQty and Price move to the new values (OrderQty 38
  / Price 44 of the report when present, else those requested).  A 9 (or an
  ExecType 8 naming the request's ClOrdID) rejects it: ``pending`` clears
  and the order goes back to the state before the request, or to the 9's
  OrdStatus when that is ``new``/``partially_filled`` and agrees with
  CumQty (a 9 carries no quantities, so it cannot move an order into a state
  its quantities do not support).  An order cancelled, expired or filled by
  the exchange while our request is in flight keeps ``pending`` until the
  request's 9 arrives.

Refused locally (:class:`OrderError`, before anything is sent)
---------------------------------------------------------------
Whatever the exchange would reject for a reason the caller controls is
refused before it costs a round trip, and whatever the tracker could not
follow is refused so the chain stays linear:

* a ClOrdID used before by this tracker (the session/day), by a D, F or G,
  accepted or rejected -- FIX requires ClOrdIDs unique, and a reused one would
  make the chain ambiguous (a refused call does not use its ClOrdID);
* an OrigClOrdID that names no order of this tracker;
* a cancel/replace of an order that is done (filled, cancelled, rejected,
  expired, done_for_day);
* a cancel/replace while a request of ours is outstanding for the order --
  including the D itself (wait for the ack) -- or while the exchange reports
  it pending cancel/replace: one request at a time keeps one answer per
  question (FIX allows chained requests, but venues reject most of them
  with CxlRejReason 3, "already pending");
* bad values: an empty or non-printable ClOrdID/Symbol/Account, a Side,
  OrdType or TimeInForce the version does not define (TimeInForce 6, GTD,
  is refused: it needs ExpireDate/ExpireTime, which this module does not
  send), a quantity that is not > 0, a float (binary floating point cannot
  say 0.1; pass ``int``, ``str`` or ``Decimal``), a limit/stop-limit order
  without Price, a market/stop order with one, a stop order without StopPx,
  TransactTime not ``YYYYMMDD-HH:MM:SS[.sss|.ssssss|.sssssssss]``, a replace
  that changes nothing or lowers OrderQty below CumQty.

Impossible transitions (``inconsistent``; the order is left untouched)
-----------------------------------------------------------------------
CumQty above OrderQty (overfill); CumQty going down other than by a trade
correction/cancel; a fill whose CumQty is not the previous CumQty plus LastQty
(or LastQty <= 0); CumQty changing in a report that is not a fill,
correction, status or restatement; a working state whose CumQty + LeavesQty
is not OrderQty; ``filled`` with LeavesQty > 0; a fill, or a move to another
state, after the order is done (status reports, restatements and trade
corrections are the exchange re-stating the truth and may); a replace
accepted under a ClOrdID that is not our pending replace; a 9 naming a
request of the chain that is not the outstanding one.  After an
inconsistent report the order keeps its last consistent state; an order
status report (OrderStatusRequest H -> ExecType I / ExecTransType 3) or a
restatement resynchronises it.

Body fields sent
----------------
* D: ClOrdID 11, [Account 1], HandlInst 21 (required in 4.2; sent in 4.4
  too unless ``handl_inst=None``), Symbol 55, Side 54, TransactTime 60,
  OrderQty 38, OrdType 40, [Price 44], [StopPx 99], TimeInForce 59.
* F: OrigClOrdID 41, ClOrdID 11, [OrderID 37], [Account 1], Symbol 55,
  Side 54, TransactTime 60, OrderQty 38 (4.2 needs OrderQty or CashOrderQty;
  4.4 OrderQtyData).
* G: OrigClOrdID 41, ClOrdID 11, [OrderID 37], [Account 1], HandlInst 21,
  Symbol 55, Side 54, TransactTime 60, OrderQty 38 (the new *total*
  quantity, fills included, as FIX defines it), OrdType 40, [Price 44],
  [StopPx 99], TimeInForce 59.  A G restates the whole order, so unchanged
  quantity and price are sent again.

Quantities and prices are kept as ``Decimal`` and written with
``format(d, "f")``: what the caller gave, never through a float.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal

__all__ = [
    "DONE",
    "FIX42",
    "FIX44",
    "KINDS",
    "STATES",
    "WORKING",
    "Fill",
    "Order",
    "OrderError",
    "OrderEvent",
    "OrderTracker",
]

FIX42 = "FIX.4.2"
FIX44 = "FIX.4.4"

# MsgType (35) of what this module builds and reads; the session writes it.
MSG_NEW_ORDER_SINGLE = "D"
MSG_ORDER_CANCEL_REQUEST = "F"
MSG_ORDER_CANCEL_REPLACE_REQUEST = "G"
MSG_EXECUTION_REPORT = "8"
MSG_ORDER_CANCEL_REJECT = "9"

# Tags.
ACCOUNT = 1
AVG_PX = 6
CL_ORD_ID = 11
CUM_QTY = 14
EXEC_ID = 17
EXEC_TRANS_TYPE = 20
HANDL_INST = 21
LAST_PX = 31
LAST_QTY = 32
ORDER_ID = 37
ORDER_QTY = 38
ORD_STATUS = 39
ORD_TYPE = 40
ORIG_CL_ORD_ID = 41
PRICE = 44
SIDE = 54
SYMBOL = 55
TEXT = 58
TIME_IN_FORCE = 59
TRANSACT_TIME = 60
STOP_PX = 99
CXL_REJ_REASON = 102
ORD_REJ_REASON = 103
EXEC_TYPE = 150
LEAVES_QTY = 151
CXL_REJ_RESPONSE_TO = 434

# States.
PENDING_NEW = "pending_new"
NEW = "new"
PARTIALLY_FILLED = "partially_filled"
FILLED = "filled"
PENDING_CANCEL = "pending_cancel"
CANCELLED = "cancelled"
PENDING_REPLACE = "pending_replace"
REPLACED = "replaced"
REJECTED = "rejected"
EXPIRED = "expired"
DONE_FOR_DAY = "done_for_day"

STATES = (PENDING_NEW, NEW, PARTIALLY_FILLED, FILLED, PENDING_CANCEL, CANCELLED,
          PENDING_REPLACE, REPLACED, REJECTED, EXPIRED, DONE_FOR_DAY)
#: States in which the order can still trade: cum_qty + leaves_qty == qty.
WORKING = frozenset({PENDING_NEW, NEW, PARTIALLY_FILLED, PENDING_CANCEL, PENDING_REPLACE})
#: States after which nothing more happens today: leaves_qty == 0.
DONE = frozenset({FILLED, CANCELLED, REJECTED, EXPIRED, DONE_FOR_DAY})

#: OrdStatus (39) -> state; None: the working state the quantities imply.
_ORD_STATUS: dict[str, str | None] = {
    "0": NEW, "1": PARTIALLY_FILLED, "2": FILLED, "3": DONE_FOR_DAY, "4": CANCELLED,
    "5": None, "6": PENDING_CANCEL, "7": None, "8": REJECTED, "9": None,
    "A": PENDING_NEW, "B": None, "C": EXPIRED, "D": None, "E": PENDING_REPLACE,
}

#: ExecType (150) -> event kind (ExecTransType 20 other than 0 overrides).
_EXEC_KIND = {
    "0": "new", "1": "fill", "2": "fill", "3": "done_for_day", "4": "cancelled",
    "5": "replaced", "6": "pending_cancel", "7": "stopped", "8": "rejected",
    "9": "suspended", "A": "pending_new", "B": "calculated", "C": "expired",
    "D": "restated", "E": "pending_replace", "F": "fill", "G": "trade_correct",
    "H": "trade_cancel", "I": "status",
}
_TRANS_KIND = {"0": None, "1": "trade_cancel", "2": "trade_correct", "3": "status"}

_REQUEST_REJECTS = ("cancel_reject", "replace_reject")
_PROBLEMS = ("unknown", "malformed", "duplicate", "inconsistent")
#: Every event kind, in the order ``stats()`` lists them.
KINDS = (*dict.fromkeys(_EXEC_KIND.values()), "other", *_REQUEST_REJECTS, *_PROBLEMS)
_SENT = ("sent_new", "sent_cancel", "sent_replace", "refused")

_CORRECTIONS = frozenset({"trade_correct", "trade_cancel"})
#: Kinds that re-state the exchange's truth: CumQty/OrderQty may jump.
_SYNC = frozenset({"status", "restated"}) | _CORRECTIONS

_SIDES = {FIX42: frozenset("123456789"), FIX44: frozenset("123456789ABCDEFG")}
_ORD_TYPES = {FIX42: frozenset("123456789ABCDEFGHIJKLMP"),
              FIX44: frozenset("123456789DEGIJKLMPQ")}
_TIFS = {FIX42: frozenset("012345"), FIX44: frozenset("0123457")}  # 6 (GTD): see above
_NEEDS_PRICE = frozenset("24")
_NO_PRICE = frozenset("13")
_NEEDS_STOP = frozenset("34")
_NO_STOP = frozenset("12")

_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)\Z")
_UTC_TIMESTAMP = re.compile(r"\d{8}-\d{2}:\d{2}:\d{2}(?:\.\d{3}|\.\d{6}|\.\d{9})?\Z")
_PRINTABLE = re.compile(r"[\x20-\x7e]+\Z")

_ZERO = Decimal(0)
#: Sums of quantities are exact: the default context rounds to 28 digits.
_EXACT = Context(prec=200)

Number = int | str | Decimal


class OrderError(Exception):
    """A request refused locally, before anything was sent: the caller's
    fault (the message names the ClOrdID and why)."""


class _Malformed(Exception):
    pass


@dataclass(frozen=True)
class Fill:
    """One execution, a trade correction or a trade cancel (``kind``)."""

    exec_id: str
    cl_ord_id: str
    qty: Decimal
    px: Decimal
    kind: str = "fill"


@dataclass(eq=False)
class Order:
    """One order: the whole ClOrdID chain.  Compared by identity."""

    cl_ord_id: str                 # live: the newest ClOrdID the exchange accepted
    orig_cl_ord_id: str            # the first (the D's)
    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None
    ord_type: str
    state: str
    tif: str = "0"
    account: str | None = None
    stop_px: Decimal | None = None
    cum_qty: Decimal = _ZERO
    leaves_qty: Decimal = _ZERO
    avg_px: Decimal = _ZERO
    last_qty: Decimal | None = None
    last_px: Decimal | None = None
    order_id: str | None = None    # ExchangeOrderID (37)
    pending: str | None = None     # None | "new" | "cancel" | "replace"
    pending_cl_ord_id: str | None = None
    pending_qty: Decimal | None = None
    pending_price: Decimal | None = None
    #: While a cancel/replace is pending: the state the exchange reports under it.
    prev_state: str | None = None
    text: str = ""                 # Text (58) of the last report that had one
    history: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # ClOrdID -> live/pending/replaced/...
    fills: list[Fill] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state in DONE


@dataclass(frozen=True)
class OrderEvent:
    """What one incoming message changed.

    ``state`` is the order's state right after the message (``order`` is the
    live object and may have moved on since).  ``cl_ord_id`` is the ClOrdID
    the message named (for ``replaced``: the new live one, with the old in
    ``orig_cl_ord_id``).  ``reason``: OrdRejReason 103 or CxlRejReason 102.
    """

    kind: str
    order: Order | None
    cl_ord_id: str
    state: str
    last_qty: Decimal | None = None
    last_px: Decimal | None = None
    text: str = ""
    prev_state: str = ""
    orig_cl_ord_id: str = ""
    reason: int | None = None
    exec_id: str = ""


# -- values -------------------------------------------------------------------

def _fmt(d: Decimal) -> bytes:
    return format(d.copy_abs() if d.is_zero() else d, "f").encode()  # no "-0"


def _decimal(what: str, value: object, cl: str) -> Decimal:
    if isinstance(value, bool | float):
        raise OrderError(f"ClOrdID {cl!r}: {what} {value!r}: pass int, str or Decimal, "
                         f"not {type(value).__name__}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise OrderError(f"ClOrdID {cl!r}: {what} {value!r} is not finite")
        return value
    if isinstance(value, str) and _DECIMAL.match(value):
        return Decimal(value)
    raise OrderError(f"ClOrdID {cl!r}: {what} {value!r} is not a decimal number")


def _positive(what: str, value: object, cl: str) -> Decimal:
    d = _decimal(what, value, cl)
    if d <= 0:
        raise OrderError(f"ClOrdID {cl!r}: {what} {value!r} must be > 0")
    return d


def _text(what: str, value: object, cl: str) -> str:
    if not isinstance(value, str) or not _PRINTABLE.match(value):
        raise OrderError(f"ClOrdID {cl!r}: {what} {value!r} must be non-empty printable ASCII")
    return value


def _get(fields: Mapping[int, bytes], tag: int) -> str | None:
    v = fields.get(tag)
    if v is None:
        return None
    if v.__class__ is bytes:  # the common case first: it runs per field of every report
        return v.decode("latin-1")
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("latin-1")
    if isinstance(v, str):
        return v
    raise _Malformed(f"tag {tag}: {type(v).__name__} value")


def _get_dec(fields: Mapping[int, bytes], tag: int) -> Decimal | None:
    s = _get(fields, tag)
    if s is None:
        return None
    if not _DECIMAL.match(s):
        raise _Malformed(f"tag {tag}: {s!r} is not a number")
    return Decimal(s)


def _implied(cum: Decimal, leaves: Decimal, qty: Decimal) -> str:
    if leaves == 0 and cum >= qty:
        return FILLED
    return PARTIALLY_FILLED if cum > 0 else NEW


# -- the tracker ----------------------------------------------------------------

class OrderTracker:
    """Order state for one FIX session/day (see the module docstring)."""

    def __init__(self, begin_string: str, handl_inst: str | None = "1") -> None:
        if begin_string not in (FIX42, FIX44):
            raise ValueError(f"begin_string {begin_string!r}: expected {FIX42!r} or {FIX44!r}")
        if handl_inst is None and begin_string == FIX42:
            raise ValueError("handl_inst: FIX 4.2 requires HandlInst (21) in D and G")
        if handl_inst is not None and handl_inst not in ("1", "2", "3"):
            raise ValueError(f"handl_inst {handl_inst!r}: expected '1', '2' or '3'")
        self.begin_string = begin_string
        self.handl_inst = handl_inst
        self._by_cl: dict[str, Order] = {}
        self._by_order_id: dict[str, Order] = {}
        self._orders: list[Order] = []
        self._exec_ids: set[tuple[str, str]] = set()
        self._counts: Counter[str] = Counter()

    # -- queries --------------------------------------------------------------

    def order(self, cl_ord_id: str) -> Order | None:
        """The order of any ClOrdID of its chain (sent requests included)."""
        return self._by_cl.get(cl_ord_id)

    def link_state(self, cl_ord_id: str) -> str | None:
        """The state of one link of a chain: the order's state for the live
        ClOrdID; ``replaced``/``cancelled`` for a link an accepted request
        superseded; ``rejected`` for a refused request; ``pending_cancel`` /
        ``pending_replace`` for the outstanding request."""
        order = self._by_cl.get(cl_ord_id)
        if order is None:
            return None
        role = order.links[cl_ord_id]
        if role == "live":
            return order.state
        if role == "pending":
            return PENDING_CANCEL if order.pending == "cancel" else PENDING_REPLACE
        return role

    def open_orders(self) -> list[Order]:
        """Orders not done (see ``DONE``), oldest first."""
        return [o for o in self._orders if o.state not in DONE]

    def orders(self) -> list[Order]:
        """Every order of the session, oldest first."""
        return list(self._orders)

    def stats(self) -> dict[str, int]:
        """Events per kind, requests sent per type, local refusals."""
        return {k: self._counts[k] for k in (*KINDS, *_SENT)}

    # -- requests ---------------------------------------------------------------

    def new_order(self, cl_ord_id: str, symbol: str, side: str, qty: Number,
                  price: Number | None = None, ord_type: str = "2", tif: str = "0",
                  account: str | None = None, *, transact_time: str,
                  stop_px: Number | None = None) -> list[tuple[int, bytes]]:
        """The body of a NewOrderSingle (D); the order starts ``pending_new``."""
        try:
            cl = self._fresh(cl_ord_id)
            v = self.begin_string
            symbol = _text("Symbol", symbol, cl)
            if side not in _SIDES[v]:
                raise OrderError(f"ClOrdID {cl!r}: Side {side!r} is not a {v} Side")
            if ord_type not in _ORD_TYPES[v]:
                raise OrderError(f"ClOrdID {cl!r}: OrdType {ord_type!r} is not a {v} OrdType")
            self._check_tif(cl, tif)
            if account is not None:
                account = _text("Account", account, cl)
            q = _positive("OrderQty", qty, cl)
            px = self._check_price(cl, ord_type, price)
            stop = self._check_stop(cl, ord_type, stop_px)
            tt = self._check_time(cl, transact_time)
        except OrderError:
            self._counts["refused"] += 1
            raise
        body: list[tuple[int, bytes]] = [(CL_ORD_ID, cl.encode())]
        if account is not None:
            body.append((ACCOUNT, account.encode()))
        if self.handl_inst is not None:
            body.append((HANDL_INST, self.handl_inst.encode()))
        body += [(SYMBOL, symbol.encode()), (SIDE, side.encode()), (TRANSACT_TIME, tt),
                 (ORDER_QTY, _fmt(q)), (ORD_TYPE, ord_type.encode())]
        if px is not None:
            body.append((PRICE, _fmt(px)))
        if stop is not None:
            body.append((STOP_PX, _fmt(stop)))
        body.append((TIME_IN_FORCE, tif.encode()))
        order = Order(cl_ord_id=cl, orig_cl_ord_id=cl, symbol=symbol, side=side, qty=q,
                      price=px, ord_type=ord_type, state=PENDING_NEW, tif=tif, account=account,
                      stop_px=stop, leaves_qty=q, pending="new", pending_cl_ord_id=cl,
                      history=[cl], links={cl: "live"})
        self._orders.append(order)
        self._by_cl[cl] = order
        self._counts["sent_new"] += 1
        return body

    def cancel(self, cl_ord_id: str, orig_cl_ord_id: str,
               transact_time: str) -> list[tuple[int, bytes]]:
        """The body of an OrderCancelRequest (F) for the order of
        ``orig_cl_ord_id`` (any ClOrdID of its chain; the live one is sent)."""
        try:
            cl = self._fresh(cl_ord_id)
            order = self._modifiable(cl, orig_cl_ord_id, "cancel")
            tt = self._check_time(cl, transact_time)
        except OrderError:
            self._counts["refused"] += 1
            raise
        body = self._request_head(order, cl, tt, handl_inst=False)
        body.append((ORDER_QTY, _fmt(order.qty)))
        self._start_request(order, cl, "cancel", order.qty, order.price)
        self._counts["sent_cancel"] += 1
        return body

    def replace(self, cl_ord_id: str, orig_cl_ord_id: str, qty: Number | None = None,
                price: Number | None = None, *,
                transact_time: str) -> list[tuple[int, bytes]]:
        """The body of an OrderCancelReplaceRequest (G): new total OrderQty
        and/or Price (None: unchanged, and sent again)."""
        try:
            cl = self._fresh(cl_ord_id)
            order = self._modifiable(cl, orig_cl_ord_id, "replace")
            tt = self._check_time(cl, transact_time)
            q = order.qty if qty is None else _positive("OrderQty", qty, cl)
            px = order.price if price is None else self._check_price(cl, order.ord_type, price)
            if q < order.cum_qty:
                raise OrderError(f"ClOrdID {cl!r}: OrderQty {q} is below CumQty "
                                 f"{order.cum_qty} of {order.cl_ord_id!r}")
            if q == order.qty and px == order.price:
                raise OrderError(f"ClOrdID {cl!r}: the replace changes nothing "
                                 f"(OrderQty {q}, Price {px})")
        except OrderError:
            self._counts["refused"] += 1
            raise
        body = self._request_head(order, cl, tt, handl_inst=True)
        body += [(ORDER_QTY, _fmt(q)), (ORD_TYPE, order.ord_type.encode())]
        if px is not None:
            body.append((PRICE, _fmt(px)))
        if order.stop_px is not None:
            body.append((STOP_PX, _fmt(order.stop_px)))
        body.append((TIME_IN_FORCE, order.tif.encode()))
        self._start_request(order, cl, "replace", q, px)
        self._counts["sent_replace"] += 1
        return body

    # -- request helpers ----------------------------------------------------------

    def _fresh(self, cl_ord_id: object) -> str:
        if not isinstance(cl_ord_id, str) or not _PRINTABLE.match(cl_ord_id):
            raise OrderError(f"ClOrdID {cl_ord_id!r}: must be non-empty printable ASCII")
        used = self._by_cl.get(cl_ord_id)
        if used is not None:
            raise OrderError(f"ClOrdID {cl_ord_id!r}: duplicate ClOrdID (already used this "
                             f"session, in the chain of order {used.orig_cl_ord_id!r})")
        return cl_ord_id

    def _modifiable(self, cl: str, orig: str, what: str) -> Order:
        order = self._by_cl.get(orig) if isinstance(orig, str) else None
        if order is None:
            raise OrderError(f"ClOrdID {cl!r}: unknown OrigClOrdID {orig!r}")
        if order.state in DONE:
            raise OrderError(f"ClOrdID {cl!r}: cannot {what} order {order.cl_ord_id!r}: "
                             f"already {order.state}")
        if order.pending is not None:
            raise OrderError(f"ClOrdID {cl!r}: cannot {what} order {order.cl_ord_id!r}: "
                             f"its {order.pending} request {order.pending_cl_ord_id!r} is "
                             "still pending")
        if order.state in (PENDING_CANCEL, PENDING_REPLACE):
            raise OrderError(f"ClOrdID {cl!r}: cannot {what} order {order.cl_ord_id!r}: "
                             f"the exchange reports it {order.state}")
        return order

    def _check_tif(self, cl: str, tif: str) -> None:
        if tif not in _TIFS[self.begin_string]:
            raise OrderError(f"ClOrdID {cl!r}: TimeInForce {tif!r} is not supported "
                             f"(allowed: {''.join(sorted(_TIFS[self.begin_string]))})")

    def _check_price(self, cl: str, ord_type: str, price: Number | None) -> Decimal | None:
        if price is None:
            if ord_type in _NEEDS_PRICE:
                raise OrderError(f"ClOrdID {cl!r}: OrdType {ord_type!r} needs a Price")
            return None
        if ord_type in _NO_PRICE:
            raise OrderError(f"ClOrdID {cl!r}: OrdType {ord_type!r} takes no Price")
        return _decimal("Price", price, cl)

    def _check_stop(self, cl: str, ord_type: str, stop_px: Number | None) -> Decimal | None:
        if stop_px is None:
            if ord_type in _NEEDS_STOP:
                raise OrderError(f"ClOrdID {cl!r}: OrdType {ord_type!r} needs a StopPx")
            return None
        if ord_type in _NO_STOP:
            raise OrderError(f"ClOrdID {cl!r}: OrdType {ord_type!r} takes no StopPx")
        return _decimal("StopPx", stop_px, cl)

    @staticmethod
    def _check_time(cl: str, transact_time: object) -> bytes:
        if not isinstance(transact_time, str) or not _UTC_TIMESTAMP.match(transact_time):
            raise OrderError(f"ClOrdID {cl!r}: TransactTime {transact_time!r} is not "
                             "YYYYMMDD-HH:MM:SS[.sss|.ssssss|.sssssssss]")
        return transact_time.encode()

    def _request_head(self, order: Order, cl: str, tt: bytes,
                      handl_inst: bool) -> list[tuple[int, bytes]]:
        body = [(ORIG_CL_ORD_ID, order.cl_ord_id.encode()), (CL_ORD_ID, cl.encode())]
        if order.order_id is not None:
            body.append((ORDER_ID, order.order_id.encode()))
        if order.account is not None:
            body.append((ACCOUNT, order.account.encode()))
        if handl_inst and self.handl_inst is not None:
            body.append((HANDL_INST, self.handl_inst.encode()))
        body += [(SYMBOL, order.symbol.encode()), (SIDE, order.side.encode()),
                 (TRANSACT_TIME, tt)]
        return body

    def _start_request(self, order: Order, cl: str, kind: str, qty: Decimal,
                       price: Decimal | None) -> None:
        order.prev_state = order.state
        order.state = PENDING_CANCEL if kind == "cancel" else PENDING_REPLACE
        order.pending = kind
        order.pending_cl_ord_id = cl
        order.pending_qty = qty
        order.pending_price = price
        order.history.append(cl)
        order.links[cl] = "pending"
        self._by_cl[cl] = order

    # -- incoming -------------------------------------------------------------------

    def on_execution_report(self, fields: Mapping[int, bytes]) -> OrderEvent:
        """Apply an ExecutionReport (8).  Never raises; what could not be
        applied comes back as kind unknown/malformed/duplicate/inconsistent."""
        try:
            event = self._execution_report(fields)
        except (_Malformed, ArithmeticError, ValueError, TypeError, AttributeError) as e:
            event = OrderEvent("malformed", None, "", "", text=str(e))
        self._counts[event.kind] += 1
        return event

    def on_cancel_reject(self, fields: Mapping[int, bytes]) -> OrderEvent:
        """Apply an OrderCancelReject (9): the pending cancel/replace is
        dropped and the order returns to its state before it."""
        try:
            event = self._cancel_reject(fields)
        except (_Malformed, ArithmeticError, ValueError, TypeError, AttributeError) as e:
            event = OrderEvent("malformed", None, "", "", text=str(e))
        self._counts[event.kind] += 1
        return event

    def _resolve(self, fields: Mapping[int, bytes]) -> tuple[Order | None, str]:
        """The order a message is about: by ClOrdID 11; when 11 is absent or
        not ours, by OrigClOrdID 41, then by OrderID 37."""
        cl = _get(fields, CL_ORD_ID) or ""
        order = self._by_cl.get(cl)
        if order is None:
            orig = _get(fields, ORIG_CL_ORD_ID)
            order = self._by_cl.get(orig) if orig else None
        if order is None:
            oid = _get(fields, ORDER_ID)
            order = self._by_order_id.get(oid) if oid else None
        return order, cl

    def _execution_report(self, fields: Mapping[int, bytes]) -> OrderEvent:
        order, cl = self._resolve(fields)
        if order is None:
            return OrderEvent("unknown", None, cl, "", text=(
                f"no order for ClOrdID {cl!r}, OrigClOrdID {_get(fields, ORIG_CL_ORD_ID)!r}, "
                f"OrderID {_get(fields, ORDER_ID)!r}"))
        text = _get(fields, TEXT) or ""
        exec_id = _get(fields, EXEC_ID) or ""

        def bad(kind: str, why: str) -> OrderEvent:
            return OrderEvent(kind, order, cl or order.cl_ord_id, order.state, text=why,
                              exec_id=exec_id)

        exec_type = _get(fields, EXEC_TYPE)
        ord_status = _get(fields, ORD_STATUS)
        trans = _get(fields, EXEC_TRANS_TYPE) or "0"
        if exec_type is None or ord_status is None:
            return bad("malformed", "ExecType (150) and OrdStatus (39) are required")
        if ord_status not in _ORD_STATUS:
            return bad("malformed", f"OrdStatus {ord_status!r} is not defined")
        if trans not in _TRANS_KIND:
            return bad("malformed", f"ExecTransType {trans!r} is not defined")
        kind = _TRANS_KIND[trans] or _EXEC_KIND.get(exec_type, "other")
        cum = _get_dec(fields, CUM_QTY)
        leaves = _get_dec(fields, LEAVES_QTY)
        if cum is None or leaves is None:
            return bad("malformed", "CumQty (14) and LeavesQty (151) are required")
        avg = _get_dec(fields, AVG_PX)
        last_qty = _get_dec(fields, LAST_QTY)
        last_px = _get_dec(fields, LAST_PX)
        rep_qty = _get_dec(fields, ORDER_QTY)
        rep_px = _get_dec(fields, PRICE)
        if cum < 0 or leaves < 0 or (rep_qty is not None and rep_qty <= 0):
            return bad("malformed", "negative CumQty/LeavesQty or OrderQty not > 0")
        if kind == "fill" and (last_qty is None or last_px is None):
            return bad("malformed", "a fill needs LastQty (32) and LastPx (31)")
        chain = order.orig_cl_ord_id
        if (exec_id not in ("", "0") and kind != "status"
                and (chain, exec_id) in self._exec_ids):
            return bad("duplicate", f"ExecID {exec_id!r} already applied")

        # A request of ours answered by this report?
        ours = cl in self._by_cl
        is_pending = cl != "" and cl == order.pending_cl_ord_id and order.pending in (
            "cancel", "replace")
        if kind == "rejected" and is_pending:
            return self._request_rejected(order, cl, fields, ORD_REJ_REASON)
        qty, price = order.qty, order.price
        accepting = None
        if kind == "replaced":
            if not is_pending or order.pending != "replace":
                whose = "not our pending replace" if ours else "not one we sent"
                return bad("inconsistent", f"replace accepted under ClOrdID {cl!r}: {whose}")
            accepting = "replace"
            if rep_qty is not None:
                qty = rep_qty
            elif order.pending_qty is not None:
                qty = order.pending_qty
            price = rep_px if rep_px is not None else order.pending_price
        elif kind == "cancelled" and is_pending and order.pending == "cancel":
            accepting = "cancel"
        elif kind in ("status", "restated") and rep_qty is not None:
            qty = rep_qty
            price = rep_px if rep_px is not None else price

        mapped = _ORD_STATUS[ord_status]
        reported = mapped if mapped is not None else _implied(cum, leaves, qty)

        # Impossible transitions: refuse the report, keep the order as it was.
        why = ""
        if cum > qty:
            why = f"CumQty {cum} exceeds OrderQty {qty} (overfill)"
        elif kind not in _CORRECTIONS and cum < order.cum_qty:
            why = f"CumQty went down from {order.cum_qty} to {cum}"
        elif kind == "fill" and last_qty is not None and last_qty <= 0:
            why = f"fill with LastQty {last_qty}"
        elif kind == "fill" and last_qty is not None and cum != _EXACT.add(order.cum_qty,
                                                                               last_qty):
            why = (f"CumQty {cum} is not the previous CumQty {order.cum_qty} plus "
                   f"LastQty {last_qty}")
        elif kind != "fill" and kind not in _SYNC and cum != order.cum_qty:
            why = f"CumQty changed from {order.cum_qty} to {cum} without a fill"
        elif reported in WORKING and _EXACT.add(cum, leaves) != qty:
            why = f"{reported}: CumQty {cum} + LeavesQty {leaves} is not OrderQty {qty}"
        elif reported == FILLED and leaves != 0:
            why = f"filled with LeavesQty {leaves}"
        elif order.state in DONE and kind not in _SYNC and (
                kind == "fill" or reported != order.state):
            why = f"order already {order.state}: {kind} to {reported}"
        if why:
            return bad("inconsistent", why)

        # Apply.
        prev = order.state
        old_live = order.cl_ord_id
        old_cum = order.cum_qty
        order.qty, order.price = qty, price
        order.cum_qty = cum
        order.leaves_qty = _ZERO if reported in DONE else leaves
        if avg is not None:
            order.avg_px = avg
        elif kind == "fill" and last_qty is not None and last_px is not None and cum > 0:
            traded = _EXACT.add(_EXACT.multiply(order.avg_px, old_cum),
                                _EXACT.multiply(last_qty, last_px))
            order.avg_px = traded / cum
        if text:
            order.text = text
        oid = _get(fields, ORDER_ID)
        if oid and oid != "NONE" and kind != "rejected":
            order.order_id = oid
            self._by_order_id[oid] = order
        if kind == "fill" or (kind in _CORRECTIONS and last_qty is not None):
            order.last_qty, order.last_px = last_qty, last_px
            if last_qty is not None and last_px is not None:
                order.fills.append(Fill(exec_id, cl or old_live, last_qty, last_px, kind))
        if order.pending == "new" and reported != PENDING_NEW:
            self._clear_pending(order)
        if accepting is not None:
            order.links[old_live] = REPLACED if accepting == "replace" else CANCELLED
            order.links[cl] = "live"
            order.cl_ord_id = cl
            self._clear_pending(order)
        if order.pending in ("cancel", "replace") and reported in (NEW, PARTIALLY_FILLED):
            order.prev_state = reported
            order.state = PENDING_CANCEL if order.pending == "cancel" else PENDING_REPLACE
        else:
            order.state = reported
        if exec_id not in ("", "0") and kind != "status":
            self._exec_ids.add((chain, exec_id))
        reason = _get(fields, ORD_REJ_REASON) if kind == "rejected" else None
        return OrderEvent(
            kind, order, order.cl_ord_id if accepting else (cl or old_live), order.state,
            last_qty=last_qty if kind == "fill" or kind in _CORRECTIONS else None,
            last_px=last_px if kind == "fill" or kind in _CORRECTIONS else None,
            text=text, prev_state=prev, orig_cl_ord_id=old_live if accepting else "",
            reason=int(reason) if reason is not None and reason.isdigit() else None,
            exec_id=exec_id)

    def _cancel_reject(self, fields: Mapping[int, bytes]) -> OrderEvent:
        order, cl = self._resolve(fields)
        if order is None:
            return OrderEvent("unknown", None, cl, "", text=(
                f"cancel reject for no order: ClOrdID {cl!r}, OrigClOrdID "
                f"{_get(fields, ORIG_CL_ORD_ID)!r}, OrderID {_get(fields, ORDER_ID)!r}"))
        if order.pending not in ("cancel", "replace"):
            return OrderEvent("inconsistent", order, cl, order.state,
                              text=f"cancel reject for {cl!r}: no cancel/replace pending",
                              reason=self._reason(fields, CXL_REJ_REASON))
        if cl in self._by_cl and cl != order.pending_cl_ord_id:
            return OrderEvent("inconsistent", order, cl, order.state,
                              text=(f"cancel reject for {cl!r}, but the pending request is "
                                    f"{order.pending_cl_ord_id!r}"),
                              reason=self._reason(fields, CXL_REJ_REASON))
        return self._request_rejected(order, order.pending_cl_ord_id or cl, fields,
                                      CXL_REJ_REASON)

    @staticmethod
    def _reason(fields: Mapping[int, bytes], tag: int) -> int | None:
        r = _get(fields, tag)
        return int(r) if r is not None and r.isdigit() else None

    def _request_rejected(self, order: Order, cl: str, fields: Mapping[int, bytes],
                          reason_tag: int) -> OrderEvent:
        kind = "cancel_reject" if order.pending == "cancel" else "replace_reject"
        prev = order.state
        status = _get(fields, ORD_STATUS)
        said = _ORD_STATUS.get(status) if status is not None else None
        if order.state in DONE:
            state = order.state
        elif (said == NEW and order.cum_qty == 0) or (
                said == PARTIALLY_FILLED and 0 < order.cum_qty < order.qty):
            state = said
        else:
            state = order.prev_state or _implied(order.cum_qty, order.leaves_qty, order.qty)
        order.state = state
        if order.pending_cl_ord_id is not None:
            order.links[order.pending_cl_ord_id] = REJECTED
        self._clear_pending(order)
        text = _get(fields, TEXT) or ""
        if text:
            order.text = text
        return OrderEvent(kind, order, cl, state, text=text, prev_state=prev,
                          reason=self._reason(fields, reason_tag),
                          exec_id=_get(fields, EXEC_ID) or "")

    @staticmethod
    def _clear_pending(order: Order) -> None:
        order.pending = None
        order.pending_cl_ord_id = None
        order.pending_qty = None
        order.pending_price = None
        order.prev_state = None
