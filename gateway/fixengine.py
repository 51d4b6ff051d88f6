"""The FIX engine: the I/O shell around ``protocols.fixsession``.

One thread, one ``selectors`` loop, any number of sessions.  The shell owns
the sockets, the clock and the timers; the sessions own the protocol.  Per
turn of the loop it reads what is ready, feeds it to the session (framed
by the C scanner), hands the session's events to the application, writes
the session's outbox, and runs the timers that are due.

Acceptor sessions share a listening socket: a new connection belongs to
no session until its first message frames, and then to the session whose
(BeginString, SenderCompID, TargetCompID) it names, seen from our side.
An unknown session, a garbled first message, or a session that already
has a connection (a duplicate identity) closes the new connection and
touches nothing else.

Initiator sessions connect, and after a lost connection or a failed
attempt reconnect after the next delay of their back-off list (reset once
a Logon succeeds).  A ``Schedule`` keeps a session to its hours: outside
them initiators stay away and logged-on sessions log out; a new session
period starts with sequence numbers reset when the schedule says so.
"""

from __future__ import annotations

import errno
import logging
import os
import selectors
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.clock import realtime_ns
from gateway.fixscan import DictCheck, FixScanner
from gateway.fixschedule import Schedule
from protocols.fixsession import (
    Application,
    Disconnect,
    Event,
    FixSession,
    LoggedOn,
    LoggedOut,
    Message,
    SessionConfig,
    Validator,
)
from protocols.fixstore import SessionStore

log = logging.getLogger("gateway.fix")

CONNECT_TIMEOUT_NS = 5_000_000_000

Fields = list[tuple[int, bytes]]


class CFramer:
    """The session's framer on the C scanner (``gw_fix_scan``): one call
    frames and indexes everything read, and with a dictionary runs its
    straight path in C over the same index (``gw_fix_dict_check``); values
    are sliced from the bytes by the offsets it returns."""

    _checks: dict[int, tuple[object, DictCheck]] = {}

    def __init__(self, dictionary: Validator | None = None) -> None:
        self._scanner = FixScanner(max_messages=1024, max_fields=1 << 15)
        self._check = None
        if dictionary is not None and hasattr(dictionary, "straight_tables"):
            self._check = DictCheck(dictionary)

    def scan(self, data: bytes) -> tuple[list[tuple[str, bytes, Fields, bool]], int]:
        return self._scanner.frames(data, self._check)


class App(Protocol):
    """What an application gets from the engine."""

    def on_logon(self, s: SessionHandle) -> None: ...

    def on_logout(self, s: SessionHandle, reason: str) -> None: ...

    def on_message(self, s: SessionHandle, msg: Message) -> None: ...

    def on_event(self, s: SessionHandle, event: Event) -> None: ...


@dataclass
class SessionHandle:
    """One configured session: its protocol state, store, application and
    (when connected) socket."""
    session: FixSession
    app: App
    engine: Engine
    connect_to: tuple[str, int] | None = None          # initiator
    backoff_s: Sequence[float] = (1.0, 2.0, 5.0, 10.0, 30.0)
    schedule: Schedule | None = None
    sock: socket.socket | None = None
    outbuf: bytearray = field(default_factory=bytearray)
    reconnect_at_ns: int = 0
    attempts: int = 0
    connecting: socket.socket | None = None   # a connect in flight (initiator)
    connect_deadline_ns: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        c = self.session.config
        return (c.begin_string, c.sender_comp_id, c.target_comp_id)

    def send(self, msg_type: str | bytes, body: Sequence[tuple[int, bytes | str | int]],
             header: Sequence[tuple[int, bytes | str | int]] = ()) -> int:
        """Send an application message now; returns its MsgSeqNum."""
        seq = self.session.send(msg_type, body, self.engine.now(), header)
        self.engine.flush(self)
        return seq

    def send_encoded(self, msgs: Sequence[tuple[int, bytes]]) -> None:
        self.session.send_encoded(msgs, self.engine.now())
        self.engine.flush(self)

    def logout(self, text: str = "") -> None:
        self.session.logout(self.engine.now(), text)
        self.engine.pump(self)


class _Pending:
    """An accepted connection that has not named its session yet."""

    def __init__(self, sock: socket.socket, now_ns: int) -> None:
        self.sock = sock
        self.buf = b""
        self.since_ns = now_ns


class Engine:
    def __init__(self, clock: Callable[[], int] = realtime_ns,
                 pending_timeout_s: float = 10.0, spin: bool = False) -> None:
        self.now = clock
        self.spin = spin
        self._due_ns: int | None = None   # the next timer; None: look now
        self._tick_ns = 0                 # the next once-a-second check
        self.sel = selectors.DefaultSelector()
        self.handles: dict[tuple[str, str, str], SessionHandle] = {}
        self._pending: dict[int, _Pending] = {}
        self._listeners: list[socket.socket] = []
        self._pending_timeout_ns = int(pending_timeout_s * 1e9)
        self._stopped = False
        self._pending_framer = CFramer()

    # -- configuration -------------------------------------------------------------

    def add_session(self, config: SessionConfig, store: SessionStore, app: App, *,
                    connect_to: tuple[str, int] | None = None,
                    dictionary: Validator | None = None,
                    backoff_s: Sequence[float] = (1.0, 2.0, 5.0, 10.0, 30.0),
                    schedule: Schedule | None = None) -> SessionHandle:
        session = FixSession(config, store, initiator=connect_to is not None,
                             dictionary=dictionary, framer=CFramer(dictionary))
        h = SessionHandle(session, app, self, connect_to, tuple(backoff_s), schedule)
        if h.key in self.handles:
            raise ValueError(f"session {h.key} configured twice")
        self.handles[h.key] = h
        self._due_ns = None  # an initiator may be due at once
        return h

    def listen(self, host: str, port: int) -> int:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, port))
        ls.listen(64)
        ls.setblocking(False)
        self.sel.register(ls, selectors.EVENT_READ, ("listen", ls))
        self._listeners.append(ls)
        return int(ls.getsockname()[1])

    # -- the loop -------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopped = True

    def run(self, until: Callable[[], bool] | None = None, max_wait_s: float = 0.05) -> None:
        """Turn the loop until ``until()`` or ``stop()``.  With ``spin``
        (set at construction) it never sleeps in the kernel: lower and
        steadier latency for a core of its own."""
        self._stopped = False
        wait = 0.0 if self.spin else max_wait_s
        while not self._stopped and not (until and until()):
            self.run_once(wait)

    def run_once(self, max_wait_s: float = 0.05) -> None:
        now = self.now()
        due = self._due_ns
        wait = max_wait_s if due is None else min(max_wait_s, max(0.0, (due - now) / 1e9))
        for key, mask in self.sel.select(wait):
            kind, obj = key.data
            if kind == "listen":
                self._accept(obj)
            elif kind == "pending":
                self._read_pending(obj)
            elif kind == "connecting":
                self._connect_done(obj)
            elif mask & selectors.EVENT_READ:
                self._read(obj)
            if kind == "session" and mask & selectors.EVENT_WRITE and obj.sock is not None:
                self._write(obj)
        now = self.now()
        if due is None or now >= due or now >= self._tick_ns:
            self._timers(now)

    def _timers(self, now: int) -> None:
        """Timers that are due; schedules and pending connections once a
        second.  Leaves the next time anything is due in ``_due_ns``."""
        tick = now >= self._tick_ns
        if tick:
            self._tick_ns = now + 1_000_000_000
        for h in list(self.handles.values()):
            if h.sock is not None:
                if tick and h.schedule is not None and h.session.logged_on \
                        and not h.schedule.is_open(now):
                    h.session.logout(now, "end of session hours")
                    self.pump(h)
                d = h.session.next_deadline_ns()
                if d is not None and d <= now:
                    h.session.timer(now)
                    self.pump(h)
            elif h.connecting is not None:
                if now >= h.connect_deadline_ns:
                    self.sel.unregister(h.connecting)
                    h.connecting.close()
                    h.connecting = None
                    self._connect_failed(h, now, "timed out")
            elif h.connect_to is not None and now >= h.reconnect_at_ns and (
                    h.schedule is None or h.schedule.is_open(now)):
                self._connect(h, now)
        if tick:
            for fd, p in list(self._pending.items()):
                if now - p.since_ns > self._pending_timeout_ns:
                    self._drop_pending(fd, "no message within the logon timeout")
        self._due_ns = self._next_due()

    def _next_due(self) -> int | None:
        due = self._tick_ns
        for h in self.handles.values():
            if h.sock is not None:
                d = h.session.next_deadline_ns()
            elif h.connecting is not None:
                d = h.connect_deadline_ns
            elif h.connect_to is not None:
                d = h.reconnect_at_ns
            else:
                continue
            if d is not None and d < due:
                due = d
        return due

    # -- connections ------------------------------------------------------------------------

    def _accept(self, ls: socket.socket) -> None:
        try:
            sock, _ = ls.accept()
        except OSError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        p = _Pending(sock, self.now())
        self._pending[sock.fileno()] = p
        self.sel.register(sock, selectors.EVENT_READ, ("pending", p))

    def _read_pending(self, p: _Pending) -> None:
        fd = p.sock.fileno()
        try:
            data = p.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop_pending(fd, "closed before a Logon")
            return
        p.buf += data
        frames, _ = self._pending_framer.scan(p.buf)
        if not frames:
            return
        err, _, fields, _ = frames[0]
        h = self._route(fields) if not err else None
        if h is None or h.sock is not None:
            why = ("garbled first message" if err else "unknown session" if h is None
                   else "session already connected")
            self._drop_pending(fd, why)
            return
        del self._pending[fd]
        self.sel.unregister(p.sock)
        self._attach(h, p.sock)
        h.session.receive_data(p.buf, self.now())
        self.pump(h)

    def _route(self, fields: Fields) -> SessionHandle | None:
        tags = dict(fields[:12])
        key = (tags.get(8, b"").decode("latin-1"), tags.get(56, b"").decode("latin-1"),
               tags.get(49, b"").decode("latin-1"))
        h = self.handles.get(key)
        if h is None or h.connect_to is not None:
            return None
        if h.schedule is not None and not h.schedule.is_open(self.now()):
            return None
        return h

    def _drop_pending(self, fd: int, why: str) -> None:
        p = self._pending.pop(fd)
        log.info("closing an unidentified connection: %s", why)
        self.sel.unregister(p.sock)
        p.sock.close()

    def _connect(self, h: SessionHandle, now: int) -> None:
        """Start a non-blocking connect: an unreachable venue must not
        stall the other sessions while the SYNs time out."""
        assert h.connect_to is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        rc = sock.connect_ex(h.connect_to)
        if rc not in (0, errno.EINPROGRESS):
            sock.close()
            self._connect_failed(h, now, os.strerror(rc))
            return
        h.connecting = sock
        h.connect_deadline_ns = now + CONNECT_TIMEOUT_NS
        self.sel.register(sock, selectors.EVENT_WRITE, ("connecting", h))

    def _connect_done(self, h: SessionHandle) -> None:
        sock, h.connecting = h.connecting, None
        if sock is None:
            return
        self.sel.unregister(sock)
        now = self.now()
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            sock.close()
            self._connect_failed(h, now, os.strerror(err))
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if h.schedule is not None:
            self._new_period(h, now)
        self._attach(h, sock)
        self.pump(h)

    def _connect_failed(self, h: SessionHandle, now: int, why: str) -> None:
        delay = h.backoff_s[min(h.attempts, len(h.backoff_s) - 1)] if h.backoff_s else 1.0
        h.attempts += 1
        h.reconnect_at_ns = now + int(delay * 1e9)
        log.info("%s: connect to %s failed (%s); next try in %.1f s", h.key, h.connect_to,
                 why, delay)

    def _new_period(self, h: SessionHandle, now: int) -> None:
        assert h.schedule is not None
        start = h.schedule.period_start(now)
        if h.schedule.daily_reset and start is not None and \
                h.session.store.creation_time_ns < start:
            log.info("%s: new session period: sequence numbers reset", h.key)
            h.session.store.reset(now)

    def _attach(self, h: SessionHandle, sock: socket.socket) -> None:
        h.sock = sock
        h.outbuf.clear()
        self.sel.register(sock, selectors.EVENT_READ, ("session", h))
        if h.schedule is not None and h.connect_to is None:
            self._new_period(h, self.now())
        h.session.connection_made(self.now())

    def _read(self, h: SessionHandle) -> None:
        if h.sock is None:
            return
        try:
            data = h.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(h, "connection closed by the peer")
            return
        h.session.receive_data(data, self.now())
        self.pump(h)

    def pump(self, h: SessionHandle) -> None:
        """Hand the session's events to the application, write its outbox,
        and close if it asked to."""
        while True:
            events = h.session.events()
            if not events:
                break
            for ev in events:
                self._dispatch(h, ev)
        self.flush(h)
        d = h.session.next_deadline_ns() if h.sock is not None else h.reconnect_at_ns
        if d is not None and (self._due_ns is None or d < self._due_ns):
            self._due_ns = d

    def _dispatch(self, h: SessionHandle, ev: Event) -> None:
        if isinstance(ev, Disconnect):
            self.flush(h)
            self._close(h, ev.reason)
            return
        try:
            if isinstance(ev, Application):
                h.app.on_message(h, ev.msg)
            elif isinstance(ev, LoggedOn):
                h.attempts = 0
                h.app.on_logon(h)
            else:
                if isinstance(ev, LoggedOut):
                    log.info("%s: peer logged out: %s", h.key, ev.text)
                h.app.on_event(h, ev)
        except Exception as e:
            # The application failed on one message: that message is refused
            # (BusinessMessageReject, so the peer knows) and counted; the
            # session and every other session go on.
            h.session.stats["app_errors"] = h.session.stats.get("app_errors", 0) + 1
            log.exception("%s: the application failed on %s", h.key, type(ev).__name__)
            if isinstance(ev, Application) and h.session.logged_on:
                h.session.business_reject(ev.msg, self.now(), reason=0,
                                          text=f"application error: {type(e).__name__}")

    def flush(self, h: SessionHandle) -> None:
        data = h.session.data_to_send()
        if h.sock is None:
            return
        if data:
            h.outbuf += data
        if h.outbuf:
            self._write(h)

    def _write(self, h: SessionHandle) -> None:
        assert h.sock is not None
        try:
            n = h.sock.send(h.outbuf)
            del h.outbuf[:n]
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno not in (errno.EAGAIN,):
                self._close(h, f"send failed: {e}")
                return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if h.outbuf else 0)
        self.sel.modify(h.sock, want, ("session", h))

    def _close(self, h: SessionHandle, reason: str) -> None:
        sock, h.sock = h.sock, None
        if sock is None:
            return
        if h.outbuf:  # what the session queued before it asked to close
            try:
                sock.setblocking(True)
                sock.settimeout(1.0)
                sock.sendall(h.outbuf)
            except OSError:
                pass
            h.outbuf.clear()
        self.sel.unregister(sock)
        sock.close()
        now = self.now()
        h.session.connection_lost(now)
        log.info("%s: disconnected: %s", h.key, reason)
        if h.connect_to is not None:
            delay = h.backoff_s[min(h.attempts, len(h.backoff_s) - 1)] if h.backoff_s else 1.0
            h.attempts += 1
            h.reconnect_at_ns = now + int(delay * 1e9)
        h.app.on_logout(h, reason)

    def close(self) -> None:
        for h in self.handles.values():
            if h.connecting is not None:
                self.sel.unregister(h.connecting)
                h.connecting.close()
                h.connecting = None
            if h.sock is not None:
                self._close(h, "engine closed")
            h.session.store.flush()
        for fd in list(self._pending):
            self._drop_pending(fd, "engine closed")
        for ls in self._listeners:
            self.sel.unregister(ls)
            ls.close()
        self._listeners.clear()
