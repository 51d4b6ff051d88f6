"""MoldUDP64: the sequenced UDP transport NASDAQ carries ITCH on.

A downstream packet is a 20-byte header -- session (10 bytes, alpha),
sequence number of the first message (8), message count (2) -- followed by
``count`` message blocks, each a 2-byte big-endian length and that many
bytes.  A count of 0 is a heartbeat (the sequence is the next one expected);
0xFFFF is end of session.  A re-request sent upstream to the retransmission
server is the same 20-byte header whose count is the number of messages
wanted.

Pure functions over bytes; sockets and timers live in ``gateway``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocols.layout import Kind, build

HEADER = build(b"", "moldudp64_header", "MoldUDP64 Downstream Packet Header", (
    ("session", 10, Kind.ALPHA),
    ("sequence_number", 8, Kind.UINT),
    ("message_count", 2, Kind.UINT),
))
HEADER_SIZE = HEADER.size  # 20
BLOCK_LENGTH_SIZE = 2
HEARTBEAT_COUNT = 0
END_OF_SESSION_COUNT = 0xFFFF
SESSION_SIZE = HEADER.field("session").size

_SEQ = HEADER.field("sequence_number")
_CNT = HEADER.field("message_count")


class MalformedPacket(ValueError):
    """The packet's bytes contradict MoldUDP64 (the sender's fault)."""


@dataclass(frozen=True)
class Packet:
    session: str
    sequence: int
    count: int  # as in the header: 0 heartbeat, 0xFFFF end of session
    messages: tuple[bytes, ...]

    @property
    def is_heartbeat(self) -> bool:
        return self.count == HEARTBEAT_COUNT

    @property
    def is_end_of_session(self) -> bool:
        return self.count == END_OF_SESSION_COUNT


def encode_header(session: str | bytes, sequence: int, count: int) -> bytes:
    return HEADER.encode(
        {"session": session, "sequence_number": sequence, "message_count": count}
    )


def encode_packet(session: str | bytes, sequence: int, messages: Sequence[bytes]) -> bytes:
    """A data packet carrying ``messages`` starting at ``sequence``."""
    if not 0 < len(messages) < END_OF_SESSION_COUNT:
        raise ValueError(f"a data packet carries 1..65534 messages, not {len(messages)}")
    parts = [encode_header(session, sequence, len(messages))]
    for m in messages:
        if len(m) > 0xFFFF:
            raise ValueError(f"message of {len(m)} bytes does not fit a block")
        parts.append(len(m).to_bytes(BLOCK_LENGTH_SIZE, "big"))
        parts.append(bytes(m))
    return b"".join(parts)


def encode_heartbeat(session: str | bytes, next_sequence: int) -> bytes:
    return encode_header(session, next_sequence, HEARTBEAT_COUNT)


def encode_end_of_session(session: str | bytes, next_sequence: int) -> bytes:
    return encode_header(session, next_sequence, END_OF_SESSION_COUNT)


def encode_request(session: str | bytes, sequence: int, count: int) -> bytes:
    """A re-request for ``count`` messages from ``sequence``."""
    if not 0 < count < END_OF_SESSION_COUNT:
        raise ValueError(f"a re-request asks for 1..65534 messages, not {count}")
    return encode_header(session, sequence, count)


def decode_packet(buf: bytes | bytearray | memoryview) -> Packet:
    """Reference decoder: header and message blocks, strict about lengths."""
    if len(buf) < HEADER_SIZE:
        raise MalformedPacket(f"packet of {len(buf)} bytes is shorter than the header")
    hdr = HEADER.decode(buf)
    count = hdr["message_count"]
    msgs: list[bytes] = []
    pos = HEADER_SIZE
    if count not in (HEARTBEAT_COUNT, END_OF_SESSION_COUNT):
        for i in range(count):
            if pos + BLOCK_LENGTH_SIZE > len(buf):
                raise MalformedPacket(f"count {count} overruns the packet at message {i}")
            n = int.from_bytes(buf[pos : pos + BLOCK_LENGTH_SIZE], "big")
            pos += BLOCK_LENGTH_SIZE
            if pos + n > len(buf):
                raise MalformedPacket(f"message {i} of {n} bytes overruns the packet")
            msgs.append(bytes(buf[pos : pos + n]))
            pos += n
    return Packet(hdr["session"], hdr["sequence_number"], count, tuple(msgs))


def pack_messages(
    session: str | bytes, first_sequence: int, messages: Iterable[bytes], max_payload: int = 1400
) -> list[bytes]:
    """Split a message stream into packets of at most ``max_payload`` bytes,
    as an exchange packs them (header included in the budget)."""
    packets: list[bytes] = []
    batch: list[bytes] = []
    size = HEADER_SIZE
    seq = first_sequence
    for m in messages:
        need = BLOCK_LENGTH_SIZE + len(m)
        if batch and size + need > max_payload:
            packets.append(encode_packet(session, seq, batch))
            seq += len(batch)
            batch, size = [], HEADER_SIZE
        batch.append(m)
        size += need
    if batch:
        packets.append(encode_packet(session, seq, batch))
    return packets


# Offsets for code that must not import the table at run time.
SEQUENCE_OFFSET = _SEQ.offset
COUNT_OFFSET = _CNT.offset
