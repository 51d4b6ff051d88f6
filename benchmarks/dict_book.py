"""A deliberately simple pure-Python ITCH 5.0 order-by-order book.

This is the yardstick a reader can check by eye, not a fast book: plain
dicts, one ``if`` chain over the message type, no cleverness.  It reads raw
ITCH 5.0 message bytes (no framing: each message starts with its type byte)
and keeps

* ``orders``: order reference -> ``[locate, side, price, shares]`` (side 0
  is buy, 1 is sell; prices are ITCH's integer 1/10,000);
* ``levels``: one dict per (locate, side), keyed ``locate << 1 | side``,
  from price to ``[shares, orders]``;
* ``symbols``: locate -> symbol, from the Stock Directory (``R``).

Rules (the ones every book in this project's benchmarks and tests follows):

* ``A``/``F`` add an order.  An add naming a live reference replaces it (the
  old order leaves its level first).  An add of zero shares adds nothing.
* ``E``/``C`` (executions) and ``X`` (cancel) take shares off the order;
  taking all it has or more removes it.
* ``D`` removes the order.
* ``U`` (replace): the old order leaves, the new reference joins the same
  instrument and side with the new price and shares.
* ``E C X D U`` act on the instrument and side the order was added with (the
  message's own locate is not consulted); naming a reference that is not
  live changes nothing (a ``U`` then adds nothing either).
* Every message counts, whatever its type.

Field offsets come from the layout table in :mod:`protocols.itch50`, never
typed here: each message type gets one ``struct.Struct`` whose pad bytes and
field widths are derived from ``MESSAGES[code].field(name)``.

The result of a replay is the message count and, per symbol, the final best
bid and offer as :data:`BBO` ``(bid_price, bid_shares, ask_price,
ask_shares)``; an empty side is ``None`` and 0.  A locate that carries
orders but never had an ``R`` is named ``"#<locate>"``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any

from protocols import itch50
from protocols.layout import Kind

#: (bid_price, bid_shares, ask_price, ask_shares); an empty side is None, 0.
BBO = tuple[int | None, int, int | None, int]
#: The empty book.
EMPTY: BBO = (None, 0, None, 0)

_BUY, _SELL = 0, 1
_UINT = {1: "B", 2: "H", 4: "I", 8: "Q"}

Unpack = Callable[[Any, int], tuple[Any, ...]]


def field_reader(code: bytes, *names: str) -> Unpack:
    """``unpack_from(buf, pos)`` of the named fields of one message type.

    The fields must be given in the order they appear in the message; the
    gaps between them become pad bytes.  Offsets and sizes come from the
    layout table.
    """
    layout = itch50.MESSAGES[code]
    fmt, pos = ">", 0
    for name in names:
        f = layout.field(name)
        if f.offset < pos:
            raise ValueError(f"{code!r}: field {name} is before the previous one")
        if f.offset > pos:
            fmt += f"{f.offset - pos}x"
        if f.kind is Kind.ALPHA:
            fmt += f"{f.size}s"
        elif f.kind is Kind.TIMESTAMP:
            raise ValueError("timestamps are 6 bytes; this book does not read them")
        else:
            fmt += _UINT[f.size]
        pos = f.offset + f.size
    return struct.Struct(fmt).unpack_from


def _symbol(raw: bytes) -> str:
    return raw.rstrip(b" ").decode("ascii", "replace")


class DictBook:
    """Every instrument's book of one ITCH 5.0 feed, in dicts."""

    def __init__(self) -> None:
        self.messages = 0
        self.orders: dict[int, list[int]] = {}
        self.levels: dict[int, dict[int, list[int]]] = {}
        self.symbols: dict[int, str] = {}

    def feed_binaryfile(self, buf: bytes | bytearray, start: int = 0, end: int | None = None) -> None:
        """Apply every message of a BinaryFILE-framed buffer: each message is
        preceded by its length as 2 bytes big-endian; a zero length (or the
        end of ``buf``) ends it."""
        end = len(buf) if end is None else end
        add_fields = ("stock_locate", "order_reference_number", "buy_sell_indicator",
                      "shares", "price")
        u_add = field_reader(b"A", *add_fields)
        u_add_mpid = field_reader(b"F", *add_fields)
        u_ref = field_reader(b"D", "order_reference_number")
        u_exec = field_reader(b"E", "order_reference_number", "executed_shares")
        u_exec_px = field_reader(b"C", "order_reference_number", "executed_shares")
        u_cancel = field_reader(b"X", "order_reference_number", "cancelled_shares")
        u_replace = field_reader(b"U", "original_order_reference_number",
                                 "new_order_reference_number", "shares", "price")
        u_dir = field_reader(b"R", "stock_locate", "stock")
        orders, levels, symbols = self.orders, self.levels, self.symbols
        add, take = self._add, self._take
        n = 0
        pos = start
        while pos + 2 <= end:
            mlen = (buf[pos] << 8) | buf[pos + 1]
            if mlen == 0:
                break
            pos += 2
            t = buf[pos]
            n += 1
            if t == 0x41 or t == 0x46:  # A, F
                loc, ref, side, shares, price = (u_add if t == 0x41 else u_add_mpid)(buf, pos)
                add(ref, loc, _BUY if side == b"B" else _SELL, price, shares)
            elif t == 0x44:  # D
                o = orders.pop(u_ref(buf, pos)[0], None)
                if o is not None:
                    take(o)
            elif t == 0x55:  # U
                old, new, shares, price = u_replace(buf, pos)
                o = orders.pop(old, None)
                if o is not None:
                    take(o)
                    add(new, o[0], o[1], price, shares)
            elif t == 0x45 or t == 0x43 or t == 0x58:  # E, C, X
                ref, shares = (u_exec if t == 0x45 else u_exec_px if t == 0x43
                               else u_cancel)(buf, pos)
                o = orders.get(ref)
                if o is not None:
                    if shares >= o[3]:
                        del orders[ref]
                        take(o)
                    else:
                        o[3] -= shares
                        lv = levels[o[0] << 1 | o[1]][o[2]]
                        lv[0] -= shares
            elif t == 0x52:  # R
                loc, stock = u_dir(buf, pos)
                symbols[loc] = _symbol(stock)
            pos += mlen
        self.messages += n

    def feed(self, messages: Iterable[bytes]) -> None:
        """Apply messages given one by one (convenience for tests)."""
        parts: list[bytes] = []
        for m in messages:
            parts += (len(m).to_bytes(2, "big"), m)
        self.feed_binaryfile(b"".join(parts))

    def _add(self, ref: int, loc: int, side: int, price: int, shares: int) -> None:
        if shares == 0:
            return
        old = self.orders.get(ref)
        if old is not None:  # a live reference: the new order replaces it
            del self.orders[ref]
            self._take(old)
        self.orders[ref] = [loc, side, price, shares]
        key = loc << 1 | side
        book = self.levels.get(key)
        if book is None:
            book = self.levels[key] = {}
        lv = book.get(price)
        if lv is None:
            book[price] = [shares, 1]
        else:
            lv[0] += shares
            lv[1] += 1

    def _take(self, o: list[int]) -> None:
        """Remove order ``o`` (already out of ``orders``) from its level."""
        book = self.levels[o[0] << 1 | o[1]]
        lv = book[o[2]]
        lv[0] -= o[3]
        lv[1] -= 1
        if lv[1] == 0:
            del book[o[2]]

    def bbo(self) -> dict[str, BBO]:
        """Best bid and offer of every instrument: those in the directory and
        any other locate that carried orders."""
        locates = set(self.symbols) | {key >> 1 for key in self.levels}
        out: dict[str, BBO] = {}
        for loc in locates:
            name = self.symbols.get(loc, f"#{loc}")
            bid: int | None = None
            ask: int | None = None
            bid_shares = ask_shares = 0
            bids = self.levels.get(loc << 1 | _BUY)
            if bids:
                bid = max(bids)
                bid_shares = bids[bid][0]
            asks = self.levels.get(loc << 1 | _SELL)
            if asks:
                ask = min(asks)
                ask_shares = asks[ask][0]
            out[name] = (bid, bid_shares, ask, ask_shares)
        return out


def replay_binaryfile(buf: bytes) -> tuple[int, dict[str, BBO]]:
    """Message count and final BBO per symbol of a BinaryFILE-framed buffer."""
    book = DictBook()
    book.feed_binaryfile(buf)
    return book.messages, book.bbo()
