"""A book as a price ladder for people (``gateway book``)."""

from __future__ import annotations

import re

from gateway.book import ASK, BID, Book
from gateway.errors import ConfigError
from gateway.render import format_time

_TIME = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")


def at_time_ns(text: str) -> int:
    """HH:MM:SS[.fraction] -> nanoseconds since midnight."""
    m = _TIME.match(text)
    if not m:
        raise ConfigError("--at-time", f"expected HH:MM:SS[.nnnnnnnnn], not {text!r}")
    h, mi, s = int(m[1]), int(m[2]), int(m[3])
    if h > 23 or mi > 59 or s > 59:
        raise ConfigError("--at-time", f"{text!r} is not a time of day")
    frac = int((m[4] or "0").ljust(9, "0"))
    return ((h * 60 + mi) * 60 + s) * 1_000_000_000 + frac


def _price(p: int, exponent: int) -> str:
    digits = -exponent
    return f"{p / 10**digits:.{digits}f}" if digits else str(p)


def format_ladder(book: Book, levels: int) -> str:
    info = book.info()
    bids, asks = book.levels(BID, levels), book.levels(ASK, levels)
    flags = [f for f, on in (("STALE", info.stale), ("CROSSED", info.crossed)) if on]
    head = (
        f"{info.symbol or '#' + str(info.locate)}  instrument {info.id}  locate {info.locate}"
        f"  seq {info.last_seq}  {format_time(info.last_exch_ns)}"
        f"  state {info.trading_state or '?'}"
        + (f"  {' '.join(flags)}" if flags else "")
    )
    stats = (
        f"orders {info.orders:,}  bid levels {info.bid_levels:,}  ask levels {info.ask_levels:,}"
        f"  trades {info.trades:,} ({info.traded_shares:,} shares)"
    )
    rows = [head, stats, "",
            f"{'orders':>7} {'shares':>10} {'bid':>12} | {'ask':<12} {'shares':>10} {'orders':>7}"]
    e = info.price_exponent
    for i in range(max(len(bids), len(asks))):
        left = (f"{int(bids['orders'][i]):>7} {int(bids['shares'][i]):>10} "
                f"{_price(int(bids['price'][i]), e):>12}") if i < len(bids) else " " * 31
        right = (f"{_price(int(asks['price'][i]), e):<12} {int(asks['shares'][i]):>10} "
                 f"{int(asks['orders'][i]):>7}") if i < len(asks) else ""
        rows.append(f"{left} | {right}".rstrip())
    if not len(bids) and not len(asks):
        rows.append("(empty)")
    return "\n".join(rows)
