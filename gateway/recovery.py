"""Gap recovery policy for a MoldUDP64 feed: what to re-request, when, and
when to give up.  Sans-IO: missing ranges and ``now_ns`` in, request
packets and give-up decisions out; the feed loop owns the socket.

Theory of operation
-------------------
The C sequencer (hold mode) reports what is missing in front of the
messages it holds.  A range younger than ``grace_ns`` is left alone: the
other line usually fills it within microseconds, and asking the
retransmission server for what B is about to deliver wastes its capacity.
After that, each range is cut into requests of at most
``max_per_request`` messages (MoldUDP64's request count is 16 bits, and
servers cap it lower).  A request unanswered after ``timeout_ns`` is sent
again, up to ``retries`` times, with every send drawn from one token bucket
(``rate`` per second, ``burst`` at once) so that a large gap cannot flood
the server.  Answers arrive as ordinary MoldUDP64 packets through the same
sequencer, in any order and any number of times: a range that is no longer
missing is simply forgotten.

A range is given up -- its messages declared lost, the books marked stale,
the held messages behind it applied -- when its requests ran out of
retries, when the gap has been open longer than ``give_up_ns``, or at
once (after the grace) when there is no server to ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.errors import ConfigError
from gateway.native import Missing
from protocols import moldudp64 as mold


@dataclass(frozen=True)
class RecoveryConfig:
    grace_ns: int = 2_000_000           # let line B fill the gap first
    max_per_request: int = 1000         # messages per re-request
    timeout_ns: int = 100_000_000       # resend an unanswered request after this
    retries: int = 5                    # sends per request before giving up
    rate: float = 1000.0                # requests per second, sustained
    burst: int = 50                     # requests at once
    give_up_ns: int = 5_000_000_000     # a gap open longer than this is lost
    has_server: bool = True

    def __post_init__(self) -> None:
        checks = {
            "grace_ns": self.grace_ns >= 0,
            "max_per_request": 1 <= self.max_per_request <= 0xFFFE,
            "timeout_ns": self.timeout_ns > 0,
            "retries": self.retries >= 1,
            "rate": self.rate > 0,
            "burst": self.burst >= 1,
            "give_up_ns": self.give_up_ns > 0,
        }
        for key, ok in checks.items():
            if not ok:
                allowed = "1-65534" if key == "max_per_request" else "a positive number"
                raise ConfigError(f"recovery.{key}", f"{getattr(self, key)!r}; allowed: {allowed}")


@dataclass
class _Request:
    count: int
    sent_ns: int
    tries: int


@dataclass
class RecoveryStats:
    requests: int = 0          # request packets sent (retries included)
    retries: int = 0
    rate_limited: int = 0      # sends deferred by the token bucket
    given_up: int = 0          # ranges given up
    given_up_messages: int = 0


@dataclass
class Decision:
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (session, packet)
    give_up: list[tuple[int, int]] = field(default_factory=list)     # (session, upto)


class Recovery:
    """One feed's recovery state; ``plan`` is called after every burst
    that leaves something missing (and on idle ticks)."""

    def __init__(self, config: RecoveryConfig, start_ns: int = 0) -> None:
        self.cfg = config
        self.stats = RecoveryStats()
        self._out: dict[tuple[int, int], _Request] = {}  # (session, first) -> request
        self._tokens = float(config.burst)
        self._refilled = start_ns

    def _take_token(self, now_ns: int) -> bool:
        gained = (now_ns - self._refilled) * self.cfg.rate / 1e9
        if gained > 0:
            self._tokens = min(float(self.cfg.burst), self._tokens + gained)
            self._refilled = now_ns
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.stats.rate_limited += 1
        return False

    def plan(self, missing: list[Missing], names: list[str], now_ns: int) -> Decision:
        d = Decision()
        live: set[tuple[int, int]] = set()
        for m in missing:
            if now_ns - m.since_ns < self.cfg.grace_ns:
                continue
            if not self.cfg.has_server or now_ns - m.since_ns >= self.cfg.give_up_ns:
                self._give_up(d, m.session, m.first + m.count, m.count)
                continue
            for first in range(m.first, m.first + m.count, self.cfg.max_per_request):
                count = min(self.cfg.max_per_request, m.first + m.count - first)
                key = (m.session, first)
                live.add(key)
                req = self._out.get(key)
                if req is not None and now_ns - req.sent_ns < self.cfg.timeout_ns:
                    continue
                if req is not None and req.tries >= self.cfg.retries:
                    self._give_up(d, m.session, first + count, count)
                    continue
                if not self._take_token(now_ns):
                    continue
                if req is None:
                    req = self._out[key] = _Request(count, now_ns, 0)
                else:
                    self.stats.retries += 1
                req.count, req.sent_ns, req.tries = count, now_ns, req.tries + 1
                d.requests.append((m.session, mold.encode_request(names[m.session], first, count)))
                self.stats.requests += 1
        # Ranges filled (by any line or answer) are forgotten.
        for key in [k for k in self._out if k not in live]:
            del self._out[key]
        return d

    def _give_up(self, d: Decision, session: int, upto: int, count: int) -> None:
        d.give_up.append((session, upto))
        self.stats.given_up += 1
        self.stats.given_up_messages += count

    @property
    def outstanding(self) -> int:
        return len(self._out)
