"""Session hours: when a FIX session may be logged on, and when a new
session period (and with it, sequence numbers from 1) begins.

A schedule is a daily window, ``start`` to ``end`` in a time zone, on the
listed weekdays (the day the window opens).  An end at or before the start
runs past midnight (a Sunday 18:00 to Monday 17:00 futures week is a
window per day with ``days`` Sunday-Thursday).  ``start == end`` means the
whole day.  The period a moment belongs to starts at the last opening
before it; with ``daily_reset`` a store created before that opening is
reset when the session next connects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    start: dt.time
    end: dt.time
    tz: dt.tzinfo
    days: frozenset[int] = frozenset(range(7))   # Monday 0
    daily_reset: bool = True

    @classmethod
    def parse(cls, start: str, end: str, tz: str = "UTC", days: str = "",
              daily_reset: bool = True) -> Schedule:
        """From config text: "HH:MM[:SS]", an IANA zone, days like "mon,tue"."""
        try:
            zone: dt.tzinfo = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("schedule.tz", f"{tz!r} is not an IANA time zone "
                                             "(e.g. UTC, America/New_York)") from None
        want = frozenset(range(7))
        if days:
            names = [d.strip().lower()[:3] for d in days.split(",")]
            bad = [n for n in names if n not in DAYS]
            if bad:
                raise ConfigError("schedule.days", f"{bad} not among {', '.join(DAYS)}")
            want = frozenset(DAYS.index(n) for n in names)
        return cls(_time("schedule.start", start), _time("schedule.end", end), zone, want,
                   daily_reset)

    def period_start(self, now_ns: int) -> int | None:
        """When the window holding ``now_ns`` opened (ns), or None outside."""
        now = dt.datetime.fromtimestamp(now_ns / 1e9, self.tz)
        length = _seconds(self.end) - _seconds(self.start)
        if length <= 0:
            length += 86400
        for back in (0, 1):
            day = now.date() - dt.timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            opened = dt.datetime.combine(day, self.start, self.tz)
            if opened <= now < opened + dt.timedelta(seconds=length):
                return int(opened.timestamp() * 1e9)
        return None

    def is_open(self, now_ns: int) -> bool:
        return self.period_start(now_ns) is not None


def _seconds(t: dt.time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _time(key: str, text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise ConfigError(key, f"{text!r} is not a time of day HH:MM[:SS]") from None
