"""The Python face of the order books (``native/src/book.c``).

Theory of operation
-------------------
``Books`` owns every book of one feed: pools sized once from configuration,
attached to a ``Decoder`` (``Decoder(books=books)``) so that each burst call
decodes and applies in C.  Reads never lock the writer: each call below is
one C call that copies a consistent view under the book's seqlock, into
numpy arrays mirrored from the C structs (``LEVEL_DTYPE``, ``ORDER_DTYPE``,
``EVENT_DTYPE``; their layouts are tested against the C compiler's).

Instruments are identified by an id the gateway assigns: (feed, locate)
maps to it and the symbol finds it; prices are integers in the feed's units
(``price_exponent``: ITCH -4).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from gateway._native import ffi, lib
from gateway.errors import ConfigError, InputError
from gateway.native import EVENT_DTYPE, check

BID, ASK = lib.GW_SIDE_BID, lib.GW_SIDE_ASK

LEVEL_DTYPE = np.dtype([("price", "<i8"), ("shares", "<u8"), ("orders", "<u4"), ("_pad", "<u4")])
ORDER_DTYPE = np.dtype([("ref", "<u8"), ("shares", "<u8")])
INTEGRITY_DTYPE = np.dtype(
    [
        ("ref", "<u8"),
        ("seq", "<u8"),
        ("exch_ns", "<i8"),
        ("instrument", "<u4"),
        ("kind", "u1"),
        ("msg_type", "u1"),
        ("_pad", "<u2"),
    ]
)

INTEGRITY_KINDS = (
    "unknown_ref",
    "over_execute",
    "over_cancel",
    "duplicate_ref",
    "crossed",
    "order_pool_full",
    "level_pool_full",
    "book_pool_full",
    "gap",
)

EVENT_KINDS = {
    lib.GW_EV_BOOK_LEVEL: "book_level",
    lib.GW_EV_BBO: "bbo",
    lib.GW_EV_TRADE: "trade",
    lib.GW_EV_BOOK_STATE: "book_state",
    lib.GW_EV_GAP: "gap",
    lib.GW_EV_STALE: "stale",
    lib.GW_EV_RECOVERED: "recovered",
    lib.GW_EV_OVERFLOW: "overflow",
}


@dataclass(frozen=True)
class BooksConfig:
    """How big the pools are.  Defaults fit a busy NASDAQ symbol set
    (about 1.1 GB of address space, touched only as it is used)."""

    max_instruments: int = 16_384
    max_orders: int = 4_000_000
    max_levels: int = 1_000_000
    event_capacity: int = 1 << 17
    feed: int = 0
    price_exponent: int = -4
    prefault: bool = False

    def validate(self) -> None:
        for name in ("max_instruments", "max_orders", "max_levels"):
            v = getattr(self, name)
            limit = 0x7FFFFFFE if name == "max_instruments" else lib.GW_BOOKS_MAX_POOL
            if not 1 <= v <= limit:
                raise ConfigError(f"books.{name}", f"must be 1..{limit}, not {v}")
        if not 0 <= self.event_capacity <= 1 << 30:
            raise ConfigError("books.event_capacity", f"must be 0..{1 << 30}, not {self.event_capacity}")
        if not 0 <= self.feed <= 0xFFFF:
            raise ConfigError("books.feed", f"must be 0..65535, not {self.feed}")
        if not -18 <= self.price_exponent <= 0:
            raise ConfigError("books.price_exponent", f"must be -18..0, not {self.price_exponent}")


@dataclass
class BookInfo:
    id: int
    symbol: str
    locate: int
    feed: int
    trading_state: str
    system_event: str
    stale: bool
    crossed: bool
    reason: str
    price_exponent: int
    bid_price: int
    ask_price: int
    bid_shares: int
    ask_shares: int
    bid_orders: int
    ask_orders: int
    bid_levels: int
    ask_levels: int
    orders: int
    messages: int
    adds: int
    executions: int
    cancels: int
    deletes: int
    replaces: int
    trades: int
    traded_shares: int
    crossed_count: int
    last_seq: int
    last_exch_ns: int


@dataclass
class Integrity:
    kind: str
    ref: int
    seq: int
    exch_ns: int
    instrument: int
    msg_type: str


def _char(v: int) -> str:
    return chr(v) if v else ""


class Book:
    """A handle on one instrument's book; every read is a fresh, consistent copy."""

    def __init__(self, books: Books, id: int) -> None:
        self._books = books
        self.id = id
        self._info = ffi.new("struct gw_book_info *")

    def info(self) -> BookInfo:
        i = self._info
        check(lib.gw_book_info(self._books.handle, self.id, i), f"book {self.id}")
        return BookInfo(
            id=i.id,
            symbol=bytes(ffi.buffer(i.symbol, 8)).decode("latin-1").rstrip(" "),
            locate=i.locate,
            feed=i.feed,
            trading_state=_char(i.trading_state),
            system_event=_char(i.system_event),
            stale=bool(i.flags & lib.GW_BOOK_STALE),
            crossed=bool(i.flags & lib.GW_BOOK_CROSSED),
            reason=bytes(ffi.buffer(i.reason, 4)).decode("latin-1").rstrip(" \x00"),
            price_exponent=i.price_exponent,
            bid_price=i.bid_price,
            ask_price=i.ask_price,
            bid_shares=i.bid_shares,
            ask_shares=i.ask_shares,
            bid_orders=i.bid_orders,
            ask_orders=i.ask_orders,
            bid_levels=i.bid_levels,
            ask_levels=i.ask_levels,
            orders=i.orders,
            messages=i.messages,
            adds=i.adds,
            executions=i.executions,
            cancels=i.cancels,
            deletes=i.deletes,
            replaces=i.replaces,
            trades=i.trades,
            traded_shares=i.traded_shares,
            crossed_count=i.crossed,
            last_seq=i.last_seq,
            last_exch_ns=i.last_exch_ns,
        )

    @property
    def symbol(self) -> str:
        return self.info().symbol

    def bbo(self) -> tuple[int, int, int, int]:
        """(bid price, bid shares, ask price, ask shares); 0, 0 for an empty side."""
        i = self.info()
        return i.bid_price, i.bid_shares, i.ask_price, i.ask_shares

    def levels(self, side: int, n: int | None = None) -> np.ndarray:
        """The top ``n`` levels of a side (all by default), best first."""
        if side not in (BID, ASK):
            raise ConfigError("side", f"must be BID ({BID}) or ASK ({ASK}), not {side}")
        if n is not None:
            return self._levels(side, max(n, 0))
        # All of them: size from the header, grow if the book grew meanwhile.
        i = self.info()
        want = (i.bid_levels if side == BID else i.ask_levels) + 64
        while True:
            out = self._levels(side, want)
            if len(out) < want:
                return out
            want *= 2

    def _levels(self, side: int, n: int) -> np.ndarray:
        out = np.zeros(n, LEVEL_DTYPE)
        if n == 0:
            return out
        ptr = ffi.cast("struct gw_level_view *", ffi.from_buffer(out))
        got = check(lib.gw_book_levels(self._books.handle, self.id, side, ptr, n), "levels")
        return out[:got]

    def orders_at(self, side: int, price: int) -> np.ndarray:
        """The orders resting at one price, in time priority (all of them)."""
        want = 256
        while True:
            out = np.zeros(want, ORDER_DTYPE)
            ptr = ffi.cast("struct gw_order_view *", ffi.from_buffer(out))
            got = lib.gw_book_orders(self._books.handle, self.id, side, price, ptr, want)
            if got == -2:  # -ENOENT: no such level
                return out[:0]
            check(got, "orders")
            if got < want:
                return out[:got]
            want *= 4

    def mark_recovered(self) -> None:
        """Clear the stale flag (RECOVERED event).  A writer-side call: make it
        from the thread that drives the decoder, not from a reader thread."""
        check(lib.gw_book_mark_recovered(self._books.handle, self.id), f"book {self.id}")

    def ladder(self, levels: int | None = None) -> dict[str, list[list[int]]]:
        bids, asks = self.levels(BID, levels), self.levels(ASK, levels)
        return {
            "bids": [[int(p), int(s), int(o)] for p, s, o in zip(bids["price"], bids["shares"], bids["orders"], strict=True)],
            "asks": [[int(p), int(s), int(o)] for p, s, o in zip(asks["price"], asks["shares"], asks["orders"], strict=True)],
        }


class Books:
    """Every order book of one feed, built in C by the decoder it is attached to."""

    def __init__(self, config: BooksConfig | None = None, **overrides: Any) -> None:
        cfg = config or BooksConfig()
        if overrides:
            known = {f.name for f in fields(BooksConfig)}
            bad = sorted(set(overrides) - known)
            if bad:
                raise ConfigError(f"books.{bad[0]}", f"unknown; allowed: {', '.join(sorted(known))}")
            cfg = BooksConfig(**{**cfg.__dict__, **overrides})
        cfg.validate()
        self.config = cfg
        c = ffi.new("struct gw_books_config *")
        c.max_instruments = cfg.max_instruments
        c.max_orders = cfg.max_orders
        c.max_levels = cfg.max_levels
        c.event_capacity = cfg.event_capacity
        c.flags = lib.GW_BOOKS_PREFAULT if cfg.prefault else 0
        c.feed = cfg.feed
        c.price_exponent = cfg.price_exponent
        out = ffi.new("struct gw_books **")
        check(lib.gw_books_open(out, c), "books")
        self.handle: Any = ffi.gc(out[0], lib.gw_books_close)
        self._first = ffi.new("struct gw_event **")

    # -- lookup -------------------------------------------------------------

    def __len__(self) -> int:
        return int(lib.gw_books_count(self.handle))

    def ids(self) -> range:
        return range(1, len(self) + 1)

    def book(self, key: str | int) -> Book:
        """A book by symbol (str) or instrument id (int)."""
        if isinstance(key, str):
            raw = key.encode("latin-1")
            if len(raw) > 8:
                raise InputError(f"symbol {key!r} is longer than 8 characters")
            id = lib.gw_books_find_symbol(self.handle, raw)
            if not id:
                raise KeyError(f"no book for symbol {key!r}")
            return Book(self, id)
        if not 1 <= key <= len(self):
            raise KeyError(f"no book with instrument id {key}")
        return Book(self, key)

    def by_locate(self, locate: int) -> Book:
        id = lib.gw_books_find_locate(self.handle, locate) if 0 <= locate <= 0xFFFF else 0
        if not id:
            raise KeyError(f"no book for stock locate {locate}")
        return Book(self, id)

    def __iter__(self) -> Iterator[Book]:
        return (Book(self, i) for i in self.ids())

    # -- views ----------------------------------------------------------------

    def snapshot(self, levels: int | None = None) -> dict[str, Any]:
        """Every book as {"books": {symbol: {"bids": [[price, shares, orders]...],
        "asks": [...]}}, "stats": {...}}, best first, up to ``levels`` per side."""
        out: dict[str, Any] = {}
        for bk in self:
            name = bk.symbol or f"#{bk.info().locate}"
            out[name] = bk.ladder(levels)
        return {"books": out, "stats": self.stats()}

    def stats(self) -> dict[str, Any]:
        st = lib.gw_books_stats(self.handle)
        d: dict[str, Any] = {
            k: int(getattr(st, k))
            for k in (
                "messages", "books", "orders", "levels", "peak_orders", "peak_levels",
                "stale_books", "crossed_books", "events", "events_dropped", "overflows",
                "bytes", "order_bytes", "level_bytes", "overflow_orders", "compactions",
            )
        }
        d["integrity"] = {k: int(st.integrity[i]) for i, k in enumerate(INTEGRITY_KINDS)}
        d["unknown_ref_by_type"] = {
            chr(t): int(st.unknown_ref_by_type[t]) for t in range(256) if st.unknown_ref_by_type[t]
        }
        return d

    def integrity(self) -> list[Integrity]:
        """The first few of each kind of integrity problem, in the order seen."""
        n = ffi.new("uint32_t *")
        ptr = lib.gw_books_integrity(self.handle, n)
        if not n[0]:
            return []
        arr = np.frombuffer(ffi.buffer(ptr, n[0] * INTEGRITY_DTYPE.itemsize), INTEGRITY_DTYPE)
        return [
            Integrity(INTEGRITY_KINDS[int(r["kind"])], int(r["ref"]), int(r["seq"]),
                      int(r["exch_ns"]), int(r["instrument"]), _char(int(r["msg_type"])))
            for r in arr
        ]

    # -- events ----------------------------------------------------------------

    def events(self, max_events: int = 1 << 16) -> Iterator[np.ndarray]:
        """Drain the event ring: each array is a view of C memory that is
        handed back to the writer when the next one is asked for."""
        while True:
            n = lib.gw_events_peek(self.handle, self._first, max_events)
            if not n:
                return
            view = np.frombuffer(ffi.buffer(self._first[0], n * EVENT_DTYPE.itemsize), EVENT_DTYPE)
            try:
                yield view
            finally:
                lib.gw_events_release(self.handle, n)
