"""Synthetic NASDAQ TotalView-ITCH 5.0 sessions and the captures that carry them.

Theory of operation
-------------------
A session is generated in one pass, deterministically from ``seed``, and
holds exactly the number of messages asked for.  Randomness comes from two
generators the session owns, both seeded with ``seed`` (no global state): a
numpy ``Generator`` draws the per-message numbers (slot times, the
parameters of new orders) in batches of 16,384, because one vectorised draw
is far cheaper than thousands of Python calls; a ``random.Random`` draws
everything else.  It has three parts:

1. *Preamble* (03:00-04:00): System Event ``O`` (start of messages), one
   Stock Directory ``R`` per symbol (locates 1..N in alphabetical order, as
   NASDAQ assigns them), one Stock Trading Action ``H`` ("T", trading) per
   symbol, then System Event ``S`` (start of system hours) at 04:00.
2. *Body*: ``messages - (2 * symbols + 6)`` slots.  Slot ``i`` gets the
   timestamp ``profile((i + u) / slots)`` with ``u`` uniform in [0, 1), where
   ``profile`` is piecewise linear and increasing from 04:00 to 20:00 with
   more slots per second around the open and the close; so timestamps never
   decrease.  System Events ``Q`` (09:30) and ``M`` (16:00) are inserted when
   the slot clock passes them.  Each slot yields exactly one message:
   a scheduled *extra* if one is due (opening/closing crosses ``Q`` with the
   NOII ``I`` messages before them, and small numbers of ``Y L V W K J h B N
   O`` and LULD pauses ``H``); else the *follow-up* of a resting order whose
   time has come (``D`` delete, ``U`` replace, ``X`` partial cancel, ``E``/``C``
   execution); else a new event: an add (``A``, or ``F`` with an MPID), an
   aggressive execution against the touch (``E``/``C``), or a hidden-order
   trade ``P``.
3. *End*: System Events ``E`` (20:00) and ``C`` (end of messages).

*Order book model.*  Every symbol has a mid price doing a random walk in
ticks of $0.01 (100 in ITCH's 1/10,000 units) and a book of resting orders by
price level.  A new buy is priced at or below the mid and strictly below the
best ask; a new sell at or above the mid and strictly above the best bid, so
a book built from the feed is never crossed or locked.  The mid is clamped
to the touch, so prices move when liquidity at the touch is deleted or
executed.  When an order is added its follow-up is scheduled a heavy-tailed
number of slots later (``2 ** (20 * u**2)``: half within about 30 slots,
some beyond the end of the session); a follow-up is mostly a delete, else a
replace, a partial cancel or an execution, and anything that leaves the
order alive schedules the next one.  Order reference numbers are unique and
increasing (a replace takes a new one and keeps the side); executions and
cancels never exceed the open shares.  Sizes are mostly round lots of
100-500 with odd lots and a Pareto tail into the tens of thousands; symbol
activity follows a Zipf law.

*Encoding.*  The generic table-driven encoder in ``protocols`` is too slow
for millions of messages, so each ITCH message type gets one precompiled
``struct.Struct`` whose format string is *derived* from the layout table
(``Kind`` and size of every field; the 6-byte timestamp as a 16-bit and a
32-bit half).  The struct's size is checked against the table's, and the
tests compare its output with ``itch50.encode`` field by field.  Alpha
values are passed already padded with spaces, as ITCH requires.

*Speed.*  The per-message path avoids what is slow in CPython: follow-ups
wait in a timing wheel (a dict from due slot to a list of references)
rather than a heap; the hot loop reads locals, not attributes; adds, the
commonest message, are written out in one method.  About 5 us per message
on a loaded 2-core VM, framing and writing included.

*Capture.*  :func:`write_synth` packs the messages into MoldUDP64 packets
as NASDAQ does (at most 1,400 bytes of UDP payload, header included,
consecutive sequence numbers from 1, session ``000000001A``) and ends with
an end-of-session packet.  Frames go from 10.0.0.1:40000 to the multicast
group 233.54.12.111:26477.  A packet's capture time is midnight US/Eastern
of 2026-11-20 (ITCH timestamps count from Eastern midnight) plus the
timestamp of its last message plus 2-10 us of wire latency.  The session
squeezes a trading day into few messages, so a packet spans more time than
a real one would, and the feed is silent for seconds or minutes between
packets where NASDAQ would send a heartbeat every second.  Writing all of
those would swamp a sample capture; instead each silence longer than five
minutes closes the packet being filled and gets the first heartbeat it
would have had (one second in), so captures contain a few heartbeats.
"""

from __future__ import annotations

import calendar
import math
import random
import struct
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from gateway.capture_write import BinaryFileWriter, PcapngWriter, PcapWriter, UdpFramer
from protocols import itch50, moldudp64
from protocols.layout import Kind, Layout

FORMATS = ("pcap", "pcapng", "binaryfile")
DEFAULT_SESSION = "000000001A"
DEFAULT_GROUP = "233.54.12.111"
DEFAULT_PORT = 26477
DEFAULT_SOURCE = "10.0.0.1"
DEFAULT_SOURCE_PORT = 40000
MAX_PAYLOAD = 1400  # MoldUDP64 header included, as NASDAQ fills packets
HEARTBEAT_NS = 1_000_000_000  # MoldUDP64 heartbeats come after 1 s of silence
#: Only silences longer than this get a heartbeat written (see the module docstring).
HEARTBEAT_SILENCE_NS = 300 * 1_000_000_000
#: Midnight US/Eastern (05:00 UTC, EST) on 2026-11-20, in ns since the epoch.
CAPTURE_MIDNIGHT_NS = calendar.timegm((2026, 11, 20, 5, 0, 0)) * 1_000_000_000

TICK = 100  # $0.01 in ITCH's 1/10,000 units
MIN_MID = 10_000  # keep every synthetic stock above $1
NO_BID = 0
NO_ASK = 0x7FFFFFFF  # sentinel above any price, so min() needs no None checks
MASK32 = 0xFFFFFFFF
_NEVER = 1 << 62  # a time of day after every real one


def _hms(h: int, m: int = 0, s: float = 0) -> int:
    """Nanoseconds since midnight."""
    return int(((h * 60 + m) * 60 + s) * 1_000_000_000)


START_OF_MESSAGES = _hms(3)
START_OF_SYSTEM_HOURS = _hms(4)
START_OF_MARKET_HOURS = _hms(9, 30)
END_OF_MARKET_HOURS = _hms(16)
END_OF_SYSTEM_HOURS = _hms(20)
END_OF_MESSAGES = _hms(20, 5)

#: (fraction of body slots, time of day): the activity profile of the day.
_PROFILE = (
    (0.00, START_OF_SYSTEM_HOURS),
    (0.06, START_OF_MARKET_HOURS),
    (0.24, _hms(10, 30)),
    (0.64, _hms(15)),
    (0.90, END_OF_MARKET_HOURS),
    (1.00, END_OF_SYSTEM_HOURS),
)

#: Messages outside the body: S O, R and H per symbol, S S; then S Q, M, E, C.
FIXED_SYSTEM_EVENTS = 6

_CATEGORIES = (b"Q", b"G", b"S", b"N", b"P", b"A", b"Z")
_CLASSES = (b"C", b"A", b"O", b"P", b"W")
# Made-up market participant IDs for F and L messages.
_MPIDS = tuple(
    m.encode() for m in ("ALFA", "BRVO", "CHRL", "DLTA", "ECHO", "FXTR", "GOLF", "HTLX",
                         "INDG", "JLTT", "KILO", "LIMA")
)

# -- struct-based encoders derived from the layout table -------------------------

_UINT_FORMAT = {1: "B", 2: "H", 4: "I", 8: "Q"}


def struct_format(layout: Layout) -> str:
    """The ``struct`` format of a layout, from its fields' kinds and sizes.

    A 6-byte TIMESTAMP becomes ``HI`` (high 16 bits, low 32 bits): struct has
    no 48-bit integer.  Alpha fields become ``Ns`` and must be passed padded.
    """
    parts = [">"]
    for f in layout.fields:
        if f.kind is Kind.ALPHA:
            parts.append(f"{f.size}s")
        elif f.kind is Kind.TIMESTAMP:
            parts.append("HI")
        else:
            parts.append(_UINT_FORMAT[f.size])
    return "".join(parts)


def compile_layout(layout: Layout) -> struct.Struct:
    s = struct.Struct(struct_format(layout))
    if s.size != layout.size:  # the table and the format disagree: a bug here
        raise RuntimeError(f"{layout.title}: struct size {s.size} != layout size {layout.size}")
    return s


#: ``PACK[code](code, locate, tracking, ts >> 32, ts & MASK32, *body_fields)``
PACK: dict[bytes, Callable[..., bytes]] = {
    code: compile_layout(lay).pack for code, lay in itch50.MESSAGES.items()
}
_MOLD_HEADER = compile_layout(moldudp64.HEADER)
_BLOCK_PREFIX = tuple(n.to_bytes(moldudp64.BLOCK_LENGTH_SIZE, "big") for n in range(256))

# -- session state ---------------------------------------------------------------


class _Book:
    """One symbol: its directory data, mid price and resting orders by level."""

    __slots__ = ("ask_levels", "base", "best_ask", "best_bid", "bid_levels", "locate",
                 "mid", "name", "step", "stock")

    def __init__(self, locate: int, name: str, base: int, step: int) -> None:
        self.locate = locate
        self.name = name
        self.stock = name.encode().ljust(8)
        self.base = base
        self.mid = base
        self.step = step
        # price -> {order reference: None}, an insertion-ordered set (time priority)
        self.bid_levels: dict[int, dict[int, None]] = {}
        self.ask_levels: dict[int, dict[int, None]] = {}
        self.best_bid = NO_BID
        self.best_ask = NO_ASK


class _Order:
    __slots__ = ("book", "buy", "price", "shares")

    def __init__(self, book: _Book, buy: bool, shares: int, price: int) -> None:
        self.book = book
        self.buy = buy
        self.shares = shares
        self.price = price


@dataclass(frozen=True)
class _Extra:
    """A message scheduled for a time of day rather than drawn from the flow."""

    ts: int
    kind: str
    book: _Book | None = None
    arg: bytes = b""


def _symbol_names(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct tickers of 2-5 letters, sorted (locate order)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    seen: set[str] = set()
    while len(seen) < count:
        length = rng.choice((2, 3, 3, 4, 4, 4, 4, 5))
        seen.add("".join(rng.choice(letters) for _ in range(length)))
    return sorted(seen)


class _Session:
    """Generates one session; see the module docstring for the model."""

    def __init__(self, messages: int, symbols: int, seed: int) -> None:
        # Two generators from the one seed: numpy draws the per-message numbers
        # in batches (the hot path), random.Random the rest.
        self.rng = random.Random(seed)
        self.gen = np.random.default_rng(seed)
        self.slots = messages - (2 * symbols + FIXED_SYSTEM_EVENTS)
        self.books = self._make_books(symbols)
        self.ipo_book = self.rng.choice(self.books)  # the one symbol with IPO messages
        self.directory = [self._directory_fields(b) for b in self.books]
        self._weights = self._zipf_weights(symbols)
        self._popularity = _cdf(self._weights)
        self._draws = _add_draws(self.gen, self._popularity)
        self.orders: dict[int, _Order] = {}
        # Follow-ups: a timing wheel (due slot -> order references), cheaper
        # than a heap; due references wait in ``ready``, one served per slot.
        self.wheel: dict[int, list[int]] = {}
        self.ready: deque[int] = deque()
        self.next_ref = 1
        self.next_match = 1
        self.extras = self._plan_extras()

    # -- set-up --------------------------------------------------------------

    def _make_books(self, symbols: int) -> list[_Book]:
        rng = self.rng
        books = []
        for locate, name in enumerate(_symbol_names(rng, symbols), start=1):
            dollars = 2.0 * 200.0 ** rng.random()  # log-uniform $2..$400
            base = max(MIN_MID, round(dollars * 100) * TICK)
            books.append(_Book(locate, name, base, 1 + base // 1_000_000))
        return books

    def _zipf_weights(self, symbols: int) -> list[float]:
        """Activity weights: Zipf over a random ranking of the symbols."""
        ranks = list(range(1, symbols + 1))
        self.rng.shuffle(ranks)
        return [1.0 / r for r in ranks]

    def _directory_fields(self, book: _Book) -> tuple[object, ...]:
        """Body of a Stock Directory message: plausible, not real, reference data."""
        rng = self.rng
        category = rng.choices(_CATEGORIES, weights=(35, 20, 15, 15, 10, 3, 2))[0]
        nasdaq_listed = category in (b"Q", b"G", b"S")
        etp = rng.random() < 0.12
        status = b" "  # financial status: not applicable off NASDAQ
        if nasdaq_listed:
            status = b"N" if rng.random() > 0.03 else b"D"  # normal, or deficient
        if etp:
            classification, sub_type = b"Q", b"I "  # other security / ETF index fund
        else:  # common stock, ADR, ordinary share, preferred, warrant; sub-type n/a
            classification = rng.choices(_CLASSES, weights=(85, 6, 3, 3, 3))[0]
            sub_type = b"Z "
        leverage = rng.choice((1, 1, 1, 2, 3)) if etp else 0
        ipo_flag = b"N" if nasdaq_listed else b" "
        if book is self.ipo_book:
            ipo_flag = b"Y"
        return (
            book.stock, category, status, 100, b"N", classification, sub_type,
            b"P", b"Y" if rng.random() < 0.02 else b"N", ipo_flag,
            b"1" if book.base >= 300_000 or etp else b"2",  # LULD tier: a rough proxy
            b"Y" if etp else b"N", leverage,
            b"Y" if etp and rng.random() < 0.2 else b"N",
        )

    def _plan_extras(self) -> list[_Extra]:
        """Scheduled messages: crosses and NOII, plus a few of the rare types."""
        if self.slots < 1000:
            return []  # too small a session to spend slots on them
        rng = self.rng
        out: list[_Extra] = []
        n_cross = min(len(self.books), 1 + self.slots // 20_000, 20)
        busiest = sorted(self.books, key=lambda b: -self._weights[b.locate - 1])[:n_cross]
        windows = ((_hms(9, 25), START_OF_MARKET_HOURS, b"O"),
                   (_hms(15, 50), END_OF_MARKET_HOURS, b"C"))
        for k, book in enumerate(busiest):
            for noii_from, cross_at, cross_type in windows:
                # Imbalance indications in the five minutes before the cross, then the cross.
                for _ in range(3):
                    ts = noii_from + int(rng.random() * _hms(0, 5))
                    out.append(_Extra(ts, "I", book, cross_type))
                out.append(_Extra(cross_at + 1000 * (k + 1), "Q", book, cross_type))
        out.append(_Extra(START_OF_SYSTEM_HOURS + _hms(0, 0, 30), "V"))
        for book in self.books[: max(1, min(len(self.books), self.slots // 200))]:
            ts = START_OF_SYSTEM_HOURS + int(rng.random() * _hms(0, 30))
            out.append(_Extra(ts, "L", book, rng.choice(_MPIDS)))
        n_rare = 1 + self.slots // 200_000
        day = END_OF_MARKET_HOURS - _hms(10)
        for _ in range(n_rare):
            for kind in ("Y", "K", "O", "N", "B", "W", "h"):
                ts = _hms(10) + int(rng.random() * day)
                out.append(_Extra(ts, kind, rng.choice(self.books)))
            # An LULD pause: halt, auction collar a second later, resume 5 minutes on.
            ts, book = _hms(10) + int(rng.random() * day), rng.choice(self.books)
            out.append(_Extra(ts, "H", book, b"PLUDP"))
            out.append(_Extra(ts + _hms(0, 0, 1), "J", book))
            out.append(_Extra(ts + _hms(0, 5), "H", book, b"T    "))
        # Latest first: the slot loop pops due extras off the end.
        out.sort(key=lambda e: e.ts, reverse=True)
        return out

    # -- the stream ------------------------------------------------------------

    def messages(self) -> Iterator[bytes]:
        yield from self._preamble()
        last_ts = yield from self._body()
        yield _system_event(b"C", max(last_ts, END_OF_MESSAGES))

    def _preamble(self) -> Iterator[bytes]:
        ts = START_OF_MESSAGES
        yield _system_event(b"O", ts)
        pack_r, pack_h = PACK[b"R"], PACK[b"H"]
        for book, fields in zip(self.books, self.directory, strict=True):
            ts += 1000 + int(self.rng.random() * 4000)
            yield pack_r(b"R", book.locate, 0, ts >> 32, ts & MASK32, *fields)
        for book in self.books:
            ts += 1000 + int(self.rng.random() * 4000)
            yield pack_h(b"H", book.locate, 0, ts >> 32, ts & MASK32, book.stock, b"T", b" ",
                         b"    ")
        yield _system_event(b"S", START_OF_SYSTEM_HOURS)

    def _body(self) -> Generator[bytes, None, int]:
        """One message per body slot, the system events Q and M among them, then
        E; returns the time of E.

        This is the hot loop (once per message), so what it touches is bound
        to local names, which CPython reads much faster than attributes.
        """
        markers = [(START_OF_MARKET_HOURS, b"Q"), (END_OF_MARKET_HOURS, b"M")]
        next_marker = markers[0][0]
        extras = self.extras
        next_extra = extras[-1].ts if extras else _NEVER
        wheel_pop, ready, ready_extend = self.wheel.pop, self.ready, self.ready.extend
        follow_up, add, other = self._next_follow_up, self._add, self._other
        ts = START_OF_SYSTEM_HOURS
        for slot, t, r in _slot_stream(self.gen, self.slots):
            if t > ts:
                ts = t
            bucket = wheel_pop(slot, None)
            if bucket is not None:
                ready_extend(bucket)  # these orders' follow-ups are now due
            while ts >= next_marker:
                yield _system_event(markers.pop(0)[1], next_marker)
                next_marker = markers[0][0] if markers else _NEVER
            if ts >= next_extra:
                yield self._extra(extras.pop(), ts)
                next_extra = extras[-1].ts if extras else _NEVER
                continue
            if ready:
                msg = follow_up(slot, ts, r)
                if msg is not None:
                    yield msg
                    continue
            if r < 0.09:
                msg = other(r, ts)
                if msg is not None:
                    yield msg
                    continue
            yield add(slot, ts)
        for when, code in markers:  # sessions too short to reach them
            ts = max(ts, when)
            yield _system_event(code, ts)
        ts = max(ts, END_OF_SYSTEM_HOURS)
        yield _system_event(b"E", ts)
        return ts

    # -- order flow ------------------------------------------------------------------

    def _pick_book(self) -> _Book:
        return self.books[bisect_right(self._popularity, self.rng.random())]

    def _add(self, slot: int, ts: int) -> bytes:
        """A new order (A, or F with attribution): the commonest message, so
        pricing, linking and scheduling are written out here."""
        index, walk, away, buy, shares, delay, mpid = next(self._draws)
        book = self.books[index]
        if walk:
            self._walk(book, walk)
        ref = self.next_ref
        self.next_ref = ref + 1
        if buy:
            side = b"B"
            price = book.mid - away
            if price >= book.best_ask:  # never lock or cross the ask
                price = book.best_ask - TICK
            levels = book.bid_levels
            if price > book.best_bid:
                book.best_bid = price
        else:
            side = b"S"
            price = book.mid + away
            if price <= book.best_bid:
                price = book.best_bid + TICK
            levels = book.ask_levels
            if price < book.best_ask:
                book.best_ask = price
        level = levels.get(price)
        if level is None:
            levels[price] = {ref: None}
        else:
            level[ref] = None
        self.orders[ref] = _Order(book, buy, shares, price)
        due = slot + delay
        bucket = self.wheel.get(due)
        if bucket is None:
            self.wheel[due] = [ref]
        else:
            bucket.append(ref)
        if mpid >= 0:
            return PACK[b"F"](b"F", book.locate, 0, ts >> 32, ts & MASK32, ref, side, shares,
                              book.stock, price, _MPIDS[mpid])
        return PACK[b"A"](b"A", book.locate, 0, ts >> 32, ts & MASK32, ref, side, shares,
                          book.stock, price)

    def _next_follow_up(self, slot: int, ts: int, r: float) -> bytes | None:
        """The follow-up of the first due order still alive, if any; uniform
        ``r`` picks what it is."""
        ready, orders = self.ready, self.orders
        while ready:
            ref = ready.popleft()
            order = orders.get(ref)
            if order is None:
                continue  # executed against by an aggressive order meanwhile
            if r < 0.70:
                return self._delete(ts, ref, order)
            if r < 0.86:
                return self._replace(slot, ts, ref, order)
            if r < 0.90:
                if order.shares < 2:
                    return self._delete(ts, ref, order)
                return self._cancel(slot, ts, ref, order)
            msg = self._execute(ts, ref, order, with_price=r >= 0.985)
            if order.shares:
                self._schedule(slot, ref)
            return msg
        return None

    def _other(self, r: float, ts: int) -> bytes | None:
        """For ``r`` < 0.09: an aggressive execution (2/3) or a hidden trade."""
        if r < 0.06:
            return self._aggress(ts)
        return self._hidden_trade(ts)

    def _aggress(self, ts: int) -> bytes | None:
        """A marketable order arrives and takes the first order at the touch."""
        book = self._pick_book()
        buy_side = self.rng.random() < 0.5  # which resting side gets hit
        levels = book.bid_levels if buy_side else book.ask_levels
        best = book.best_bid if buy_side else book.best_ask
        if not levels:
            return None
        ref = next(iter(levels[best]))
        book.mid = best  # the trade price pulls the mid along
        return self._execute(ts, ref, self.orders[ref], with_price=self.rng.random() < 0.08)

    def _delete(self, ts: int, ref: int, order: _Order) -> bytes:
        self._unlink(ref, order)
        del self.orders[ref]
        return PACK[b"D"](b"D", order.book.locate, 0, ts >> 32, ts & MASK32, ref)

    def _cancel(self, slot: int, ts: int, ref: int, order: _Order) -> bytes:
        cancelled = 1 + int(self.rng.random() * (order.shares - 1))  # leaves >= 1 open
        order.shares -= cancelled
        self._schedule(slot, ref)
        return PACK[b"X"](b"X", order.book.locate, 0, ts >> 32, ts & MASK32, ref, cancelled)

    def _replace(self, slot: int, ts: int, ref: int, order: _Order) -> bytes:
        book = order.book
        self._unlink(ref, order)
        del self.orders[ref]
        # The add draws serve here too; the symbol and the side are the order's.
        _, walk, away, new_size, shares, delay, _ = next(self._draws)
        if walk:
            self._walk(book, walk)
        order.price = self._price(book, order.buy, away)
        if new_size:
            order.shares = shares
        new_ref = self.next_ref
        self.next_ref = new_ref + 1
        self.orders[new_ref] = order
        self._link(new_ref, book, order.buy, order.price)
        self._schedule(slot, new_ref, delay)
        return PACK[b"U"](b"U", book.locate, 0, ts >> 32, ts & MASK32, ref, new_ref,
                          order.shares, order.price)

    def _execute(self, ts: int, ref: int, order: _Order, with_price: bool) -> bytes:
        """E (or C) for all of the order or part of it."""
        rng = self.rng
        if order.shares < 2 or rng.random() < 0.5:
            shares = order.shares
        else:
            shares = 1 + int(rng.random() * (order.shares - 1))
        order.shares -= shares
        if order.shares == 0:
            self._unlink(ref, order)
            del self.orders[ref]
        match = self.next_match
        self.next_match = match + 1
        locate = order.book.locate
        if with_price:
            printable = b"Y" if rng.random() < 0.8 else b"N"
            return PACK[b"C"](b"C", locate, 0, ts >> 32, ts & MASK32, ref, shares, match,
                              printable, order.price)
        return PACK[b"E"](b"E", locate, 0, ts >> 32, ts & MASK32, ref, shares, match)

    def _hidden_trade(self, ts: int) -> bytes:
        """Non-cross trade against a non-displayed order (reference 0, as NASDAQ
        sends it), at the midpoint when both sides are quoted."""
        book = self._pick_book()
        if book.best_bid != NO_BID and book.best_ask != NO_ASK:
            price = (book.best_bid + book.best_ask) // 2
        else:
            price = book.mid
        match = self.next_match
        self.next_match = match + 1
        side = b"B" if self.rng.random() < 0.5 else b"S"
        return PACK[b"P"](b"P", book.locate, 0, ts >> 32, ts & MASK32, 0, side, self._shares(),
                          book.stock, price, match)

    # -- prices, sizes, lifetimes ----------------------------------------------------

    def _walk(self, book: _Book, direction: int) -> None:
        """One step (``direction`` +1 or -1) of the mid's random walk, kept
        within the touch and above $1.

        (Adds never take the mid outside the touch: buys are priced at or
        below it, sells at or above.)"""
        mid = book.mid + direction * book.step * TICK
        book.mid = max(book.best_bid, min(mid, book.best_ask), MIN_MID)

    def _price(self, book: _Book, buy: bool, away: int) -> int:
        """``away`` from the mid; never at or through the opposite side."""
        if buy:
            return min(book.mid - away, book.best_ask - TICK)
        return max(book.mid + away, book.best_bid + TICK)

    def _shares(self) -> int:
        rng = self.rng
        u = rng.random()
        if u < 0.08:
            return 1 + int(rng.random() * 99)  # odd lot
        if u < 0.80:
            return 100 * (1 + int(rng.random() * 5))  # 100..500
        if u < 0.97:
            return 100 * (6 + int(rng.random() * 15))  # 600..2,000
        return 100 * min(1000, int(20 * (1.0 - rng.random()) ** -0.7))  # Pareto tail

    def _schedule(self, slot: int, ref: int, delay: int = 0) -> None:
        """Give the order a follow-up ``delay`` slots from now (default: drawn
        like the add draws' lifetimes)."""
        if not delay:
            delay = _lifetime(self.rng.random())
        due = slot + delay
        bucket = self.wheel.get(due)
        if bucket is None:
            self.wheel[due] = [ref]
        else:
            bucket.append(ref)

    def _link(self, ref: int, book: _Book, buy: bool, price: int) -> None:
        if buy:
            book.bid_levels.setdefault(price, {})[ref] = None
            if price > book.best_bid:
                book.best_bid = price
        else:
            book.ask_levels.setdefault(price, {})[ref] = None
            if price < book.best_ask:
                book.best_ask = price

    def _unlink(self, ref: int, order: _Order) -> None:
        book, price = order.book, order.price
        levels = book.bid_levels if order.buy else book.ask_levels
        level = levels[price]
        del level[ref]
        if level:
            return
        del levels[price]
        if order.buy and price == book.best_bid:
            book.best_bid = max(levels) if levels else NO_BID
        elif not order.buy and price == book.best_ask:
            book.best_ask = min(levels) if levels else NO_ASK

    # -- scheduled extras ----------------------------------------------------------------

    def _extra(self, extra: _Extra, ts: int) -> bytes:
        return self._EXTRA_HANDLERS[extra.kind](self, extra, ts)

    def _noii(self, e: _Extra, ts: int) -> bytes:
        rng, book = self.rng, _need(e.book)
        paired = 100 * (10 + int(rng.random() * 5000))
        direction = rng.choice((b"B", b"S", b"N", b"O"))
        imbalance = 0 if direction in (b"N", b"O") else 100 * (1 + int(rng.random() * 500))
        ref_price = book.mid
        near = ref_price + TICK * int(rng.random() * 5 - 2)
        far = near + TICK * int(rng.random() * 3)
        return PACK[b"I"](b"I", book.locate, 0, ts >> 32, ts & MASK32, paired, imbalance,
                          direction, book.stock, far, near, ref_price, e.arg,
                          rng.choice((b"L", b"1", b"2", b" ")))

    def _cross(self, e: _Extra, ts: int) -> bytes:
        book = _need(e.book)
        match = self.next_match
        self.next_match = match + 1
        shares = 100 * (50 + int(self.rng.random() * 20_000))
        return PACK[b"Q"](b"Q", book.locate, 0, ts >> 32, ts & MASK32, shares, book.stock,
                          book.mid, match, e.arg)

    def _mwcb_levels(self, e: _Extra, ts: int) -> bytes:
        close = 5_000_00000000 + int(self.rng.random() * 1_000_00000000)  # index, 8 decimals
        levels = [close * pct // 100 for pct in (93, 87, 80)]
        return PACK[b"V"](b"V", 0, 0, ts >> 32, ts & MASK32, *levels)

    def _participant(self, e: _Extra, ts: int) -> bytes:
        book = _need(e.book)
        primary = b"Y" if self.rng.random() < 0.3 else b"N"
        return PACK[b"L"](b"L", book.locate, 0, ts >> 32, ts & MASK32, e.arg, book.stock,
                          primary, b"N", b"A")

    def _rare(self, e: _Extra, ts: int) -> bytes:
        """One of the low-volume administrative messages."""
        rng, book = self.rng, _need(e.book)
        hi, lo = ts >> 32, ts & MASK32
        kind = e.kind
        if kind == "Y":
            return PACK[b"Y"](b"Y", book.locate, 0, hi, lo, book.stock,
                              rng.choice((b"0", b"1", b"2")))
        if kind == "H":  # arg: trading state (1) + reason (4)
            return PACK[b"H"](b"H", book.locate, 0, hi, lo, book.stock, e.arg[:1], b" ",
                              e.arg[1:])
        if kind == "K":
            ipo = self.ipo_book
            return PACK[b"K"](b"K", ipo.locate, 0, hi, lo, ipo.stock, ts // 1_000_000_000 + 600,
                              b"A", ipo.base)
        if kind == "O":
            ipo, mid = self.ipo_book, self.ipo_book.mid
            return PACK[b"O"](b"O", ipo.locate, 0, hi, lo, ipo.stock, b"N", mid * 8 // 10,
                              mid * 12 // 10, mid, ts, mid * 9 // 10, mid * 11 // 10)
        if kind == "N":
            return PACK[b"N"](b"N", book.locate, 0, hi, lo, book.stock,
                              rng.choice((b"B", b"S", b"A", b"N")))
        if kind == "B" and self.next_match > 1:
            match = 1 + int(rng.random() * (self.next_match - 1))
            return PACK[b"B"](b"B", book.locate, 0, hi, lo, match)
        if kind == "W":
            return PACK[b"W"](b"W", 0, 0, hi, lo, b"1")
        if kind == "h":
            action = b"H" if rng.random() < 0.5 else b"T"
            return PACK[b"h"](b"h", book.locate, 0, hi, lo, book.stock,
                              rng.choice((b"Q", b"B", b"X")), action)
        # "J", and a "B" with no trade yet to break: an LULD auction collar
        mid = book.mid
        return PACK[b"J"](b"J", book.locate, 0, hi, lo, book.stock, mid,
                          mid * 105 // 100 // TICK * TICK, mid * 95 // 100 // TICK * TICK, 0)

    _EXTRA_HANDLERS: dict[str, Callable[[_Session, _Extra, int], bytes]] = {}


_Session._EXTRA_HANDLERS = {
    "I": _Session._noii,
    "Q": _Session._cross,
    "V": _Session._mwcb_levels,
    "L": _Session._participant,
    **{k: _Session._rare for k in ("Y", "H", "K", "O", "N", "B", "W", "h", "J")},
}


def _lifetime(u: float) -> int:
    """Slots until an order's follow-up, for ``u`` uniform in [0, 1): heavy
    tailed, half within ~30 slots, a few past a million."""
    return 1 + int(2.0 ** (20.0 * u * u))


_BATCH = 1 << 14  # numbers drawn per numpy call: amortises the call, stays in cache


def _add_draws(
    gen: np.random.Generator, popularity: list[float]
) -> Iterator[tuple[int, int, int, bool, int, int, int]]:
    """Endless random parameters of new orders, drawn a batch at a time:
    ``(book index, walk step -1/0/+1, ticks away from the mid in price units,
    buy?, shares, lifetime in slots, MPID index or -1 for no attribution)``."""
    cdf = np.asarray(popularity)
    mpid_count = len(_MPIDS)
    while True:
        n = _BATCH
        book = np.searchsorted(cdf, gen.random(n), side="right")
        u = gen.random(n)
        walk = np.where(u < 0.15, -1, np.where(u < 0.30, 1, 0))  # the mid moves 30% of adds
        away = (gen.random(n) ** 3 * 40).astype(np.int64) * TICK  # mostly at/near the mid
        buy = gen.random(n) < 0.5
        shares = _shares_batch(gen, n)
        u = gen.random(n)
        lifetime = 1 + (2.0 ** (20.0 * u * u)).astype(np.int64)  # as _lifetime()
        u = gen.random(n)
        mpid = np.where(u < 0.06, (u / 0.06 * mpid_count).astype(np.int64), -1)
        yield from zip(book.tolist(), walk.tolist(), away.tolist(), buy.tolist(),
                       shares.tolist(), lifetime.tolist(), mpid.tolist(), strict=True)


def _shares_batch(gen: np.random.Generator, n: int) -> np.ndarray:
    """Order sizes, as :meth:`_Session._shares` draws them one at a time."""
    u, v = gen.random(n), gen.random(n)
    return np.select(
        [u < 0.08, u < 0.80, u < 0.97],
        [1 + (v * 99).astype(np.int64),  # odd lots
         100 * (1 + (v * 5).astype(np.int64)),  # 100..500
         100 * (6 + (v * 15).astype(np.int64))],  # 600..2,000
        100 * np.minimum(1000, (20 * (1.0 - v) ** -0.7).astype(np.int64)),  # Pareto tail
    )


def _slot_stream(gen: np.random.Generator, slots: int) -> Iterator[tuple[int, int, float]]:
    """``(slot, timestamp, r)`` for every body slot: the timestamp from the
    activity profile with the slot's position jittered within it, ``r`` a
    uniform number the slot uses to choose what it is."""
    for first, stop, s0, t0, rate in _clock_segments(slots):
        for lo in range(first, stop, _BATCH):
            hi = min(stop, lo + _BATCH)
            pos = np.arange(lo, hi, dtype=np.float64) + gen.random(hi - lo)
            ts = t0 + ((pos - s0) * rate).astype(np.int64)
            yield from zip(range(lo, hi), ts.tolist(), gen.random(hi - lo).tolist(), strict=True)


def _cdf(weights: list[float]) -> list[float]:
    """Cumulative shares for ``bisect``; the last is 2.0 so random() < 1 lands."""
    total = sum(weights)
    out, acc = [], 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 2.0
    return out


def _need(book: _Book | None) -> _Book:
    if book is None:
        raise AssertionError("extra scheduled without a symbol")
    return book


def _system_event(code: bytes, ts: int) -> bytes:
    return PACK[b"S"](b"S", 0, 0, ts >> 32, ts & MASK32, code)


def _clock_segments(slots: int) -> Iterator[tuple[int, int, float, int, float]]:
    """Split the body's slots along ``_PROFILE``: ``(first, stop, s0, t0, rate)``
    says slots ``first..stop-1`` sit in a segment that starts at slot position
    ``s0`` and time ``t0`` and advances ``rate`` ns per slot."""
    for (f0, t0), (f1, t1) in pairwise(_PROFILE):
        s0, s1 = f0 * slots, f1 * slots
        first, stop = math.ceil(s0), math.ceil(s1)
        if stop > first:
            yield first, stop, s0, t0, (t1 - t0) / (s1 - s0)


# -- public API ------------------------------------------------------------------------


def minimum_messages(symbols: int) -> int:
    """The smallest session for ``symbols``: preamble and system events only."""
    return 2 * symbols + FIXED_SYSTEM_EVENTS


def generate_messages(messages: int, symbols: int, seed: int) -> Iterator[bytes]:
    """Exactly ``messages`` encoded ITCH 5.0 messages of one synthetic session.

    Arguments are checked now (``ValueError``), the messages made lazily.
    """
    if not 1 <= symbols <= 0xFFFF:
        raise ValueError(f"symbols must be in 1..65535 (a 2-byte stock locate), not {symbols}")
    need = minimum_messages(symbols)
    if messages < need:
        raise ValueError(
            f"{messages} messages cannot hold a session for {symbols} symbols: the preamble "
            f"(an R and an H per symbol) and the six system events need at least {need}"
        )
    return _Session(messages, symbols, seed).messages()


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`write_synth` wrote."""

    path: Path
    fmt: str
    messages: int
    counts: dict[str, int]  # ITCH message type code -> messages of that type
    packets: int  # MoldUDP64 packets carrying messages (0 for BinaryFILE)
    heartbeats: int
    end_of_session: int  # end-of-session packets
    bytes: int  # size of the file written

    @property
    def datagrams(self) -> int:
        return self.packets + self.heartbeats + self.end_of_session

    def __str__(self) -> str:
        """One line, without the path (the CLI prints it after the path)."""
        return f"{self._what()}; {self._kinds()}"

    def describe(self) -> str:
        """The path, what was written, and the messages per type on a second line."""
        return f"{self.path}: {self._what()}\n  {self._kinds()}"

    def _what(self) -> str:
        carried = ""
        if self.fmt != "binaryfile":
            carried = (f" in {self.packets} packets (+{self.heartbeats} heartbeats, "
                       f"{self.end_of_session} end of session)")
        return f"{self.fmt}, {self.messages} messages{carried}, {self.bytes} bytes"

    def _kinds(self) -> str:
        return " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))


def write_synth(
    path: str | Path,
    messages: int = 100_000,
    symbols: int = 100,
    seed: int = 1,
    fmt: str = "pcap",
    vlan: int | None = None,
    *,
    session: str = DEFAULT_SESSION,
    group: str = DEFAULT_GROUP,
    port: int = DEFAULT_PORT,
    source: str = DEFAULT_SOURCE,
    source_port: int = DEFAULT_SOURCE_PORT,
) -> SynthSummary:
    """Write a synthetic session as a pcap, pcapng or BinaryFILE capture."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if len(session) != moldudp64.SESSION_SIZE:
        raise ValueError(f"a MoldUDP64 session is {moldudp64.SESSION_SIZE} characters: {session!r}")
    path = Path(path)
    stream = generate_messages(messages, symbols, seed)
    counts = [0] * 256
    if fmt == "binaryfile":
        with BinaryFileWriter(path) as bf:
            for m in stream:
                counts[m[0]] += 1
                bf.write(m)
        packets = heartbeats = eos = 0
    else:
        framer = UdpFramer(source, group, source_port, port, vlan=vlan)
        writer_cls = PcapWriter if fmt == "pcap" else PcapngWriter
        with writer_cls(path, framer) as writer:
            mold = _MoldWriter(writer, session.encode("ascii"), random.Random(f"wire-{seed}"))
            mold.write_all(stream, counts)
        packets, heartbeats, eos = mold.packets, mold.heartbeats, 1
    return SynthSummary(
        path=path, fmt=fmt, messages=messages,
        counts={chr(c): n for c, n in enumerate(counts) if n},
        packets=packets, heartbeats=heartbeats, end_of_session=eos,
        bytes=path.stat().st_size,
    )


class _MoldWriter:
    """Packs messages into MoldUDP64 packets and writes them as UDP frames.

    A packet is closed when the next message would take its payload past
    :data:`MAX_PAYLOAD`, or comes after a silence longer than
    :data:`HEARTBEAT_SILENCE_NS` (so the preamble is not held back until the
    next message an hour later).  It is stamped with the time of its last
    message plus 2-10 us of latency; such a silence also gets one heartbeat.
    """

    def __init__(self, writer: PcapWriter | PcapngWriter, session: bytes,
                 rng: random.Random) -> None:
        self._writer = writer
        self._session = session
        self._rng = rng
        self.next_sequence = 1
        self.packets = 0
        self.heartbeats = 0
        self._last_wire_ts = 0

    def write_all(self, stream: Iterator[bytes], counts: list[int]) -> None:
        """Send every message of ``stream`` (counting them by type), then the
        end of session.  Once per message, so the loop keeps to locals."""
        blocks: list[bytes] = []
        size, count, last_ts = moldudp64.HEADER_SIZE, 0, 0
        prefix, from_bytes, send = _BLOCK_PREFIX, int.from_bytes, self._send
        for m in stream:
            counts[m[0]] += 1
            n = len(m)
            ts = from_bytes(m[5:11], "big")
            if count and (size + 2 + n > MAX_PAYLOAD or ts - last_ts > HEARTBEAT_SILENCE_NS):
                send(blocks, count, last_ts)
                blocks, size, count = [], moldudp64.HEADER_SIZE, 0
            blocks += (prefix[n], m)
            size += 2 + n
            count += 1
            last_ts = ts
        if count:
            send(blocks, count, last_ts)
        self._writer.write_udp(self._last_wire_ts + 1_000_000, _MOLD_HEADER.pack(
            self._session, self.next_sequence, moldudp64.END_OF_SESSION_COUNT))

    def _send(self, blocks: list[bytes], count: int, itch_ts: int) -> None:
        """One packet whose last message has timestamp ``itch_ts``."""
        wire_ts = CAPTURE_MIDNIGHT_NS + itch_ts + 2000 + int(self._rng.random() * 8000)
        wire_ts = max(wire_ts, self._last_wire_ts)
        if self._last_wire_ts and wire_ts - self._last_wire_ts > HEARTBEAT_SILENCE_NS:
            self._writer.write_udp(self._last_wire_ts + HEARTBEAT_NS, _MOLD_HEADER.pack(
                self._session, self.next_sequence, moldudp64.HEARTBEAT_COUNT))
            self.heartbeats += 1
        header = _MOLD_HEADER.pack(self._session, self.next_sequence, count)
        self._writer.write_udp(wire_ts, header + b"".join(blocks))
        self._last_wire_ts = wire_ts
        self.next_sequence += count
        self.packets += 1
