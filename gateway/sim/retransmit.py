"""A MoldUDP64 retransmission (re-request) server over UDP.

Theory of operation
-------------------
A receiver that sees a gap sends the server a request: the 20-byte
MoldUDP64 header carrying the session, the first sequence wanted and the
number of messages wanted.  The server answers, to the address the request
came from, with ordinary MoldUDP64 packets carrying
``[seq, seq + min(count, max_per_request))`` -- or the part of it the store
has -- packed into packets of at most ``max_payload`` bytes.

:class:`RetransmitCore` is the whole policy, without I/O:
``handle(request, now_ns, peer)`` returns the packets to send at once, and
answers the fault plan delays wait in a queue until :meth:`RetransmitCore.due`
hands them out.  Every request is counted under one outcome: answered,
``bad_requests`` (not 20 bytes, count 0 or 0xFFFF, sequence 0: ignored,
never a crash), ``other_session``, ``out_of_range`` (nothing of it exists),
``dropped_answers`` (the fault plan dropped it, or stopped the server);
``capped`` counts requests that asked for more than ``max_per_request``
and ``short_answers`` those answered with less than asked because the store
ends.  :class:`RetransmitServer` is the thin shell: one UDP socket, one
thread that waits for a request or the next delayed answer, whichever comes
first.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any

from gateway import clock
from gateway.errors import ConfigError, LocalError
from gateway.sim.faults import RetransmitFaultPlan, RetransmitFaults
from gateway.sim.messages import MessageStore
from protocols import moldudp64

log = logging.getLogger(__name__)

MAX_PER_REQUEST = moldudp64.END_OF_SESSION_COUNT - 1
_POLL_S = 0.05  # how often the server thread looks at its stop flag


@dataclass
class RetransmitCounters:
    requests: int = 0
    answered: int = 0  # requests answered (or queued to be, when delayed)
    answered_messages: int = 0
    answer_packets: int = 0
    delayed_answers: int = 0
    dropped_answers: int = 0
    bad_requests: int = 0
    other_session: int = 0
    out_of_range: int = 0
    capped: int = 0
    short_answers: int = 0
    send_errors: int = 0


class RetransmitCore:
    """The server's decisions: request bytes and ``now_ns`` in, packets out."""

    def __init__(self, store: MessageStore, *, max_per_request: int = MAX_PER_REQUEST,
                 max_payload: int = 1400, faults: RetransmitFaultPlan | None = None,
                 seed: int | str = 1) -> None:
        if not 1 <= max_per_request <= MAX_PER_REQUEST:
            raise ConfigError("--max-per-request",
                              f"must be 1..{MAX_PER_REQUEST}, not {max_per_request}")
        smallest = moldudp64.HEADER_SIZE + moldudp64.BLOCK_LENGTH_SIZE + 1
        if not smallest <= max_payload <= 65507:
            raise ConfigError("--max-payload", f"must be {smallest}..65507, not {max_payload}")
        self.store = store
        self.max_per_request = max_per_request
        self.max_payload = max_payload
        self.faults = RetransmitFaults(faults or RetransmitFaultPlan(), seed)
        self.counters = RetransmitCounters()
        self._queue: list[tuple[int, int, object, list[bytes]]] = []
        self._order = itertools.count()

    def handle(self, request: bytes, now_ns: int, peer: object = None) -> list[bytes]:
        """Packets to send ``peer`` now for ``request`` (delayed ones wait for :meth:`due`)."""
        c = self.counters
        c.requests += 1
        if len(request) != moldudp64.HEADER_SIZE:
            return self._bad(peer, f"{len(request)} bytes, not {moldudp64.HEADER_SIZE}")
        hdr = moldudp64.HEADER.decode(request)  # a request is a header alone
        session, seq, want = hdr["session"], hdr["sequence_number"], hdr["message_count"]
        if want in (moldudp64.HEARTBEAT_COUNT, moldudp64.END_OF_SESSION_COUNT):
            return self._bad(peer, f"count {want} asks for nothing")
        if seq == 0:
            return self._bad(peer, "sequence 0 (sequences start at 1)")
        if session != self.store.session:
            c.other_session += 1
            log.info("re-request from %s for session %r; serving %r", peer, session,
                     self.store.session)
            return []
        if want > self.max_per_request:
            c.capped += 1
            want = self.max_per_request
        first, msgs = self.store.get(seq, want)
        if not msgs:
            c.out_of_range += 1
            log.info("re-request from %s for %d+%d: the store holds %d..%d", peer, seq, want,
                     self.store.first_seq, self.store.next_seq - 1)
            return []
        if len(msgs) < want:
            c.short_answers += 1
        when = self.faults.decide(now_ns)
        if when is None:
            c.dropped_answers += 1
            return []
        packets = moldudp64.pack_messages(self.store.session, first, msgs, self.max_payload)
        c.answered += 1
        c.answered_messages += len(msgs)
        c.answer_packets += len(packets)
        if when <= now_ns:
            return packets
        c.delayed_answers += 1
        heapq.heappush(self._queue, (when, next(self._order), peer, packets))
        return []

    def due(self, now_ns: int) -> list[tuple[object, list[bytes]]]:
        """Delayed answers whose time has come, oldest first, with their peer."""
        out = []
        while self._queue and self._queue[0][0] <= now_ns:
            _, _, peer, packets = heapq.heappop(self._queue)
            out.append((peer, packets))
        return out

    def next_due_ns(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    def _bad(self, peer: object, why: str) -> list[bytes]:
        self.counters.bad_requests += 1
        log.info("malformed re-request from %s: %s", peer, why)
        return []


class RetransmitServer:
    """A UDP socket bound to ``bind`` answering re-requests from a thread."""

    def __init__(self, store: MessageStore, bind: tuple[str, int] = ("127.0.0.1", 0), *,
                 max_per_request: int = MAX_PER_REQUEST, max_payload: int = 1400,
                 faults: RetransmitFaultPlan | None = None, seed: int | str = 1) -> None:
        self.core = RetransmitCore(store, max_per_request=max_per_request,
                                   max_payload=max_payload, faults=faults, seed=seed)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind(bind)
        except OSError as e:
            self._sock.close()
            raise ConfigError("--retransmit", f"cannot bind {bind[0]}:{bind[1]}: "
                              f"{e.strerror or e}") from None
        host, port = self._sock.getsockname()
        self._address = (str(host), int(port))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where requests go (the port the system chose, if bound to port 0)."""
        return self._address

    @property
    def counters(self) -> RetransmitCounters:
        return self.core.counters

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="sim-retransmit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering, wait for the thread and close the socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sock.close()
        if self._error is not None:
            raise LocalError(f"retransmission server failed: {self._error}") from self._error

    def __enter__(self) -> RetransmitServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                now = clock.monotonic_ns()
                for peer, packets in self.core.due(now):
                    self._answer(peer, packets)
                nxt = self.core.next_due_ns()
                wait = _POLL_S if nxt is None else min(_POLL_S, max(nxt - now, 0) / 1e9)
                self._sock.settimeout(max(wait, 1e-4))
                try:
                    request, peer = self._sock.recvfrom(65536)
                except TimeoutError:
                    continue
                except OSError as e:  # e.g. an ICMP error reported on the socket
                    log.info("retransmission server: recvfrom: %s", e)
                    continue
                self._answer(peer, self.core.handle(request, clock.monotonic_ns(), peer))
        except BaseException as e:
            self._error = e

    def _answer(self, peer: Any, packets: list[bytes]) -> None:
        for p in packets:
            try:
                self._sock.sendto(p, peer)
            except OSError as e:
                if not self.core.counters.send_errors:
                    log.warning("retransmission server: sendto %s: %s", peer, e)
                self.core.counters.send_errors += 1
