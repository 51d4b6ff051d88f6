"""MoldUDP64: header layout, packets, heartbeats, end of session, re-requests,
packing, malformed and truncated packets, hypothesis round trips."""

from __future__ import annotations

import pytest
from _protocols_util import FAST, alpha_values
from hypothesis import given
from hypothesis import strategies as st

from protocols import moldudp64 as mold
from protocols.moldudp64 import MalformedPacket, Packet

SESSION = "000010059B"

# A data packet written out by hand: session (10, alpha), sequence number of
# the first message (8), message count (2), then per message a 2-byte length.
HAND_PACKET = bytes.fromhex(
    "30303030313030353942"  # 0  10 session "000010059B"
    "0000000000e12e59"      # 10  8 sequence 14_757_465
    "0002"                  # 18  2 count 2
    "0003" "616263"         # 20  2+3 message b"abc"
    "0000"                  # 25  2+0 an empty message
)

sessions = alpha_values(10)
sequences = st.integers(min_value=0, max_value=(1 << 64) - 1)
messages = st.lists(st.binary(max_size=64), min_size=1, max_size=20)


def test_header_layout():
    assert [(f.name, f.offset, f.size) for f in mold.HEADER.fields] == [
        ("session", 0, 10),
        ("sequence_number", 10, 8),
        ("message_count", 18, 2),
    ]
    assert mold.HEADER_SIZE == 20
    assert (mold.SEQUENCE_OFFSET, mold.COUNT_OFFSET, mold.SESSION_SIZE) == (10, 18, 10)


def test_hand_written_packet():
    assert mold.encode_packet(SESSION, 14_757_465, [b"abc", b""]) == HAND_PACKET
    assert mold.decode_packet(HAND_PACKET) == Packet(SESSION, 14_757_465, 2, (b"abc", b""))


def test_session_is_space_padded():
    raw = mold.encode_packet("AB", 1, [b"x"])
    assert raw[:10] == b"AB        "
    assert mold.decode_packet(raw).session == "AB"
    with pytest.raises(ValueError):
        mold.encode_packet("ELEVENCHARS", 1, [b"x"])


def test_heartbeat():
    raw = mold.encode_heartbeat(SESSION, 42)
    assert raw == SESSION.encode() + (42).to_bytes(8, "big") + b"\x00\x00"
    pkt = mold.decode_packet(raw)
    assert pkt == Packet(SESSION, 42, 0, ())
    assert pkt.is_heartbeat and not pkt.is_end_of_session


def test_end_of_session():
    raw = mold.encode_end_of_session(SESSION, 1000)
    assert raw == SESSION.encode() + (1000).to_bytes(8, "big") + b"\xff\xff"
    pkt = mold.decode_packet(raw)
    assert pkt == Packet(SESSION, 1000, 0xFFFF, ())
    assert pkt.is_end_of_session and not pkt.is_heartbeat


def test_request():
    raw = mold.encode_request(SESSION, 7, 300)
    assert raw == SESSION.encode() + (7).to_bytes(8, "big") + (300).to_bytes(2, "big")
    hdr = mold.HEADER.decode(raw)
    assert (hdr["sequence_number"], hdr["message_count"]) == (7, 300)
    for bad in (0, 0xFFFF, 0x10000):
        with pytest.raises(ValueError):
            mold.encode_request(SESSION, 7, bad)


def test_encode_packet_limits():
    with pytest.raises(ValueError):
        mold.encode_packet(SESSION, 1, [])
    with pytest.raises(ValueError):
        mold.encode_packet(SESSION, 1, [b""] * 0xFFFF)
    with pytest.raises(ValueError):
        mold.encode_packet(SESSION, 1, [bytes(0x10000)])
    assert len(mold.encode_packet(SESSION, 1, [bytes(0xFFFF)])) == 20 + 2 + 0xFFFF


@pytest.mark.parametrize("size", range(mold.HEADER_SIZE))
def test_short_header_is_malformed(size):
    with pytest.raises(MalformedPacket):
        mold.decode_packet(HAND_PACKET[:size])


def test_count_overrun_is_malformed():
    raw = mold.encode_packet(SESSION, 1, [b"abc"])
    overrun = raw[:18] + (2).to_bytes(2, "big") + raw[20:]
    with pytest.raises(MalformedPacket, match="count"):
        mold.decode_packet(overrun)
    # Half a block length left after the last message is an overrun too.
    with pytest.raises(MalformedPacket):
        mold.decode_packet(overrun + b"\x00")


def test_block_length_overrun_is_malformed():
    raw = mold.encode_packet(SESSION, 1, [b"abcdef"])
    lying = raw[:20] + (7).to_bytes(2, "big") + raw[22:]
    with pytest.raises(MalformedPacket, match="overruns"):
        mold.decode_packet(lying)


def _assert_prefix_correct(cut: bytes, whole: bytes) -> None:
    """A truncated packet raises MalformedPacket or yields a correct prefix."""
    full = mold.decode_packet(whole)
    try:
        got = mold.decode_packet(cut)
    except MalformedPacket:
        return
    assert (got.session, got.sequence, got.count) == (full.session, full.sequence, full.count)
    assert got.messages == full.messages[: len(got.messages)]


@pytest.mark.parametrize(
    "raw",
    [
        HAND_PACKET,
        mold.encode_heartbeat(SESSION, 9),
        mold.encode_end_of_session(SESSION, 9),
        mold.encode_packet(SESSION, 5, [b"A" * 36, b"", b"D" * 19, b"xyz"]),
    ],
    ids=["hand", "heartbeat", "end-of-session", "four-messages"],
)
def test_truncated_at_every_byte(raw):
    for cut in range(len(raw) + 1):
        _assert_prefix_correct(raw[:cut], raw)
    # Every cut that loses a message of a data packet is detected.
    full = mold.decode_packet(raw)
    if full.messages:
        for cut in range(len(raw)):
            with pytest.raises(MalformedPacket):
                mold.decode_packet(raw[:cut])


@FAST
@given(session=sessions, seq=sequences, msgs=messages)
def test_roundtrip_encode_decode(session, seq, msgs):
    raw = mold.encode_packet(session, seq, msgs)
    assert len(raw) == 20 + sum(2 + len(m) for m in msgs)
    pkt = mold.decode_packet(raw)
    assert pkt == Packet(session, seq, len(msgs), tuple(msgs))
    assert mold.encode_packet(pkt.session, pkt.sequence, pkt.messages) == raw
    for cut in range(len(raw)):
        _assert_prefix_correct(raw[:cut], raw)


@FAST
@given(session=sessions, seq=sequences, msgs=messages, data=st.data())
def test_decode_never_raises_anything_but_malformed(session, seq, msgs, data):
    raw = bytearray(mold.encode_packet(session, seq, msgs))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        raw[data.draw(st.integers(min_value=0, max_value=len(raw) - 1))] = data.draw(
            st.integers(min_value=0, max_value=255)
        )
    try:
        pkt = mold.decode_packet(bytes(raw))
    except MalformedPacket:
        return
    assert pkt.count in (0, 0xFFFF) or len(pkt.messages) == pkt.count


@FAST
@given(raw=st.binary(max_size=80))
def test_random_bytes_never_raise_anything_but_malformed(raw):
    try:
        pkt = mold.decode_packet(raw)
    except MalformedPacket:
        return
    assert pkt.sequence == int.from_bytes(raw[10:18], "big")
    assert pkt.count in (0, 0xFFFF) or len(pkt.messages) == pkt.count


@FAST
@given(
    lengths=st.lists(st.integers(min_value=0, max_value=200), max_size=60),
    first=st.integers(min_value=0, max_value=(1 << 63)),
    max_payload=st.integers(min_value=20 + 2 + 200, max_value=1500),
)
def test_pack_messages(lengths, first, max_payload):
    msgs = [bytes([i % 256]) * n for i, n in enumerate(lengths)]
    packets = mold.pack_messages(SESSION, first, msgs, max_payload=max_payload)
    if not msgs:
        assert packets == []
        return
    decoded = [mold.decode_packet(p) for p in packets]
    expect_seq = first
    for i, (raw, pkt) in enumerate(zip(packets, decoded, strict=True)):
        assert len(raw) <= max_payload
        assert pkt.session == SESSION and pkt.count == len(pkt.messages) >= 1
        assert pkt.sequence == expect_seq  # consecutive sequence numbers
        expect_seq += pkt.count
        if i + 1 < len(packets):  # greedy: the next message would not have fit
            assert len(raw) + 2 + len(decoded[i + 1].messages[0]) > max_payload
    assert [m for pkt in decoded for m in pkt.messages] == msgs


def test_pack_messages_exact_fit():
    msgs = [bytes(38)] * 5  # 40 bytes a block
    # 20 + 2 * 40 = 100: two blocks fill a 100-byte budget exactly ...
    assert [mold.decode_packet(p).count for p in mold.pack_messages(SESSION, 1, msgs, 100)] == [
        2, 2, 1]
    # ... and one byte less leaves room for only one.
    assert [mold.decode_packet(p).count for p in mold.pack_messages(SESSION, 1, msgs, 99)] == [
        1, 1, 1, 1, 1]
    assert all(len(p) == 100 for p in mold.pack_messages(SESSION, 1, msgs[:4], 100))


def test_pack_messages_default_budget_is_1400():
    msgs = [bytes(36)] * 100  # 38 bytes a block: 36 blocks fit in 1400 - 20
    packets = mold.pack_messages(SESSION, 1, msgs)
    assert [mold.decode_packet(p).count for p in packets] == [36, 36, 28]
    assert [mold.decode_packet(p).sequence for p in packets] == [1, 37, 73]
