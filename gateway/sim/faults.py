"""Fault injection for the simulator: what a line or a retransmission server
gets wrong, decided without I/O.

Theory of operation
-------------------
A *plan* (:class:`LineFaultPlan`, :class:`RetransmitFaultPlan`) is a frozen
description, usually parsed from a compact string such as
``drop=0.01,burst=100-199,reorder=0.001:2,dup=0.001,stop=5000+2000``.  A
*decider* (:class:`LineFaults`, :class:`RetransmitFaults`) applies a plan
with its own ``random.Random`` seeded from the plan's ``seed`` or the one it
is given, so the same plan, seed and packets always give the same faults.

For every packet offered, :meth:`LineFaults.decide` draws exactly three
numbers (drop, reorder, duplicate) whatever happens to the packet, so the
random drops of a plan stay the same when reordering or duplication is
added, and in order of precedence:

1. *stop*: the line is silent -- ``stop=SEQ+N`` from the first packet that
   carries a sequence >= SEQ for N packets, ``stop=@T+D`` from T after
   :meth:`LineFaults.begin` for D (durations take ns/us/ms/s, bare numbers
   are seconds).  A silent line sends no heartbeats either
   (:meth:`LineFaults.stopped`).
2. *burst* ``A-B``: any packet carrying a sequence in ``[A, B]`` is dropped.
3. *drop* ``P``: the packet is dropped with probability P.
4. *reorder* ``P[:K]``: with probability P the packet is held back and sent
   right after the next K packets offered (default 1), whatever becomes of
   those (unless the line is silent then: a held packet due during a stop
   is lost with it); :meth:`LineFaults.flush` hands out what is still held
   at the end.
5. *dup* ``P``: with probability P the packet is sent twice, back to back.

Without stop, burst and drop every packet is sent at least once, in
whatever order.  The retransmission server's plan delays every answer
(``delay=D``), drops a fraction (``drop=P``), or stops answering
(``stop`` at once, ``stop=N`` after N answers).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gateway.errors import ConfigError

_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|ms|s)?\s*$")


@dataclass(frozen=True)
class Datagram:
    """One MoldUDP64 packet as the fault logic sees it."""

    first_seq: int
    count: int
    data: bytes

    @property
    def last_seq(self) -> int:
        return self.first_seq + max(self.count, 1) - 1


@dataclass(frozen=True)
class SeqStop:
    """Silence from the first packet carrying a sequence >= ``seq``, for ``packets``."""

    seq: int
    packets: int


@dataclass(frozen=True)
class TimeStop:
    """Silence from ``start_ns`` after the start, for ``duration_ns``."""

    start_ns: int
    duration_ns: int


@dataclass(frozen=True)
class LineFaultPlan:
    drop: float = 0.0
    bursts: tuple[tuple[int, int], ...] = ()
    reorder: float = 0.0
    reorder_depth: int = 1
    dup: float = 0.0
    stops: tuple[SeqStop | TimeStop, ...] = ()
    seed: int | None = None

    KEYS = ("drop", "burst", "reorder", "dup", "stop", "seed")

    @property
    def loses(self) -> bool:
        """Whether the plan can lose packets (drop, burst or stop)."""
        return bool(self.drop or self.bursts or self.stops)

    @classmethod
    def parse(cls, spec: str | None, where: str = "") -> LineFaultPlan:
        """``drop=P,burst=A-B,reorder=P[:K],dup=P,stop=SEQ+N|@T+D,seed=N``
        (burst and stop may repeat); "" or "none" is no faults."""
        kw: dict[str, object] = {}
        bursts: list[tuple[int, int]] = []
        stops: list[SeqStop | TimeStop] = []
        for key, value in _items(spec, cls.KEYS, where):
            val = _need_value(key, value, where)
            if key == "burst":
                bursts.append(_burst(val, where))
            elif key == "stop":
                stops.append(_line_stop(val, where))
            elif key == "reorder":
                prob, _, depth = val.partition(":")
                kw["reorder"] = _prob(key, prob, where)
                if depth:
                    kw["reorder_depth"] = _int(key, depth, where, 1, "the depth after ':'")
            elif key == "seed":
                kw["seed"] = _int(key, val, where, 0)
            else:
                kw[key] = _prob(key, val, where)
        return cls(bursts=tuple(bursts), stops=tuple(stops), **kw)  # type: ignore[arg-type]

    def __str__(self) -> str:
        parts = [f"drop={self.drop:g}"] if self.drop else []
        parts += [f"burst={a}-{b}" for a, b in self.bursts]
        if self.reorder:
            parts.append(f"reorder={self.reorder:g}:{self.reorder_depth}")
        parts += [f"dup={self.dup:g}"] if self.dup else []
        for s in self.stops:
            parts.append(f"stop={s.seq}+{s.packets}" if isinstance(s, SeqStop)
                         else f"stop=@{s.start_ns}ns+{s.duration_ns}ns")
        parts += [f"seed={self.seed}"] if self.seed is not None else []
        return ",".join(parts) or "none"


@dataclass(frozen=True)
class RetransmitFaultPlan:
    delay_ns: int = 0
    drop: float = 0.0
    stop_after: int | None = None  # answers given before it stops; 0: never answers
    seed: int | None = None

    KEYS = ("delay", "drop", "stop", "seed")

    @classmethod
    def parse(cls, spec: str | None, where: str = "") -> RetransmitFaultPlan:
        """``delay=D,drop=P,stop[=N],seed=N``; "" or "none" is no faults."""
        kw: dict[str, object] = {}
        for key, value in _items(spec, cls.KEYS, where):
            if key == "stop":
                kw["stop_after"] = 0 if value is None else _int(key, value, where, 0)
                continue
            val = _need_value(key, value, where)
            if key == "delay":
                kw["delay_ns"] = _duration(key, val, where)
            elif key == "drop":
                kw["drop"] = _prob(key, val, where)
            else:
                kw["seed"] = _int(key, val, where, 0)
        return cls(**kw)  # type: ignore[arg-type]

    def __str__(self) -> str:
        parts = [f"delay={self.delay_ns}ns"] if self.delay_ns else []
        parts += [f"drop={self.drop:g}"] if self.drop else []
        if self.stop_after is not None:
            parts.append(f"stop={self.stop_after}")
        parts += [f"seed={self.seed}"] if self.seed is not None else []
        return ",".join(parts) or "none"


@dataclass
class FaultCounters:
    dropped: int = 0  # packets not sent (stop, burst, drop)
    dropped_messages: int = 0
    stopped: int = 0  # of those, withheld by a stop
    duplicated: int = 0
    reordered: int = 0


@dataclass
class _Held:
    packet: Datagram
    dup: bool
    remaining: int


@dataclass
class LineFaults:
    """Applies a :class:`LineFaultPlan` to one line's packets, in order."""

    plan: LineFaultPlan
    seed: int | str = 0
    counters: FaultCounters = field(default_factory=FaultCounters)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.plan.seed if self.plan.seed is not None else self.seed)
        self._held: list[_Held] = []
        self._t0: int | None = None
        self._seq_stops = [s for s in self.plan.stops if isinstance(s, SeqStop)]
        self._time_stops = [s for s in self.plan.stops if isinstance(s, TimeStop)]
        self._silent_for = 0  # packets the running seq stop still withholds

    def begin(self, now_ns: int) -> None:
        """Where time stops count from (else the first :meth:`decide`)."""
        self._t0 = now_ns

    def stopped(self, now_ns: int) -> bool:
        """Whether the line is silent now (no data, no heartbeats)."""
        if self._silent_for:
            return True
        t = now_ns - (now_ns if self._t0 is None else self._t0)
        return any(s.start_ns <= t < s.start_ns + s.duration_ns for s in self._time_stops)

    def decide(self, packet: Datagram, now_ns: int) -> list[Datagram]:
        """The packets to send now, in order, when ``packet`` is offered."""
        if self._t0 is None:
            self._t0 = now_ns
        r_drop, r_reorder, r_dup = (self._rng.random() for _ in range(3))
        due = self._tick()
        plan, c, out = self.plan, self.counters, []
        for s in [s for s in self._seq_stops if packet.last_seq >= s.seq]:
            self._seq_stops.remove(s)
            self._silent_for = max(self._silent_for, s.packets)
        if self.stopped(now_ns):
            self._silent_for = max(self._silent_for - 1, 0)
            for p in [packet] + [h.packet for h in due]:
                c.stopped += 1
                self._lose(p)
            return []
        in_burst = any(a <= packet.last_seq and packet.first_seq <= b for a, b in plan.bursts)
        if in_burst or r_drop < plan.drop:
            self._lose(packet)
        elif r_reorder < plan.reorder:
            c.reordered += 1
            self._held.append(_Held(packet, r_dup < plan.dup, plan.reorder_depth))
        else:
            out += self._emit(packet, r_dup < plan.dup)
        for h in due:
            out += self._emit(h.packet, h.dup)
        return out

    def flush(self) -> list[Datagram]:
        """What is still held back, at the end of the data."""
        out: list[Datagram] = []
        for h in self._held:
            out += self._emit(h.packet, h.dup)
        self._held.clear()
        return out

    def _tick(self) -> list[_Held]:
        due = []
        for h in self._held:
            h.remaining -= 1
            if h.remaining <= 0:
                due.append(h)
        self._held = [h for h in self._held if h.remaining > 0]
        return due

    def _lose(self, packet: Datagram) -> None:
        self.counters.dropped += 1
        self.counters.dropped_messages += packet.count

    def _emit(self, packet: Datagram, dup: bool) -> list[Datagram]:
        if dup:
            self.counters.duplicated += 1
            return [packet, packet]
        return [packet]


@dataclass
class RetransmitFaults:
    """Applies a :class:`RetransmitFaultPlan` to answers, one call per answer."""

    plan: RetransmitFaultPlan
    seed: int | str = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.plan.seed if self.plan.seed is not None else self.seed)
        self._answered = 0

    def decide(self, now_ns: int) -> int | None:
        """When to send the answer to a request received at ``now_ns``, or
        None to leave it unanswered (dropped, or the server has stopped)."""
        r = self._rng.random()
        stop = self.plan.stop_after
        if (stop is not None and self._answered >= stop) or r < self.plan.drop:
            return None
        self._answered += 1
        return now_ns + self.plan.delay_ns


# ---- parsing ------------------------------------------------------------------


def _fail(key: str, problem: str, where: str) -> ConfigError:
    return ConfigError(key, problem + (f" (in {where})" if where else ""))


def _items(spec: str | None, keys: tuple[str, ...], where: str
           ) -> Iterator[tuple[str, str | None]]:
    if spec is None or spec.strip().lower() in ("", "none"):
        return
    once: set[str] = set()
    for item in spec.split(","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if key not in keys:
            raise _fail(key or item, f"unknown fault {key!r}; allowed: {', '.join(keys)}", where)
        if key in once and key not in ("burst", "stop"):
            raise _fail(key, "given twice", where)
        once.add(key)
        yield key, value.strip() if eq else None


def _need_value(key: str, value: str | None, where: str) -> str:
    if not value:
        raise _fail(key, f"needs a value ({key}=...)", where)
    return value


def _prob(key: str, text: str, where: str) -> float:
    try:
        p = float(text)
    except ValueError:
        p = -1.0
    if not 0.0 <= p <= 1.0:
        raise _fail(key, f"must be a probability 0..1, not {text!r}", where)
    return p


def _int(key: str, text: str, where: str, least: int, what: str = "") -> int:
    try:
        n = int(text)
    except ValueError:
        n = least - 1
    if n < least:
        raise _fail(key, f"{what or 'value'} must be an integer >= {least}, not {text!r}",
                    where)
    return n


def _duration(key: str, text: str, where: str) -> int:
    m = _DURATION.match(text)
    if not m:
        raise _fail(key, f"must be a duration such as 250ms, 1.5s, 800us, 1000ns or a "
                    f"number of seconds, not {text!r}", where)
    return round(float(m.group(1)) * _UNITS[m.group(2) or "s"])


def _pair(key: str, text: str, sep: str, where: str, form: str,
          conv: Callable[[str], int]) -> tuple[int, int]:
    a, found, b = text.partition(sep)
    try:
        if found:
            return conv(a), conv(b)
    except (ValueError, ConfigError):
        pass
    raise _fail(key, f"must be {form}, not {text!r}", where)


def _burst(text: str, where: str) -> tuple[int, int]:
    a, b = _pair("burst", text, "-", where, "FIRST-LAST (sequence numbers)", int)
    if not 1 <= a <= b:
        raise _fail("burst", f"needs 1 <= FIRST <= LAST, not {text!r}", where)
    return a, b


def _line_stop(text: str, where: str) -> SeqStop | TimeStop:
    form = "SEQ+PACKETS (from sequence SEQ for PACKETS packets) or @TIME+DURATION"
    if text.startswith("@"):
        start, length = _pair("stop", text[1:], "+", where, form,
                              lambda s: _duration("stop", s, where))
        return TimeStop(start, length)
    seq, packets = _pair("stop", text, "+", where, form, int)
    if seq < 1 or packets < 1:
        raise _fail("stop", f"needs SEQ >= 1 and PACKETS >= 1, not {text!r}", where)
    return SeqStop(seq, packets)
