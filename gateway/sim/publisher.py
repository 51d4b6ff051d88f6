"""Publishes a :class:`MessageStore` as MoldUDP64 over UDP multicast, on one or
more lines (A, B, ...), with per-line packing and fault injection.

Theory of operation
-------------------
Everything that can be decided before the first send is: each line packs
the store its own way (``max_payload``, ``max_messages``) and encodes its
packets once; :func:`due_offsets` gives each packet its send time as an
offset from the start, by the :class:`Pacing` (``max``: all at once;
``rate``: a packet is due when the messages before it have had their share
of the rate; ``recorded``: the capture's packet times, optionally sped up);
:func:`merge_schedule` interleaves the lines into one ordered list of
``(due, packet index, line)``, so packet *i* of A and B leave close
together.

One thread (the caller's, or a background one: :meth:`Publisher.start`)
walks that list.  Before each packet it waits for the due time on the
monotonic clock: it sleeps (on an event, so :meth:`Publisher.stop` wakes
it) while more than 200 us remain, and spins for the rest.  While it waits,
any line idle for longer than the heartbeat interval gets a heartbeat
(count 0, the line's next sequence).  The packet is then offered to the
line's :class:`~gateway.sim.faults.LineFaults`, which returns what to send
now (nothing, the packet, it twice, or held-back packets after it).  A line
the faults call silent sends no heartbeats.

At the end every line sends what its faults still hold, one heartbeat
(so a receiver sees a tail gap), and End of Session (count 0xFFFF) three
times a few ms apart; these closing packets are always sent, so receivers
learn where the session ends.  :meth:`Publisher.stop` ends the run without
them.

Each line has its own UDP socket with ``IP_MULTICAST_IF`` set to the
interface address (default 127.0.0.1, so tests run on loopback),
``IP_MULTICAST_TTL`` and ``IP_MULTICAST_LOOP`` on.  With ``stamps`` set,
every datagram sent is recorded in the send-time side file
(:mod:`gateway.sim.stamps`), stamped just before ``sendto``.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway import clock
from gateway.errors import ConfigError, LocalError
from gateway.sim.faults import Datagram, FaultCounters, LineFaultPlan, LineFaults
from gateway.sim.messages import Group, MessageStore
from gateway.sim.stamps import StampWriter
from protocols import moldudp64

log = logging.getLogger(__name__)

SPIN_NS = 200_000  # closer than this to a due time, spin instead of sleeping
EOS_REPEATS = 3
EOS_GAP_NS = 2_000_000
LINE_NAMES = "ABCDEFGH"


@dataclass(frozen=True)
class Pacing:
    """``max``, ``rate`` (messages per second) or ``recorded`` (x ``speed``)."""

    mode: str = "max"
    rate: float = 0.0
    speed: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in ("max", "rate", "recorded"):
            raise ConfigError("--speed", f"pacing is max, rate or recorded, not {self.mode!r}")
        if self.mode == "rate" and not self.rate > 0:
            raise ConfigError("--speed", f"a rate must be > 0 messages/s, not {self.rate}")
        if not self.speed > 0:
            raise ConfigError("--speed", f"a speed factor must be > 0, not {self.speed}")

    @classmethod
    def parse(cls, text: str) -> Pacing:
        """``max``, ``recorded``, ``recorded:FACTOR`` or a rate in messages/s."""
        mode, _, factor = text.strip().lower().partition(":")
        try:
            if mode == "max" and not factor:
                return cls("max")
            if mode == "recorded":
                return cls("recorded", speed=float(factor) if factor else 1.0)
            if not factor:
                return cls("rate", rate=float(mode))
        except ValueError:
            pass
        raise ConfigError("--speed", f"allowed: recorded, recorded:FACTOR (e.g. recorded:10), "
                          f"max, or messages per second (e.g. 50000); not {text!r}")


@dataclass(frozen=True)
class Line:
    """One line: where it sends, how it packs, what goes wrong on it."""

    group: str
    port: int
    name: str = ""
    max_payload: int = 1400
    max_messages: int | None = None
    faults: LineFaultPlan = field(default_factory=LineFaultPlan)

    def __post_init__(self) -> None:
        try:
            ipaddress.IPv4Address(self.group)
        except ValueError:
            raise ConfigError("group", f"{self.group!r} is not an IPv4 address") from None
        if not 1 <= self.port <= 0xFFFF:
            raise ConfigError("port", f"must be 1..65535, not {self.port}")


@dataclass
class LineCounters:
    packets: int = 0  # data datagrams sent, duplicates included
    messages: int = 0
    bytes: int = 0
    heartbeats: int = 0
    end_of_session: int = 0
    send_errors: int = 0
    faults: FaultCounters = field(default_factory=FaultCounters)

    def as_dict(self) -> dict[str, int]:
        own = {k: v for k, v in vars(self).items() if isinstance(v, int)}
        return own | vars(self.faults)


def due_offsets(groups: list[Group], pacing: Pacing, times_ns: list[int] | None) -> list[int]:
    """Each packet's send time in ns after the start."""
    if pacing.mode == "max":
        return [0] * len(groups)
    if pacing.mode == "rate":
        out, before = [], 0
        for _, msgs in groups:
            out.append(round(before * 1e9 / pacing.rate))
            before += len(msgs)
        return out
    if times_ns is None:
        raise ConfigError("--speed", "recorded pacing needs capture times (a pcap or pcapng "
                          "capture); use max or a rate")
    t0 = times_ns[0] if times_ns else 0
    return [round((t - t0) / pacing.speed) for t in times_ns]


def merge_schedule(dues: Sequence[Sequence[int]]) -> list[tuple[int, int, int]]:
    """All lines' packets as ``(due, packet index, line)`` in send order."""
    return sorted((d, i, li) for li, line in enumerate(dues) for i, d in enumerate(line))


class Publisher:
    """Sends ``store`` on ``lines``; :meth:`run` in this thread or :meth:`start`."""

    def __init__(self, store: MessageStore, lines: Sequence[Line], *, pacing: Pacing | None = None,
                 interface_address: str = "127.0.0.1", ttl: int = 1,
                 heartbeat_ns: int = 1_000_000_000, stamps: str | os.PathLike[str] | None = None,
                 seed: int = 1, eos_repeats: int = EOS_REPEATS, eos_gap_ns: int = EOS_GAP_NS
                 ) -> None:
        if not lines or len(lines) > len(LINE_NAMES):
            raise ConfigError("lines", f"1..{len(LINE_NAMES)} lines, not {len(lines)}")
        if heartbeat_ns <= 0:
            raise ConfigError("--heartbeat", f"must be > 0, not {heartbeat_ns} ns")
        if not 1 <= ttl <= 255:
            raise ConfigError("ttl", f"must be 1..255, not {ttl}")
        self.store = store
        self.lines = [ln if ln.name else _named(ln, LINE_NAMES[i]) for i, ln in enumerate(lines)]
        self.pacing = pacing or Pacing()
        self.interface_address = interface_address
        self.ttl, self.heartbeat_ns, self.stamps_path = ttl, heartbeat_ns, stamps
        self.eos_repeats, self.eos_gap_ns = eos_repeats, eos_gap_ns
        self._faults = [LineFaults(ln.faults, f"{seed}:{ln.name}") for ln in self.lines]
        self.counters = {ln.name: LineCounters(faults=f.counters)
                         for ln, f in zip(self.lines, self._faults, strict=True)}
        self._packets: list[list[Datagram]] = []
        dues = []
        for ln in self.lines:
            groups = store.packets(ln.max_payload, ln.max_messages)
            dues.append(due_offsets(groups, self.pacing, store.packet_times(groups)))
            self._packets.append([Datagram(s, len(m), moldudp64.encode_packet(store.session, s, m))
                                  for s, m in groups])
        self._schedule = merge_schedule(dues)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._socks: list[socket.socket] = []
        self._stamps: StampWriter | None = None
        self._last = [0] * len(self.lines)  # monotonic time of each line's last send
        self._next_seq = [store.first_seq] * len(self.lines)

    # ---- control ---------------------------------------------------------------

    def start(self) -> None:
        """Run in a background thread."""
        self._thread = threading.Thread(target=self._run_caught, name="sim-publisher",
                                        daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the background run; True if it finished.  Re-raises its error."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        if self._error is not None:
            raise self._error
        return True

    def stop(self) -> None:
        """End the run soon, without the closing packets."""
        self._stop.set()

    def _run_caught(self) -> None:
        try:
            self.run()
        except BaseException as e:
            self._error = e

    # ---- the sending loop ------------------------------------------------------

    def run(self) -> None:
        """Publish everything (blocking)."""
        self._socks = [self._open_socket() for _ in self.lines]
        try:
            if self.stamps_path is not None:
                self._stamps = StampWriter(self.stamps_path)
            t0 = clock.monotonic_ns()
            self._last = [t0] * len(self.lines)
            for f in self._faults:
                f.begin(t0)
            for due, index, li in self._schedule:
                if not self._wait_until(t0 + due):
                    return
                pkt = self._packets[li][index]
                self._next_seq[li] = pkt.first_seq + pkt.count
                for d in self._faults[li].decide(pkt, clock.monotonic_ns()):
                    self._send_data(li, d)
            self._close_session()
        finally:
            for s in self._socks:
                s.close()
            if self._stamps is not None:
                self._stamps.close()

    def _close_session(self) -> None:
        for li, f in enumerate(self._faults):
            for d in f.flush():
                self._send_data(li, d)
        for li in range(len(self.lines)):
            self._send_heartbeat(li)
        for k in range(self.eos_repeats):
            if k and self._stop.wait(self.eos_gap_ns / 1e9):
                return
            for li in range(len(self.lines)):
                nxt = self._next_seq[li]
                self._send(li, moldudp64.encode_end_of_session(self.store.session, nxt), nxt,
                           moldudp64.END_OF_SESSION_COUNT)
                self.counters[self.lines[li].name].end_of_session += 1

    def _wait_until(self, deadline: int) -> bool:
        """Heartbeat idle lines until ``deadline``; False if stopped meanwhile."""
        while True:
            now = clock.monotonic_ns()
            next_beat = self._heartbeats(now)
            if now >= deadline:
                return not self._stop.is_set()
            left = deadline - now
            if left > SPIN_NS:
                nap = min(left - SPIN_NS // 2, max(next_beat - now, 0))
                if self._stop.wait(nap / 1e9):
                    return False

    def _heartbeats(self, now: int) -> int:
        """Send heartbeats on idle lines; the time the next one falls due."""
        soonest = now + self.heartbeat_ns
        for li, f in enumerate(self._faults):
            if f.stopped(now):
                continue
            due = self._last[li] + self.heartbeat_ns
            if now >= due:
                self._send_heartbeat(li)
            else:
                soonest = min(soonest, due)
        return soonest

    # ---- sockets -----------------------------------------------------------------

    def _send_data(self, li: int, d: Datagram) -> None:
        if self._send(li, d.data, d.first_seq, d.count):
            c = self.counters[self.lines[li].name]
            c.packets += 1
            c.messages += d.count
            c.bytes += len(d.data)

    def _send_heartbeat(self, li: int) -> None:
        nxt = self._next_seq[li]
        if self._send(li, moldudp64.encode_heartbeat(self.store.session, nxt), nxt, 0):
            self.counters[self.lines[li].name].heartbeats += 1

    def _send(self, li: int, data: bytes, first_seq: int, count: int) -> bool:
        line = self.lines[li]
        send_ns = clock.realtime_ns()
        try:
            self._socks[li].sendto(data, (line.group, line.port))
        except OSError as e:
            c = self.counters[line.name]
            if not c.send_errors:
                log.warning("line %s: sendto %s:%d failed: %s", line.name, line.group,
                            line.port, e)
            c.send_errors += 1
            return False
        finally:
            self._last[li] = clock.monotonic_ns()
        if self._stamps is not None:
            self._stamps.record(li, first_seq, count, send_ns)
        return True

    def _open_socket(self) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                         socket.inet_aton(self.interface_address))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, self.ttl)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        except OSError as e:
            s.close()
            if e.errno in (errno.EADDRNOTAVAIL, errno.EINVAL, None):
                raise ConfigError("--interface-address", f"{self.interface_address!r} is not "
                                  f"an IPv4 address of this host ({e})") from None
            raise LocalError(f"multicast socket: {e}") from e
        return s


def _named(line: Line, name: str) -> Line:
    return Line(line.group, line.port, name, line.max_payload, line.max_messages, line.faults)
