"""The message store a simulated MoldUDP64 session publishes.

Theory of operation
-------------------
A :class:`MessageStore` is one session: its name and its messages in
sequence order, message ``i`` (0-based) having sequence ``first_seq + i``
(``first_seq`` is 1 unless a capture joined late).  The publisher and the
retransmission server both read it; nothing changes it after construction.

*Sources.*  :meth:`MessageStore.from_synth` draws a session from
``gateway.synth.generate_messages``.  :meth:`MessageStore.from_capture`
reads a pcap/pcapng capture of MoldUDP64 over UDP through the C source
(``gateway.native.Source``) and parses the link, IPv4 and UDP headers in
Python -- this runs once at start-up, not per packet sent.  Each message is
kept once, by its sequence number, however many packets (A and B lines,
duplicates) carried it, with the capture time of the first packet that did:
the publisher's ``recorded`` pacing replays those times.  A NASDAQ
BinaryFILE gives bare messages and no times.  A capture that misses
sequences inside the session cannot be published faithfully and is refused
(``InputError`` naming the first hole).

*Packing.*  :meth:`MessageStore.packets` groups messages as an exchange
packs them: consecutive sequences, at most ``max_payload`` bytes of UDP
payload (the 20-byte header and every 2-byte block length included) and
optionally at most ``max_messages`` per packet.  Lines may be packed
differently; encoding the groups is ``protocols.moldudp64``'s job.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.errors import ConfigError, InputError
from protocols import moldudp64

_ETH_VLAN = (0x8100, 0x88A8, 0x9100)
_ETH_IPV4 = 0x0800

#: (first sequence, messages) of one packet.
Group = tuple[int, list[bytes]]


@dataclass
class CaptureStats:
    """What :meth:`MessageStore.from_capture` saw and skipped."""

    frames: int = 0
    mold_packets: int = 0
    duplicate_messages: int = 0
    not_udp: int = 0
    malformed: int = 0
    other_sessions: int = 0


def check_session(session: str, key: str = "session") -> str:
    """The session name as MoldUDP64 decoders give it back (trailing spaces
    are padding); ``ConfigError`` if it cannot be one."""
    name = session.rstrip(" ")
    if not 1 <= len(session) <= moldudp64.SESSION_SIZE or not name or not session.isascii():
        raise ConfigError(key, f"must be 1..{moldudp64.SESSION_SIZE} ASCII "
                          f"characters, not {session!r}")
    return name


class MessageStore:
    """One session's messages, by sequence number."""

    def __init__(self, session: str, messages: list[bytes], *, first_seq: int = 1,
                 times_ns: list[int] | None = None) -> None:
        if first_seq < 1:
            raise ValueError(f"first_seq must be >= 1, not {first_seq}")
        if times_ns is not None and len(times_ns) != len(messages):
            raise ValueError(f"{len(times_ns)} times for {len(messages)} messages")
        self.session = check_session(session)
        self.messages = messages
        self.first_seq = first_seq
        self.times_ns = times_ns
        self.capture_stats: CaptureStats | None = None

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def next_seq(self) -> int:
        """The sequence after the last message (what heartbeats announce at the end)."""
        return self.first_seq + len(self.messages)

    def get(self, seq: int, count: int) -> tuple[int, list[bytes]]:
        """The messages of ``[seq, seq + count)`` that exist, and the first one's sequence."""
        lo = max(seq, self.first_seq)
        hi = min(seq + count, self.next_seq)
        if lo >= hi:
            return lo, []
        return lo, self.messages[lo - self.first_seq : hi - self.first_seq]

    def packets(self, max_payload: int = 1400, max_messages: int | None = None) -> list[Group]:
        """Every message grouped into packets (see the module docstring)."""
        return group_messages(self.first_seq, self.messages, max_payload, max_messages)

    def packet_times(self, groups: list[Group]) -> list[int] | None:
        """Each packet's capture time: its last message's (it could not leave
        before that message existed), never earlier than the packet before."""
        if self.times_ns is None:
            return None
        out: list[int] = []
        last = self.times_ns[0] if self.times_ns else 0
        for seq, msgs in groups:
            last = max(last, self.times_ns[seq - self.first_seq + len(msgs) - 1])
            out.append(last)
        return out

    @classmethod
    def from_synth(cls, messages: int, symbols: int, seed: int,
                   session: str | None = None) -> MessageStore:
        from gateway import synth

        return cls(session or synth.DEFAULT_SESSION,
                   list(synth.generate_messages(messages, symbols, seed)))

    @classmethod
    def from_capture(cls, path: str | os.PathLike[str], session: str | None = None,
                     filter: str | None = None) -> MessageStore:
        """Read a pcap/pcapng capture of MoldUDP64, or a BinaryFILE (no times).

        ``session`` picks one of several sessions (required if there are
        several); ``filter`` is a BPF expression for pcap/pcapng.
        """
        from gateway._native import ffi, lib
        from gateway.native import BURST, Source

        stats = CaptureStats()
        seen: dict[str, dict[int, tuple[bytes, int]]] = {}
        bare: list[bytes] = []
        with Source(path, filter=filter) as src:
            frames = ffi.new("struct gw_frame[]", BURST)
            while (n := src.next(frames, BURST)) > 0:
                for i in range(n):
                    f = frames[i]
                    data = bytes(ffi.buffer(f.data, f.len))
                    stats.frames += 1
                    if f.link == lib.GW_LINK_ITCH:
                        bare.append(data)
                        continue
                    payload = udp_payload(f.link, data, lib)
                    if payload is None:
                        stats.not_udp += 1
                        continue
                    _take_packet(payload, f.rx_ns, seen, stats)
        if bare:
            from gateway.synth import DEFAULT_SESSION

            store = cls(session or DEFAULT_SESSION, bare)
        else:
            store = _from_seen(cls, path, seen, session, stats)
        store.capture_stats = stats
        return store


def group_messages(first_seq: int, messages: Iterable[bytes], max_payload: int = 1400,
                   max_messages: int | None = None) -> list[Group]:
    """Consecutive messages in packets of at most ``max_payload`` bytes (a
    message too big for any packet travels alone) and ``max_messages``."""
    smallest = moldudp64.HEADER_SIZE + moldudp64.BLOCK_LENGTH_SIZE + 1
    if not smallest <= max_payload <= 65507:
        raise ConfigError("max_payload", f"must be {smallest}..65507 bytes (a UDP payload "
                          f"holding the header and a message), not {max_payload}")
    cap = moldudp64.END_OF_SESSION_COUNT - 1
    if max_messages is not None and not 1 <= max_messages <= cap:
        raise ConfigError("max_messages", f"must be 1..{cap}, not {max_messages}")
    limit = max_messages or cap
    out: list[Group] = []
    batch: list[bytes] = []
    size = moldudp64.HEADER_SIZE
    seq = first_seq
    for m in messages:
        need = moldudp64.BLOCK_LENGTH_SIZE + len(m)
        if batch and (size + need > max_payload or len(batch) >= limit):
            out.append((seq, batch))
            seq += len(batch)
            batch, size = [], moldudp64.HEADER_SIZE
        batch.append(m)
        size += need
    if batch:
        out.append((seq, batch))
    return out


def udp_payload(link: int, frame: bytes, lib: Any) -> bytes | None:
    """The UDP payload of one captured frame, or None if it is not IPv4/UDP."""
    if link == lib.GW_LINK_MOLD:
        return frame
    if link == lib.GW_LINK_ETHERNET:
        pos, ethertype = 14, int.from_bytes(frame[12:14], "big") if len(frame) >= 14 else -1
        while ethertype in _ETH_VLAN and len(frame) >= pos + 4:
            ethertype = int.from_bytes(frame[pos + 2 : pos + 4], "big")
            pos += 4
        return _ipv4_udp(frame, pos) if ethertype == _ETH_IPV4 else None
    if link in (lib.GW_LINK_RAW_IPV4, lib.GW_LINK_RAW):
        return _ipv4_udp(frame, 0)
    if link in (lib.GW_LINK_LINUX_SLL, lib.GW_LINK_LINUX_SLL2):
        head, proto_at = (16, 14) if link == lib.GW_LINK_LINUX_SLL else (20, 0)
        proto = int.from_bytes(frame[proto_at : proto_at + 2], "big")
        return _ipv4_udp(frame, head) if proto == _ETH_IPV4 else None
    return None


def _ipv4_udp(frame: bytes, pos: int) -> bytes | None:
    if len(frame) < pos + 20 or frame[pos] >> 4 != 4 or frame[pos + 9] != 17:
        return None
    ihl = (frame[pos] & 0x0F) * 4
    total = int.from_bytes(frame[pos + 2 : pos + 4], "big")
    if int.from_bytes(frame[pos + 6 : pos + 8], "big") & 0x3FFF:
        return None  # a fragment: MoldUDP64 packets fit one datagram
    udp = pos + ihl
    if ihl < 20 or total < ihl + 8 or len(frame) < udp + 8:
        return None
    udp_len = int.from_bytes(frame[udp + 4 : udp + 6], "big")
    end = pos + min(total, ihl + udp_len) if udp_len >= 8 else pos + total
    return frame[udp + 8 : min(end, len(frame))]


def _take_packet(payload: bytes, rx_ns: int, seen: dict[str, dict[int, tuple[bytes, int]]],
                 stats: CaptureStats) -> None:
    try:
        pkt = moldudp64.decode_packet(payload)
    except moldudp64.MalformedPacket:
        stats.malformed += 1
        return
    stats.mold_packets += 1
    by_seq = seen.setdefault(pkt.session, {})
    for i, m in enumerate(pkt.messages):
        if pkt.sequence + i in by_seq:
            stats.duplicate_messages += 1
        else:
            by_seq[pkt.sequence + i] = (m, rx_ns)


def _from_seen(cls: type[MessageStore], path: str | os.PathLike[str],
               seen: dict[str, dict[int, tuple[bytes, int]]], session: str | None,
               stats: CaptureStats) -> MessageStore:
    with_data = sorted(s for s, d in seen.items() if d)
    if session is None:
        if len(with_data) != 1:
            found = ", ".join(with_data) or "none"
            raise InputError(f"{path}: expected one MoldUDP64 session with messages, found "
                             f"{found}" + ("; pick one with --session" if with_data else ""))
        session = with_data[0]
    session = check_session(session)
    by_seq = seen.get(session, {})
    if not by_seq:
        raise InputError(f"{path}: no messages for session {session!r} "
                         f"(found: {', '.join(with_data) or 'none'})")
    stats.other_sessions = sum(len(d) for s, d in seen.items() if s != session)
    first, last = min(by_seq), max(by_seq)
    if len(by_seq) != last - first + 1:
        hole = next(s for s in range(first, last + 1) if s not in by_seq)
        end = next(s for s in range(hole, last + 1) if s in by_seq)
        raise InputError(f"{path}: session {session} misses sequences {hole}..{end - 1} "
                         f"({last - first + 1 - len(by_seq)} missing in all); a simulator "
                         f"cannot publish what the capture lacks")
    msgs = [by_seq[s][0] for s in range(first, last + 1)]
    times = [by_seq[s][1] for s in range(first, last + 1)]
    return cls(session, msgs, first_seq=first, times_ns=times)
