"""An independent, deliberately simple model of the order books (not a test module).

Written from the integrity policy in the brief and ``docs/architecture.md``,
not from ``native/src/book.c``: plain dicts and lists, no pools, no hashing,
no cleverness.  Feed it raw ITCH 5.0 message bytes (decoded with the
reference decoder, ``protocols.itch50.decode``) with their sequence numbers.

* Orders live in one dict keyed by reference (references are feed-wide);
  each instrument keeps, per side, ``price -> [references in time order]``.
  A level's shares are the sum of its orders' shares, computed when asked.
* Instruments: ``locate -> id``; ``symbol -> id``; ids count from 1 in the
  order instruments are first seen (A, F, P, Q, R, H name them).
* Integrity: counters by kind, unknown references by message type, and the
  first ``keep`` records of each kind in the order they happened.
* Optional pool limits (``max_orders``, ``max_levels``, ``max_instruments``)
  drop the add (or the new instrument), count it and mark the book stale.

The second half of the file builds ITCH messages for the tests with every
field defaulted, so a test names only what matters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from protocols import itch50

BUY, SELL = "B", "S"
KINDS = (
    "unknown_ref", "over_execute", "over_cancel", "duplicate_ref", "crossed",
    "order_pool_full", "level_pool_full", "book_pool_full", "gap",
)


@dataclass
class Order:
    ref: int
    inst: int
    side: str  # "B" or "S"
    price: int
    shares: int


@dataclass
class Instrument:
    id: int
    symbol: str
    locate: int
    bids: dict[int, list[int]] = field(default_factory=dict)
    asks: dict[int, list[int]] = field(default_factory=dict)
    stale: bool = False
    crossed: bool = False
    crossed_count: int = 0
    trading_state: str = ""
    reason: str = ""
    system_event: str = ""
    adds: int = 0
    executions: int = 0
    cancels: int = 0
    deletes: int = 0
    replaces: int = 0
    trades: int = 0
    traded_shares: int = 0
    messages: int = 0
    last_seq: int = 0
    last_exch_ns: int = 0

    def side(self, side: str) -> dict[int, list[int]]:
        return self.bids if side == BUY else self.asks


@dataclass(frozen=True)
class Record:
    """One kept integrity record: what the C keeps for the first few of each kind."""

    kind: str
    ref: int
    seq: int
    exch_ns: int
    instrument: int
    msg_type: str


@dataclass(frozen=True)
class Trade:
    instrument: int
    side: str  # "B", "S" or "" (cross)
    price: int
    shares: int
    match: int
    flags: str


class Model:
    def __init__(
        self,
        max_orders: int | None = None,
        max_levels: int | None = None,
        max_instruments: int | None = None,
        keep: int = 8,
    ) -> None:
        self.max_orders = max_orders
        self.max_levels = max_levels
        self.max_instruments = max_instruments
        self.keep = keep
        self.orders: dict[int, Order] = {}
        self.instruments: dict[int, Instrument] = {}
        self.by_locate: dict[int, int] = {}
        self.by_symbol: dict[str, int] = {}
        self.integrity: Counter[str] = Counter()
        self.unknown_by_type: Counter[str] = Counter()
        self.records: list[Record] = []
        self.trades: list[Trade] = []
        self.system_event = ""
        self.messages = 0
        self._seq = 0
        self._ts = 0
        self._type = ""

    # ------------------------------------------------------------- feeding

    def apply(self, message: bytes, seq: int) -> None:
        """Apply one ITCH message that arrived with sequence ``seq``."""
        m = itch50.decode(message)
        t = m["type"]
        self._seq, self._ts, self._type = seq, m["timestamp"], t
        self.messages += 1
        touched: set[int] = set()
        inst: int | None = None
        if t in ("A", "F"):
            inst = self._instrument(m["stock_locate"], m["stock"])
            if inst is None:
                return
            side = SELL if m["buy_sell_indicator"] == "S" else BUY
            self._add(inst, m["order_reference_number"], side, m["price"], m["shares"], touched)
            self.instruments[inst].adds += 1
        elif t in ("E", "C", "X", "D", "U"):
            ref = m["original_order_reference_number"] if t == "U" else m["order_reference_number"]
            o = self.orders.get(ref)
            if o is None:
                self.unknown_by_type[t] += 1
                self._count("unknown_ref", ref, self.by_locate.get(m["stock_locate"], 0))
                return
            inst = o.inst
            book = self.instruments[inst]
            if t in ("E", "C"):
                price = m["execution_price"] if t == "C" else o.price
                flags = m["printable"] if t == "C" else "Y"
                self._trade(inst, o.side, price, m["executed_shares"], m["match_number"], flags)
                self._reduce(o, m["executed_shares"], "over_execute", touched)
                book.executions += 1
            elif t == "X":
                self._reduce(o, m["cancelled_shares"], "over_cancel", touched)
                book.cancels += 1
            elif t == "D":
                self._remove(o, touched)
                book.deletes += 1
            else:  # U: the new reference joins the back of the level, same side
                self._remove(o, touched)
                self._add(inst, m["new_order_reference_number"], o.side, m["price"],
                          m["shares"], touched)
                book.replaces += 1
        elif t == "P":
            inst = self._instrument(m["stock_locate"], m["stock"])
            if inst is None:
                return
            self._trade(inst, m["buy_sell_indicator"], m["price"], m["shares"],
                        m["match_number"], "P")
        elif t == "Q":
            inst = self._instrument(m["stock_locate"], m["stock"])
            if inst is None:
                return
            self._trade(inst, "", m["cross_price"], m["shares"], m["match_number"],
                        m["cross_type"])
        elif t == "R":
            inst = self._instrument(m["stock_locate"], m["stock"])
            if inst is None:
                return
            book = self.instruments[inst]
            if book.symbol != m["stock"]:  # R names the instrument
                if self.by_symbol.get(book.symbol) == inst:
                    del self.by_symbol[book.symbol]
                book.symbol = m["stock"]
                self.by_symbol[m["stock"]] = inst
        elif t == "H":
            inst = self._instrument(m["stock_locate"], m["stock"])
            if inst is None:
                return
            self.instruments[inst].trading_state = m["trading_state"]
            self.instruments[inst].reason = m["reason"]
        elif t == "S":
            self.system_event = m["event_code"]
            for b in self.instruments.values():
                b.system_event = self.system_event
            return
        else:
            return  # no book state in the other types
        book = self.instruments[inst]
        book.messages += 1
        book.last_seq, book.last_exch_ns = seq, self._ts
        touched.add(inst)
        for i in sorted(touched):
            self._check_crossed(i)

    def gap(self, first: int, count: int) -> None:
        """A MoldUDP64 gap: every book is stale."""
        self.integrity["gap"] += 1
        if sum(r.kind == "gap" for r in self.records) < self.keep:
            self.records.append(Record("gap", first, count, 0, 0, ""))
        for b in self.instruments.values():
            b.stale = True

    def mark_recovered(self, inst: int) -> None:
        self.instruments[inst].stale = False

    # ------------------------------------------------------------- the rules

    def _count(self, kind: str, ref: int, inst: int) -> None:
        self.integrity[kind] += 1
        if sum(r.kind == kind for r in self.records) < self.keep:
            self.records.append(Record(kind, ref, self._seq, self._ts, inst, self._type))

    def _instrument(self, locate: int, symbol: str) -> int | None:
        """The instrument of a locate, created (and named) on first sight."""
        if locate in self.by_locate:
            return self.by_locate[locate]
        if symbol in self.by_symbol:  # a known symbol under a new locate
            inst = self.by_symbol[symbol]
            self.by_locate[locate] = inst
            self.instruments[inst].locate = locate
            return inst
        if self.max_instruments is not None and len(self.instruments) >= self.max_instruments:
            self._count("book_pool_full", locate, 0)
            return None
        inst = len(self.instruments) + 1
        self.instruments[inst] = Instrument(inst, symbol, locate, system_event=self.system_event)
        self.by_locate[locate] = inst
        self.by_symbol[symbol] = inst
        return inst

    def _live_levels(self) -> int:
        return sum(len(b.bids) + len(b.asks) for b in self.instruments.values())

    def _add(self, inst: int, ref: int, side: str, price: int, shares: int,
             touched: set[int]) -> None:
        old = self.orders.get(ref)
        if old is not None:
            self._count("duplicate_ref", ref, inst)
            self._remove(old, touched)
        book = self.instruments[inst]
        levels = book.side(side)
        if self.max_orders is not None and len(self.orders) >= self.max_orders:
            self._count("order_pool_full", ref, inst)
            book.stale = True
            return
        if (price not in levels and self.max_levels is not None
                and self._live_levels() >= self.max_levels):
            self._count("level_pool_full", ref, inst)
            book.stale = True
            return
        self.orders[ref] = Order(ref, inst, side, price, shares)
        levels.setdefault(price, []).append(ref)

    def _remove(self, o: Order, touched: set[int]) -> None:
        levels = self.instruments[o.inst].side(o.side)
        levels[o.price].remove(o.ref)
        if not levels[o.price]:
            del levels[o.price]
        del self.orders[o.ref]
        touched.add(o.inst)

    def _reduce(self, o: Order, by: int, over: str, touched: set[int]) -> None:
        if by > o.shares:
            self._count(over, o.ref, o.inst)
        if by >= o.shares:
            self._remove(o, touched)
        else:
            o.shares -= by

    def _trade(self, inst: int, side: str, price: int, shares: int, match: int,
               flags: str) -> None:
        book = self.instruments[inst]
        book.trades += 1
        book.traded_shares += shares
        self.trades.append(Trade(inst, side, price, shares, match, flags))

    def _check_crossed(self, inst: int) -> None:
        book = self.instruments[inst]
        crossed = bool(book.bids) and bool(book.asks) and max(book.bids) >= min(book.asks)
        if crossed and not book.crossed:
            book.crossed_count += 1
            self._count("crossed", 0, inst)
        book.crossed = crossed

    # ------------------------------------------------------------- views

    def levels(self, inst: int, side: str) -> list[tuple[int, int, int]]:
        """(price, shares, orders) best first."""
        levels = self.instruments[inst].side(side)
        prices = sorted(levels, reverse=(side == BUY))
        return [(p, sum(self.orders[r].shares for r in levels[p]), len(levels[p]))
                for p in prices]

    def orders_at(self, inst: int, side: str, price: int) -> list[tuple[int, int]]:
        refs = self.instruments[inst].side(side).get(price, [])
        return [(r, self.orders[r].shares) for r in refs]

    def best(self, inst: int, side: str) -> tuple[int, int, int]:
        lv = self.levels(inst, side)
        return lv[0] if lv else (0, 0, 0)

    def book_orders(self, inst: int) -> int:
        return sum(o.inst == inst for o in self.orders.values())

    def live_levels(self) -> int:
        return self._live_levels()

    def ladder(self, inst: int, n: int | None = None) -> dict[str, list[list[int]]]:
        return {"bids": [list(x) for x in self.levels(inst, BUY)[:n]],
                "asks": [list(x) for x in self.levels(inst, SELL)[:n]]}

    def unknown_refs(self) -> int:
        return self.integrity["unknown_ref"]


# ------------------------------------------------------------------ builders

def msg(code: str, **fields: Any) -> bytes:
    """An ITCH message of type ``code``; fields not given are 0 or spaces."""
    lay = itch50.layout_of(code)
    values: dict[str, Any] = {}
    for f in lay.fields:
        if f.name == "message_type":
            continue
        values[f.name] = fields.pop(f.name, " " if f.is_alpha else 0)
    if fields:
        raise TypeError(f"{code}: no fields {sorted(fields)}")
    return itch50.encode(code, **values)


def add(ref: int, side: str, shares: int, price: int, locate: int = 1, stock: str = "AAA",
        ts: int = 0, mpid: str | None = None) -> bytes:
    common = dict(stock_locate=locate, timestamp=ts, order_reference_number=ref,
                  buy_sell_indicator=side, shares=shares, stock=stock, price=price)
    if mpid is not None:
        return msg("F", attribution=mpid, **common)
    return msg("A", **common)


def execute(ref: int, shares: int, match: int = 0, locate: int = 1, ts: int = 0) -> bytes:
    return msg("E", stock_locate=locate, timestamp=ts, order_reference_number=ref,
               executed_shares=shares, match_number=match)


def execute_at(ref: int, shares: int, price: int, match: int = 0, locate: int = 1,
               ts: int = 0, printable: str = "Y") -> bytes:
    return msg("C", stock_locate=locate, timestamp=ts, order_reference_number=ref,
               executed_shares=shares, match_number=match, printable=printable,
               execution_price=price)


def cancel(ref: int, shares: int, locate: int = 1, ts: int = 0) -> bytes:
    return msg("X", stock_locate=locate, timestamp=ts, order_reference_number=ref,
               cancelled_shares=shares)


def delete(ref: int, locate: int = 1, ts: int = 0) -> bytes:
    return msg("D", stock_locate=locate, timestamp=ts, order_reference_number=ref)


def replace(old: int, new: int, shares: int, price: int, locate: int = 1, ts: int = 0) -> bytes:
    return msg("U", stock_locate=locate, timestamp=ts, original_order_reference_number=old,
               new_order_reference_number=new, shares=shares, price=price)


def trade(side: str, shares: int, price: int, match: int = 0, locate: int = 1,
          stock: str = "AAA", ts: int = 0) -> bytes:
    return msg("P", stock_locate=locate, timestamp=ts, buy_sell_indicator=side,
               shares=shares, stock=stock, price=price, match_number=match)


def cross(shares: int, price: int, match: int = 0, locate: int = 1, stock: str = "AAA",
          ts: int = 0, cross_type: str = "O") -> bytes:
    return msg("Q", stock_locate=locate, timestamp=ts, shares=shares, stock=stock,
               cross_price=price, match_number=match, cross_type=cross_type)


def directory(locate: int, stock: str, ts: int = 0) -> bytes:
    return msg("R", stock_locate=locate, timestamp=ts, stock=stock, round_lot_size=100)


def trading_action(locate: int, stock: str, state: str, reason: str = "", ts: int = 0) -> bytes:
    return msg("H", stock_locate=locate, timestamp=ts, stock=stock, trading_state=state,
               reason=reason)


def system_event(code: str, ts: int = 0) -> bytes:
    return msg("S", timestamp=ts, event_code=code)


def with_timestamp(message: bytes, ts: int) -> bytes:
    return message[:5] + ts.to_bytes(6, "big") + message[11:]


# ------------------------------------------------- comparing with the C books


def c_levels(book: Any, side: int, n: int | None = None) -> list[tuple[int, int, int]]:
    """A C book's side as (price, shares, orders) tuples, best first."""
    return [(int(p), int(s), int(o)) for p, s, o, _ in book.levels(side, n).tolist()]


def c_orders(book: Any, side: int, price: int) -> list[tuple[int, int]]:
    return [(int(r), int(s)) for r, s in book.orders_at(side, price).tolist()]


def assert_book_equal(books: Any, model: Model, inst: int, *, orders: bool = True) -> None:
    """One C book equals the model's instrument: levels, queues, BBO, flags, counters."""
    from gateway.book import ASK, BID

    want = model.instruments[inst]
    bk = books.book(inst)
    info = bk.info()
    where = f"instrument {inst} ({want.symbol})"
    assert (info.id, info.symbol, info.locate) == (inst, want.symbol, want.locate), where
    for side, s in ((BID, BUY), (ASK, SELL)):
        lv = c_levels(bk, side)
        assert lv == model.levels(inst, s), f"{where} side {s}"
        if orders:
            for price, _, _ in lv:
                assert c_orders(bk, side, price) == model.orders_at(inst, s, price), (
                    f"{where} side {s} price {price}")
    bp, bs, bn = model.best(inst, BUY)
    ap, as_, an = model.best(inst, SELL)
    got = (info.bid_price, info.bid_shares, info.bid_orders,
           info.ask_price, info.ask_shares, info.ask_orders)
    assert got == (bp, bs, bn, ap, as_, an), f"{where} BBO"
    assert (info.bid_levels, info.ask_levels) == (len(want.bids), len(want.asks)), where
    assert info.orders == model.book_orders(inst), where
    assert (info.stale, info.crossed, info.crossed_count) == (
        want.stale, want.crossed, want.crossed_count), f"{where} flags"
    assert (info.adds, info.executions, info.cancels, info.deletes, info.replaces) == (
        want.adds, want.executions, want.cancels, want.deletes, want.replaces), where
    assert (info.trades, info.traded_shares, info.messages) == (
        want.trades, want.traded_shares, want.messages), where
    assert (info.last_seq, info.last_exch_ns) == (want.last_seq, want.last_exch_ns), where
    assert (info.trading_state, info.system_event) == (
        want.trading_state, want.system_event), where


def assert_stats_equal(books: Any, model: Model) -> None:
    st = books.stats()
    assert st["integrity"] == {k: model.integrity[k] for k in KINDS}
    assert st["unknown_ref_by_type"] == dict(model.unknown_by_type)
    assert st["books"] == len(model.instruments) == len(books)
    assert st["orders"] == len(model.orders)
    assert st["levels"] == model.live_levels()
    assert st["stale_books"] == sum(b.stale for b in model.instruments.values())
    assert st["crossed_books"] == sum(b.crossed for b in model.instruments.values())
    got = [Record(r.kind, r.ref, r.seq, r.exch_ns, r.instrument, r.msg_type)
           for r in books.integrity()]
    assert got == model.records


def assert_all_equal(books: Any, model: Model, *, orders: bool = True) -> None:
    assert len(books) == len(model.instruments)
    for inst in model.instruments:
        assert_book_equal(books, model, inst, orders=orders)
    assert_stats_equal(books, model)


# --------------------------------------------------------- feeding frames


@dataclass
class Frame:
    """One frame for the decoder and the (sequence, message) pairs it carries."""

    data: bytes
    link: int
    messages: list[tuple[int, bytes]]


def mold_frames(messages: list[bytes], per_packet: list[int], *, ethernet: bool = True,
                first_seq: int = 1, session: str = "BOOKTEST01") -> list[Frame]:
    """MoldUDP64 packets of ``per_packet`` messages each (cycled), as Ethernet
    frames (or bare MoldUDP64 payloads), sequence numbers from ``first_seq``."""
    from _frames import ETH, MOLD, split_packets, udp_frame

    from protocols import moldudp64

    out = []
    for p in split_packets(messages, per_packet, first_seq=first_seq, session=session):
        pkt = moldudp64.decode_packet(p)
        carried = [(pkt.sequence + i, m) for i, m in enumerate(pkt.messages)]
        out.append(Frame(udp_frame(p) if ethernet else p, ETH if ethernet else MOLD, carried))
    return out


def itch_frames(messages: list[bytes]) -> list[Frame]:
    """One bare ITCH message per frame (as a BinaryFILE source hands them out):
    the decoder numbers them 1, 2, ..."""
    from _frames import ITCH

    return [Frame(m, ITCH, [(i + 1, m)]) for i, m in enumerate(messages)]


def feed_bursts(dec: Any, frames: list[Frame], burst: int, after: Any = None,
                model: Model | None = None) -> None:
    """Hand ``frames`` to ``dec`` ``burst`` at a time; after each call apply
    the same frames' messages to ``model`` and call ``after()``."""
    from gateway._native import ffi

    arr = ffi.new("struct gw_frame[]", max(1, len(frames)))
    keep = []
    for i, fr in enumerate(frames):
        buf = ffi.from_buffer("uint8_t[]", fr.data)
        keep.append(buf)
        arr[i].data = buf
        arr[i].len = arr[i].wire_len = len(fr.data)
        arr[i].rx_ns = 1_700_000_000_000_000_000 + i
        arr[i].link = fr.link
        arr[i].line = 0
        arr[i].flags = 0
    done = 0
    while done < len(frames):
        want = min(burst, len(frames) - done)
        got = dec.frames(arr + done, want)
        assert got == want
        if model is not None:
            for fr in frames[done : done + got]:
                for seq, m in fr.messages:
                    model.apply(m, seq)
        done += got
        if after is not None:
            after()
    del keep
