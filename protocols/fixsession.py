"""The FIX 4.2/4.4 session layer, sans-IO: bytes and ``now_ns`` in, events
and bytes out.

Theory of operation
-------------------
A ``FixSession`` is one session (BeginString, SenderCompID, TargetCompID)
over a series of connections.  The shell (``gateway/fixengine.py``) owns the
socket and the clock: it calls ``connection_made``, feeds what it reads to
``receive_data``, calls ``timer`` when ``next_deadline_ns`` comes, writes out
``data_to_send()``, and hands the events from ``events()`` to the
application.  A ``Disconnect`` event means: write what is pending, then
close.

Sequence numbers and sent messages live in the injected store
(``protocols/fixstore.py``): every outgoing message is saved there *before*
its bytes reach the outbox, so whatever the peer may have seen can be
resent and a restarted process never reuses a number.

Incoming messages are checked in the order the reference engine (QuickFIX)
checks them, because the FIX session test cases are written against it:

1. garbled (framing, BodyLength, CheckSum, first three fields not 8, 9,
   35): ignored, counted -- except as the first message of a connection,
   which is dropped;
2. BeginString: a wrong one after logon ends the session with a Logout;
3. the data dictionary (if any): a Reject (35=3) naming the tag and reason;
4. SendingTime within ``max_latency_s`` and the CompIDs: Reject + Logout;
5. MsgSeqNum too high: the message is queued and a ResendRequest sent
   (one per gap); too low: ignored if PossDup with a sane OrigSendingTime,
   otherwise Logout with the reason and disconnect;
6. the message itself (admin handled here, application messages become
   ``Application`` events), then the next queued message, if it is due.

The connection states and what moves between them are one table,
``TRANSITIONS``; anything else is a ``LocalProtocolError`` (our fault).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from protocols import fix
from protocols.fixstore import SessionStore

Fields = list[tuple[int, bytes]]

ADMIN_TYPES = frozenset({b"0", b"1", b"2", b"3", b"4", b"5", b"A"})
HEADER_TAGS = frozenset({8, 9, 35, 34, 49, 56, 43, 97, 52, 122, 50, 57, 115, 116, 128, 129,
                         142, 143, 144, 145, 90, 91, 212, 213, 347, 369, 627, 628, 629, 630,
                         1128, 1129})
#: OnBehalfOf* <-> DeliverTo*: a reply (a Reject too) goes back the way the
#: message came.
ROUTE_SWAP = {115: 128, 128: 115, 116: 129, 129: 116, 144: 145, 145: 144}
#: Seconds of silence, in HeartBtInts, before a TestRequest (per request
#: already sent, plus one) and before the peer is given up (the reference
#: engine's factors, which the test cases' timings assume).
TEST_REQUEST_FACTOR = 1.2
TIMEOUT_FACTOR = 2.4
#: EndSeqNo meaning "to the end": 0 from FIX 4.2 on, 999999 before.
#: Messages held behind a gap, at most: past it they are not kept (the
#: ResendRequest brings them again), so a peer cannot grow memory at will.
MAX_QUEUED = 100_000
INFINITY_BEFORE_42 = 999999

REJECT_TEXT = {
    0: "Invalid tag number", 1: "Required tag missing",
    2: "Tag not defined for this message type", 3: "Undefined Tag",
    4: "Tag specified without a value", 5: "Value is incorrect (out of range) for this tag",
    6: "Incorrect data format for value", 9: "CompID problem",
    10: "SendingTime accuracy problem", 11: "Invalid MsgType",
    13: "Tag appears more than once", 14: "Tag specified out of required order",
    16: "Incorrect NumInGroup count for repeating group",
}


class LocalProtocolError(Exception):
    """We asked the session for something its state does not allow."""


class RemoteProtocolError(Exception):
    """The peer broke the protocol in a way that ends the connection."""


class State(Enum):
    DISCONNECTED = "disconnected"
    AWAIT_LOGON = "await_logon"    # acceptor: connected, no Logon yet
    LOGON_SENT = "logon_sent"      # initiator: Logon out, no answer yet
    ACTIVE = "active"
    LOGOUT_SENT = "logout_sent"    # waiting for the peer's Logout


TRANSITIONS: dict[tuple[State, str], State] = {
    (State.DISCONNECTED, "accept"): State.AWAIT_LOGON,
    (State.DISCONNECTED, "connect"): State.LOGON_SENT,
    (State.AWAIT_LOGON, "logon"): State.ACTIVE,
    (State.LOGON_SENT, "logon"): State.ACTIVE,
    (State.ACTIVE, "logon"): State.ACTIVE,          # a reset (141=Y) mid-session
    (State.ACTIVE, "logout"): State.LOGOUT_SENT,
    (State.LOGON_SENT, "logout"): State.LOGOUT_SENT,
    (State.LOGOUT_SENT, "logout"): State.LOGOUT_SENT,
    **{(s, "close"): State.DISCONNECTED for s in State},
}


# ---- events -----------------------------------------------------------------

@dataclass(frozen=True)
class LoggedOn:
    reset: bool


@dataclass(frozen=True)
class Application:
    msg: Message


@dataclass(frozen=True)
class SessionReject:
    """The peer rejected one of our messages (35=3)."""
    msg: Message


@dataclass(frozen=True)
class Garbled:
    error: str
    length: int


@dataclass(frozen=True)
class RejectSent:
    ref_seq: int
    reason: int
    tag: int | None
    text: str


@dataclass(frozen=True)
class GapDetected:
    begin: int
    end: int


@dataclass(frozen=True)
class Resent:
    begin: int
    end: int
    messages: int
    gap_fills: int


@dataclass(frozen=True)
class LoggedOut:
    text: str


@dataclass(frozen=True)
class Disconnect:
    """Write what is pending, then close the connection."""
    reason: str


Event = (LoggedOn | Application | SessionReject | Garbled | RejectSent | GapDetected | Resent
         | LoggedOut | Disconnect)


# ---- messages ---------------------------------------------------------------

class Message:
    """A received message: its bytes and fields in wire order."""

    __slots__ = ("_index", "fields", "raw")

    def __init__(self, raw: bytes, fields: Fields) -> None:
        self.raw = raw
        self.fields = fields
        self._index: dict[int, bytes] | None = None

    def get(self, tag: int) -> bytes | None:
        """The first value of ``tag``."""
        return self.values().get(tag)

    def values(self) -> dict[int, bytes]:
        """Tag -> value (the first of a repeated tag); shared, do not modify."""
        if self._index is None:
            self._index = dict(reversed(self.fields))
        return self._index

    @property
    def msg_type(self) -> bytes:
        return self.fields[2][1]

    @property
    def seq(self) -> int:
        v = self.get(34)
        return int(v) if v is not None and v.isdigit() else 0

    def body(self) -> Fields:
        """Fields that are neither header nor trailer, in wire order."""
        return [(t, v) for t, v in self.fields if t not in HEADER_TAGS and t not in (10, 93, 89)]

    def __repr__(self) -> str:
        return f"Message({self.raw.replace(fix.SOH, b'|')!r})"


class Framer(Protocol):
    def scan(self, data: bytes) -> tuple[list[tuple[str, bytes, Fields, bool]], int]:
        """(error, raw bytes, fields, checked) per message or skipped run at
        the front of ``data``, and how many bytes that was.  ``checked``:
        the framer already ran the session's dictionary over the message and
        found nothing (the gateway's C framer does; False: the session asks
        the dictionary itself)."""
        ...


class PythonFramer:
    """The reference framer; the gateway passes the C scanner instead."""

    def scan(self, data: bytes) -> tuple[list[tuple[str, bytes, Fields, bool]], int]:
        framed, used = fix.frame(data)
        return [(f.error, data[f.off:f.off + f.length], f.fields, False) for f in framed], used


class RejectionLike(Protocol):
    @property
    def reason(self) -> int: ...
    @property
    def tag(self) -> int | None: ...
    @property
    def text(self) -> str: ...


class Validator(Protocol):
    """A data dictionary (``protocols/fixdict.py``)."""

    def validate(self, fields: Sequence[tuple[int, bytes]]) -> RejectionLike | None: ...


# ---- time -------------------------------------------------------------------

def utc_timestamp(now_ns: int, millis: bool = True) -> str:
    """FIX UTCTimestamp, YYYYMMDD-HH:MM:SS[.sss]."""
    s = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(now_ns // 1_000_000_000))
    return f"{s}.{now_ns // 1_000_000 % 1000:03d}" if millis else s


_SECONDS: dict[bytes, int] = {}


def parse_utc_timestamp(v: bytes) -> int | None:
    """Nanoseconds since the epoch, or None if ``v`` is not a UTCTimestamp."""
    secs = _SECONDS.get(v[:17])
    if secs is None:
        if len(v) < 17 or v[8:9] != b"-" or v[11:12] != b":" or v[14:15] != b":" \
                or not (v[0:8] + v[9:11] + v[12:14] + v[15:17]).isdigit():
            return None
        try:
            secs = calendar.timegm(time.struct_time((int(v[0:4]), int(v[4:6]), int(v[6:8]),
                                                     int(v[9:11]), int(v[12:14]),
                                                     int(v[15:17]), 0, 0, 0)))
        except ValueError:
            return None
        if not (1 <= int(v[4:6]) <= 12 and 1 <= int(v[6:8]) <= 31 and int(v[9:11]) < 24
                and int(v[12:14]) < 60 and int(v[15:17]) <= 60):
            return None
        if len(_SECONDS) > 4096:  # one entry per second seen: keep it small
            _SECONDS.clear()
        _SECONDS[v[:17]] = secs
    frac = v[18:] if v[17:18] == b"." else b""
    if len(v) > 17 and (v[17:18] != b"." or not frac.isdigit() or len(frac) > 9):
        return None
    return secs * 1_000_000_000 + (int(frac.ljust(9, b"0")) if frac else 0)


# ---- configuration ----------------------------------------------------------

@dataclass(frozen=True)
class SessionConfig:
    begin_string: str
    sender_comp_id: str
    target_comp_id: str
    heartbeat_interval: int = 30        # initiator: what it asks; acceptor: the peer's wins
    reset_on_logon: bool = False        # initiator: send 141=Y; acceptor: reset on any Logon
    username: str | None = None         # 553 on Logon, where the venue wants it
    password: str | None = None         # 554
    max_latency_s: float = 120.0        # SendingTime check; 0 turns it off
    logon_timeout_s: float = 10.0
    logout_timeout_s: float = 2.0
    resend_chunk: int = 0               # how many messages to ask for at once; 0: all
    millis: bool = True                 # SendingTime with milliseconds


def _int(v: bytes | None, default: int = 0) -> int:
    return int(v) if v is not None and v.isdigit() else default


# ---- the session ------------------------------------------------------------

@dataclass
class _Link:
    """What lasts one connection."""
    connected_ns: int = 0
    last_recv_ns: int = 0
    last_sent_ns: int = 0
    test_requests: int = 0
    logout_sent_ns: int = 0
    sent_reset: bool = False
    queue: dict[int, Message] = field(default_factory=dict)
    resend: tuple[int, int] | None = None   # the range we asked for


class FixSession:
    def __init__(self, config: SessionConfig, store: SessionStore, *, initiator: bool,
                 dictionary: Validator | None = None, framer: Framer | None = None) -> None:
        self.config = config
        self.store = store
        self.initiator = initiator
        self.dictionary = dictionary
        self.framer: Framer = framer or PythonFramer()
        self.state = State.DISCONNECTED
        self.heartbeat_interval = config.heartbeat_interval
        self.stats: dict[str, int] = {"received": 0, "sent": 0, "garbled": 0, "rejects_sent": 0,
                                      "resend_requests_sent": 0, "resends_served": 0,
                                      "too_low": 0, "queued": 0}
        self._link = _Link()
        self._inbuf = b""
        self._out: list[bytes] = []
        self._events: list[Event] = []
        self._begin = config.begin_string.encode()
        self._sender = config.sender_comp_id.encode()
        self._target = config.target_comp_id.encode()
        self._ts_cache: tuple[int, str] = (-1, "")

    # -- the shell's calls ------------------------------------------------------

    def connection_made(self, now_ns: int) -> None:
        self._move("connect" if self.initiator else "accept")
        self._link = _Link(connected_ns=now_ns, last_recv_ns=now_ns, last_sent_ns=now_ns)
        self._inbuf = b""
        self._out.clear()  # unsent bytes of the last connection: stored, so resendable
        if self.initiator:
            self._send_logon(now_ns, reset=self.config.reset_on_logon)

    def connection_lost(self, now_ns: int) -> None:
        if self.state is not State.DISCONNECTED:
            self._move("close")

    def receive_data(self, data: bytes, now_ns: int) -> None:
        buf = self._inbuf + data if self._inbuf else data
        frames, used = self.framer.scan(buf)
        self._inbuf = buf[used:]
        for err, raw, fields, checked in frames:
            if self.state is State.DISCONNECTED:
                break
            self._on_frame(err, raw, fields, now_ns, checked)

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def timer(self, now_ns: int) -> None:
        link, hb = self._link, self.heartbeat_interval * 1_000_000_000
        if self.state in (State.AWAIT_LOGON, State.LOGON_SENT):
            if now_ns - link.connected_ns >= self.config.logon_timeout_s * 1e9:
                self._disconnect("no Logon within the logon timeout")
        elif self.state is State.LOGOUT_SENT:
            if now_ns - link.logout_sent_ns >= self.config.logout_timeout_s * 1e9:
                self._disconnect("no Logout answer within the logout timeout")
        elif self.state is State.ACTIVE and hb:
            silent = now_ns - link.last_recv_ns
            if silent >= TIMEOUT_FACTOR * hb:
                self._disconnect(f"peer silent for {silent / 1e9:.1f} s")
                return
            if silent >= TEST_REQUEST_FACTOR * (link.test_requests + 1) * hb:
                self._send(b"1", [(112, b"TEST")], now_ns)
                link.test_requests += 1
            elif now_ns - link.last_sent_ns >= hb and not link.test_requests:
                # No heartbeats while a TestRequest is unanswered: the
                # reference engine's rule, which the test cases time.
                self._send(b"0", [], now_ns)

    def next_deadline_ns(self) -> int | None:
        link, hb = self._link, self.heartbeat_interval * 1_000_000_000
        if self.state in (State.AWAIT_LOGON, State.LOGON_SENT):
            return link.connected_ns + int(self.config.logon_timeout_s * 1e9)
        if self.state is State.LOGOUT_SENT:
            return link.logout_sent_ns + int(self.config.logout_timeout_s * 1e9)
        if self.state is State.ACTIVE and hb:
            due = min(link.last_recv_ns + int(TEST_REQUEST_FACTOR * (link.test_requests + 1) * hb),
                      link.last_recv_ns + int(TIMEOUT_FACTOR * hb))
            return due if link.test_requests else min(due, link.last_sent_ns + hb)
        return None

    # -- the application's calls --------------------------------------------------

    @property
    def logged_on(self) -> bool:
        return self.state is State.ACTIVE

    def send(self, msg_type: bytes | str, body: Iterable[tuple[int, bytes | str | int]],
             now_ns: int, header: Iterable[tuple[int, bytes | str | int]] = ()) -> int:
        """An application message; returns its MsgSeqNum."""
        if self.state is not State.ACTIVE:
            raise LocalProtocolError(f"cannot send while {self.state.value}")
        mt = msg_type.encode() if isinstance(msg_type, str) else msg_type
        return self._send(mt, list(body), now_ns, list(header))

    def send_encoded(self, msgs: Sequence[tuple[int, bytes]], now_ns: int) -> None:
        """Messages the caller encoded itself (the C template encoder), each
        with the sequence number ``reserve`` handed out, in order."""
        if self.state is not State.ACTIVE:
            raise LocalProtocolError(f"cannot send while {self.state.value}")
        for seq, raw in msgs:
            if seq != self.store.next_sender_seq:
                raise LocalProtocolError(f"MsgSeqNum {seq} out of turn, next is "
                                         f"{self.store.next_sender_seq}")
            self.store.save_sent(seq, raw)
            self._out.append(raw)
        self.stats["sent"] += len(msgs)
        self._link.last_sent_ns = now_ns

    @property
    def next_sender_seq(self) -> int:
        return self.store.next_sender_seq

    def sending_time(self, now_ns: int) -> str:
        sec = now_ns // 1_000_000 if self.config.millis else now_ns // 1_000_000_000
        if self._ts_cache[0] != sec:
            self._ts_cache = (sec, utc_timestamp(now_ns, self.config.millis))
        return self._ts_cache[1]

    def logout(self, now_ns: int, text: str = "") -> None:
        """Start the logout handshake (the peer answers, then we close)."""
        if self.state is State.ACTIVE or self.state is State.LOGON_SENT:
            self._send_logout(now_ns, text)

    def business_reject(self, msg: Message, now_ns: int, reason: int = 3,
                        text: str = "Unsupported Message Type") -> None:
        if msg.msg_type == b"j":
            # Never answer a reject with a reject: two applications that
            # both refuse what they do not know would bounce it forever.
            self.stats["rejects_not_answered"] = self.stats.get("rejects_not_answered", 0) + 1
            return
        body: Fields = [(45, str(msg.seq).encode()), (58, text.encode()),
                        (372, msg.msg_type), (380, str(reason).encode())]
        self._send(b"j", body, now_ns, reverse_route(msg))

    # -- incoming -----------------------------------------------------------------

    def _on_frame(self, err: str, raw: bytes, fields: Fields, now_ns: int,
                  checked: bool = False) -> None:
        if err or len(fields) < 3 or fields[2][0] != 35:
            self.stats["garbled"] += 1
            self._events.append(Garbled(err or "first_three_fields", len(raw)))
            if self.state in (State.AWAIT_LOGON, State.LOGON_SENT):
                self._disconnect("garbled first message")
            return
        self.stats["received"] += 1
        msg = Message(raw, fields)
        if self.state in (State.AWAIT_LOGON, State.LOGON_SENT) and msg.msg_type != b"A":
            self._disconnect("first message is not a Logon")
            return
        self._process(msg, now_ns, checked)
        self._next_queued(now_ns)

    def _process(self, msg: Message, now_ns: int, checked: bool = False) -> None:
        mt = msg.msg_type
        if fields_begin(msg) != self._begin:
            if mt == b"5":
                self._on_logout(msg, now_ns)
            elif self.state is not State.ACTIVE:
                self._disconnect("Logon with another BeginString")
            else:
                self._send_logout(now_ns, "Incorrect BeginString")
                self._incr_target_if(msg.seq)
            return
        if self.dictionary is not None and not checked:
            rej = self.dictionary.validate(msg.fields)
            if rej is not None:
                if self.state is not State.ACTIVE:
                    self._disconnect(f"invalid Logon: {rej.text} (tag {rej.tag})")
                    return
                self._reject(msg, now_ns, rej.reason, rej.tag, rej.text)
                return
        handler = self._ADMIN.get(mt)
        if handler is not None:
            handler(self, msg, now_ns)
        elif self._verify(msg, now_ns, True, True):
            self._events.append(Application(msg))
            self._incr_target()

    def _verify(self, msg: Message, now_ns: int, check_high: bool, check_low: bool) -> bool:
        if not self._good_time(msg, now_ns):
            self._reject(msg, now_ns, 10)
            self._send_logout(now_ns)
            return False
        if msg.get(49) != self._target or msg.get(56) != self._sender:
            self._reject(msg, now_ns, 9)
            self._send_logout(now_ns)
            return False
        seq, expected = msg.seq, self.store.next_target_seq
        if check_high and seq > expected:
            self._too_high(msg, now_ns)
            return False
        if check_low and seq < expected:
            self._too_low(msg, now_ns)
            return False
        link = self._link
        if link.resend is not None and seq >= link.resend[1]:
            link.resend = None
        link.last_recv_ns = now_ns
        link.test_requests = 0
        return True

    def _good_time(self, msg: Message, now_ns: int) -> bool:
        if not self.config.max_latency_s:
            return True
        t = parse_utc_timestamp(msg.get(52) or b"")
        return t is not None and abs(now_ns - t) <= self.config.max_latency_s * 1e9

    def _too_high(self, msg: Message, now_ns: int) -> None:
        link, seq = self._link, msg.seq
        if len(link.queue) < MAX_QUEUED:
            link.queue[seq] = msg
            self.stats["queued"] += 1
        if link.resend is not None and seq >= link.resend[0]:
            return  # already asked for this gap
        self._request_resend(self.store.next_target_seq, seq - 1, now_ns)

    def _request_resend(self, begin: int, end: int, now_ns: int) -> None:
        chunk = self.config.resend_chunk
        last = min(end, begin + chunk - 1) if chunk else end
        to_end = 0 if self._begin >= b"FIX.4.2" else INFINITY_BEFORE_42
        asked = last if chunk and last < end else to_end
        self._link.resend = (begin, last)
        self.stats["resend_requests_sent"] += 1
        self._events.append(GapDetected(begin, end))
        self._send(b"2", [(7, str(begin).encode()), (16, str(asked).encode())], now_ns)

    def _too_low(self, msg: Message, now_ns: int) -> None:
        self.stats["too_low"] += 1
        if msg.get(43) == b"Y":
            orig = msg.get(122)
            if orig is None:
                self._reject(msg, now_ns, 1, 122)
                return
            t_orig, t_sent = parse_utc_timestamp(orig), parse_utc_timestamp(msg.get(52) or b"")
            if t_orig is None or t_sent is None or t_orig > t_sent:
                self._reject(msg, now_ns, 10)
                self._send_logout(now_ns)
            return  # a duplicate of what we have: nothing to do
        text = (f"MsgSeqNum too low, expecting {self.store.next_target_seq} "
                f"but received {msg.seq}")
        self._send_logout(now_ns, text)
        self._disconnect(text)

    def _next_queued(self, now_ns: int) -> None:
        link = self._link
        while link.queue and self.state is not State.DISCONNECTED:
            expected = self.store.next_target_seq
            for stale in [s for s in link.queue if s < expected]:
                del link.queue[stale]
            msg = link.queue.pop(expected, None)
            if msg is None:
                break
            if msg.msg_type in (b"A", b"2"):  # already acted on when it came
                self._incr_target()
            else:
                self._process(msg, now_ns)
        if (link.resend is None and link.queue and self.state is State.ACTIVE
                and self.config.resend_chunk):
            self._request_resend(self.store.next_target_seq, min(link.queue) - 1, now_ns)

    # -- admin messages -------------------------------------------------------------

    def _on_logon(self, msg: Message, now_ns: int) -> None:
        link = self._link
        reset = msg.get(141) == b"Y"
        if self.state is State.ACTIVE and not reset:
            self._reject(msg, now_ns, 99, None, "Logon while logged on")
            return
        if (reset and not link.sent_reset) or (not self.initiator and self.config.reset_on_logon):
            self.store.reset(now_ns)
        if not self._good_time(msg, now_ns) or msg.get(49) != self._target \
                or msg.get(56) != self._sender:
            self._disconnect("Logon with a bad SendingTime or CompIDs")
            return
        seq = msg.seq
        if seq < self.store.next_target_seq:
            text = (f"MsgSeqNum too low, expecting {self.store.next_target_seq} "
                    f"but received {seq}")
            self._send_logout(now_ns, text)
            self._disconnect(text)
            return
        link.last_recv_ns = now_ns
        answer = not self.initiator or (reset and not link.sent_reset)
        if not self.initiator:
            self.heartbeat_interval = _int(msg.get(108), self.heartbeat_interval)
        self._move("logon")
        if answer:
            self._send_logon(now_ns, reset=reset)
        link.sent_reset = False
        self._events.append(LoggedOn(reset))
        if seq > self.store.next_target_seq and not reset:
            self._too_high(msg, now_ns)
        else:
            self._incr_target()

    def _on_heartbeat(self, msg: Message, now_ns: int) -> None:
        if self._verify(msg, now_ns, True, True):
            self._incr_target()

    def _on_test_request(self, msg: Message, now_ns: int) -> None:
        if self._verify(msg, now_ns, True, True):
            self._send(b"0", [(112, msg.get(112) or b"")], now_ns)
            self._incr_target()

    def _on_resend_request(self, msg: Message, now_ns: int) -> None:
        if not self._verify(msg, now_ns, False, False):
            return
        begin, end = _int(msg.get(7)), _int(msg.get(16))
        last = self.store.next_sender_seq - 1
        if end == 0 or end >= INFINITY_BEFORE_42 or end > last:
            end = last
        self._resend(begin, end, now_ns)
        seq = msg.seq
        if seq == self.store.next_target_seq:
            self._incr_target()

    def _on_reject(self, msg: Message, now_ns: int) -> None:
        if self._verify(msg, now_ns, True, True):
            self._events.append(SessionReject(msg))
            self._incr_target()

    def _on_sequence_reset(self, msg: Message, now_ns: int) -> None:
        gap_fill = msg.get(123) == b"Y"
        if not self._verify(msg, now_ns, gap_fill, gap_fill):
            return
        new, expected = _int(msg.get(36)), self.store.next_target_seq
        if new > expected:
            self.store.set_next_target(new)
        elif new < expected:
            self._reject(msg, now_ns, 5)
        # A gap fill past the end of what we asked for closes the request:
        # a later gap must be asked for again, or the session would stall.
        link = self._link
        if link.resend is not None and self.store.next_target_seq > link.resend[1]:
            link.resend = None

    def _on_logout(self, msg: Message, now_ns: int) -> None:
        if not self._verify(msg, now_ns, False, False):
            return
        text = (msg.get(58) or b"").decode("latin-1")
        if self.state is not State.LOGOUT_SENT:
            self._send_logout(now_ns)
        if msg.seq == self.store.next_target_seq:
            self._incr_target()
        self._events.append(LoggedOut(text))
        self._disconnect("logged out")

    _ADMIN: dict[bytes, Callable[[FixSession, Message, int], None]] = {
        b"A": _on_logon, b"0": _on_heartbeat, b"1": _on_test_request, b"2": _on_resend_request,
        b"3": _on_reject, b"4": _on_sequence_reset, b"5": _on_logout,
    }

    # -- resending --------------------------------------------------------------------

    def _resend(self, begin: int, end: int, now_ns: int) -> None:
        stored = dict(self.store.sent(begin, end)) if begin <= end else {}
        gap_from, resent, fills = 0, 0, 0
        for seq in range(begin, end + 1):
            raw = stored.get(seq)
            fields = fix.frame(raw)[0][0].fields if raw is not None else []
            if len(fields) < 3 or fields[2][1] in ADMIN_TYPES:
                gap_from = gap_from or seq
                continue
            if gap_from:
                self._gap_fill(gap_from, seq, now_ns)
                fills += 1
                gap_from = 0
            self._out.append(self._possdup(fields, now_ns))
            resent += 1
        if gap_from:
            self._gap_fill(gap_from, end + 1, now_ns)
            fills += 1
        self.stats["resends_served"] += 1
        self._events.append(Resent(begin, end, resent, fills))
        self._link.last_sent_ns = now_ns

    def _possdup(self, fields: Fields, now_ns: int) -> bytes:
        """A stored application message again: same MsgSeqNum, PossDupFlag,
        the original SendingTime as OrigSendingTime, a new SendingTime."""
        header = {t: v for t, v in fields[3:] if t in HEADER_TAGS}
        body = [(t, v) for t, v in fields[3:] if t not in HEADER_TAGS and t != 10]
        header[122] = header.get(52, b"")
        header[52] = self.sending_time(now_ns).encode()
        header[43] = b"Y"
        return self._encode(fields[2][1], sorted(header.items()), body)

    def _gap_fill(self, seq: int, new_seq: int, now_ns: int) -> None:
        ts = self.sending_time(now_ns).encode()
        header = [(34, str(seq).encode()), (43, b"Y"), (49, self._sender), (52, ts),
                  (56, self._target), (122, ts)]
        self._out.append(self._encode(b"4", header, [(36, str(new_seq).encode()), (123, b"Y")]))

    # -- outgoing -----------------------------------------------------------------------

    def _encode(self, msg_type: bytes, header: Fields, body: Sequence[tuple[int, bytes]]) -> bytes:
        return fix.encode(self.config.begin_string, [(35, msg_type), *header, *body])

    def _send(self, msg_type: bytes, body: Sequence[tuple[int, bytes | str | int]], now_ns: int,
              extra_header: Sequence[tuple[int, bytes | str | int]] = ()) -> int:
        seq = self.store.next_sender_seq
        header: list[tuple[int, bytes]] = [
            (34, str(seq).encode()), (49, self._sender),
            (52, self.sending_time(now_ns).encode()), (56, self._target)]
        header += [(t, _b(v)) for t, v in extra_header]
        header.sort(key=lambda f: f[0])
        raw = self._encode(msg_type, header, [(t, _b(v)) for t, v in body])
        self.store.save_sent(seq, raw)  # before the bytes can reach the socket
        self._out.append(raw)
        self.stats["sent"] += 1
        self._link.last_sent_ns = now_ns
        return seq

    def _send_logon(self, now_ns: int, reset: bool) -> None:
        link = self._link
        if reset and self.initiator and not link.sent_reset and self.state is not State.ACTIVE:
            self.store.reset(now_ns)
            link.sent_reset = True
        body: list[tuple[int, bytes | str | int]] = [(98, b"0"), (108, self.heartbeat_interval)]
        if reset:
            body.append((141, b"Y"))
        if self.initiator and self.config.username is not None:
            body.append((553, self.config.username))
        if self.initiator and self.config.password is not None:
            body.append((554, self.config.password))
        self._send(b"A", body, now_ns)

    def _send_logout(self, now_ns: int, text: str = "") -> None:
        if self.state is State.LOGOUT_SENT:
            return
        self._send(b"5", [(58, text)] if text else [], now_ns)
        self._move("logout")
        self._link.logout_sent_ns = now_ns

    def _reject(self, msg: Message, now_ns: int, reason: int, tag: int | None = None,
                text: str | None = None) -> None:
        text = text or REJECT_TEXT.get(reason, "Other")
        body: Fields = [(45, str(msg.seq).encode()), (58, text.encode())]
        if tag is not None:
            body.append((371, str(tag).encode()))
        if self._begin >= b"FIX.4.2":
            body.append((372, msg.msg_type))
            # FIX 4.2 defines SessionRejectReason 0-11 only; later ones are
            # left out there, as the reference engine does.
            if self._begin > b"FIX.4.2" or reason <= 11:
                body.append((373, str(reason).encode()))
        self._send(b"3", body, now_ns, reverse_route(msg))
        self.stats["rejects_sent"] += 1
        self._events.append(RejectSent(msg.seq, reason, tag, text))
        if msg.msg_type not in (b"A", b"4"):
            self._incr_target_if(msg.seq)

    # -- bookkeeping -----------------------------------------------------------------------

    def _incr_target(self) -> None:
        self.store.set_next_target(self.store.next_target_seq + 1)

    def _incr_target_if(self, seq: int) -> None:
        if seq == self.store.next_target_seq:
            self._incr_target()

    def _disconnect(self, reason: str) -> None:
        if self.state is not State.DISCONNECTED:
            self._move("close")
            self._events.append(Disconnect(reason))

    def _move(self, event: str) -> None:
        nxt = TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise LocalProtocolError(f"{event!r} is not allowed while {self.state.value}")
        self.state = nxt


def reverse_route(msg: Message) -> Fields:
    """The routing header fields of a reply to ``msg`` (empty ones dropped)."""
    return [(ROUTE_SWAP[t], v) for t, v in msg.fields if t in ROUTE_SWAP and v]


def fields_begin(msg: Message) -> bytes:
    return msg.fields[0][1]


def _b(v: bytes | str | int) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode()
