"""The C decoder agrees with the reference decoder (``protocols.itch50``) on
every ITCH 5.0 type, carried three ways: MoldUDP64 in Ethernet frames (with
VLAN tags and IPv4 options), bare MoldUDP64 payloads (GW_LINK_MOLD) and bare
messages (GW_LINK_ITCH, as a BinaryFILE hands them over).

Messages are arbitrary bytes behind a valid type code, so every field takes
values from its whole range, alpha fields included (any byte, any padding).
"""

from __future__ import annotations

import numpy as np
import pytest
from _frames import (
    ETH,
    ITCH,
    MOLD,
    TYPES,
    by_type,
    digest_sum,
    expected_from_messages,
    expected_from_packets,
    hyp,
    mixed_messages,
    run_frames,
    spec_len,
    split_packets,
    udp_frame,
)
from hypothesis import given
from hypothesis import strategies as st

from gateway.native import NO_SESSION, digest_of
from protocols import itch50

SETTINGS = hyp(12)


def message_of(code: str) -> st.SearchStrategy[bytes]:
    n = spec_len(code)
    return st.binary(min_size=n - 1, max_size=n - 1).map(lambda b: code.encode() + b)


any_message = st.sampled_from(TYPES).flatmap(message_of)


@st.composite
def carriage(draw: st.DrawFn) -> dict:
    """How a message list travels: packet sizes, session, sequence, framing."""
    ntags = draw(st.integers(0, 2))
    return {
        "per_packet": draw(st.lists(st.integers(1, 9), min_size=1, max_size=4)),
        "session": draw(st.binary(min_size=10, max_size=10)),
        "first_seq": draw(st.integers(1, 2**48)),
        "vlans": draw(st.lists(st.integers(0, 4095), min_size=ntags, max_size=ntags)),
        "ip_options": bytes(4 * draw(st.integers(0, 10))),
        "udp_checksum": draw(st.booleans()),
        "verify": draw(st.booleans()),
    }


def check_stats(res, messages: list[bytes], frames: int) -> None:
    st_ = res.stats
    assert st_.frames == frames
    assert st_.messages == len(messages)
    assert st_.message_bytes == sum(len(m) for m in messages)
    assert st_.by_type == by_type(messages)
    assert st_.digest == digest_sum(messages)
    assert st_.reasons == {}
    assert st_.gaps == 0 and st_.gap_messages == 0 and st_.dup_messages == 0


def check_ethernet(messages: list[bytes], how: dict) -> None:
    payloads = split_packets(messages, how["per_packet"], how["first_seq"], how["session"])
    frames = [
        udp_frame(p, vlans=how["vlans"], ip_options=how["ip_options"],
                  udp_checksum=how["udp_checksum"])
        for p in payloads
    ]
    res = run_frames(frames, ETH, verify_checksums=how["verify"])
    assert res.dicts() == expected_from_packets(payloads)
    check_stats(res, messages, len(frames))
    assert res.stats.udp_packets == res.stats.mold_packets == len(frames)
    # Record provenance: frame index, receive time, length, sequence.
    owner = [i for i, p in enumerate(payloads) for _ in range(int.from_bytes(p[18:20], "big"))]
    assert res.records["frame"].tolist() == owner
    assert res.records["rx_ns"].tolist() == [1_700_000_000_000_000_000 + i * 1000 for i in owner]
    assert res.records["length"].tolist() == [len(m) for m in messages]
    first = how["first_seq"]
    assert res.records["seq"].tolist() == list(range(first, first + len(messages)))
    (sess,) = res.decoder.sessions()
    assert sess.first_seq == first and sess.next_seq == first + len(messages)
    assert sess.messages == len(messages) and sess.packets == len(frames)


def check_mold(messages: list[bytes], how: dict) -> None:
    payloads = split_packets(messages, how["per_packet"], how["first_seq"], how["session"])
    res = run_frames(payloads, MOLD)
    assert res.dicts() == expected_from_packets(payloads)
    check_stats(res, messages, len(payloads))
    assert res.stats.udp_packets == 0 and res.stats.mold_packets == len(payloads)


def check_itch(messages: list[bytes]) -> None:
    res = run_frames(messages, ITCH)
    assert res.dicts(with_sequence=False) == expected_from_messages(messages)
    check_stats(res, messages, len(messages))
    # BinaryFILE messages: no session, sequence is the 1-based ordinal.
    assert set(res.records["session"].tolist()) <= {NO_SESSION}
    assert res.records["seq"].tolist() == list(range(1, len(messages) + 1))
    assert res.decoder.sessions() == []


@pytest.mark.parametrize("code", TYPES)
@SETTINGS
@given(data=st.data())
def test_every_type_in_ethernet_frames(code: str, data: st.DataObject) -> None:
    messages = data.draw(st.lists(message_of(code), min_size=1, max_size=12))
    check_ethernet(messages, data.draw(carriage()))


@pytest.mark.parametrize("code", TYPES)
@SETTINGS
@given(data=st.data())
def test_every_type_as_mold_payloads(code: str, data: st.DataObject) -> None:
    messages = data.draw(st.lists(message_of(code), min_size=1, max_size=12))
    check_mold(messages, data.draw(carriage()))


@pytest.mark.parametrize("code", TYPES)
@SETTINGS
@given(data=st.data())
def test_every_type_as_bare_itch(code: str, data: st.DataObject) -> None:
    messages = data.draw(st.lists(message_of(code), min_size=1, max_size=12))
    check_itch(messages)


@hyp(60)
@given(messages=st.lists(any_message, min_size=1, max_size=60), how=carriage())
def test_mixed_types_all_three_ways(messages: list[bytes], how: dict) -> None:
    check_ethernet(messages, how)
    check_mold(messages, how)
    check_itch(messages)


def test_every_field_of_every_type_seen_by_name() -> None:
    """One message per type with distinct bytes in every position: each named
    field lands in its own slot (guards the generated fill functions)."""
    messages = []
    for code in TYPES:
        n = spec_len(code)
        messages.append(code.encode() + bytes((7 * j + 1) % 251 + 1 for j in range(n - 1)))
    payloads = split_packets(messages, [len(messages)])
    res = run_frames([udp_frame(p) for p in payloads])
    got = res.dicts()
    for msg, d in zip(messages, got, strict=True):
        lay = itch50.layout_of(msg[0])
        assert list(d)[1:-2] == [f.name for f in lay.fields[1:]]
        assert d == {**itch50.decode(msg), "session": "SESSION001", "sequence": d["sequence"]}
    # Unused slots are zero, nfields is the table's field count.
    for rec, msg in zip(res.records, messages, strict=True):
        nf = len(itch50.layout_of(msg[0]).fields)
        assert rec["nfields"] == nf
        assert not rec["v"][nf:].any()


def test_digest_is_the_documented_formula() -> None:
    msg = b"A" + bytes.fromhex("1234") + b"\x00\x01" + bytes.fromhex("0102030405ff") + bytes(25)
    ts, locate = 0x0102030405FF, 0x1234
    assert digest_of(msg) == ts ^ (locate << 48) ^ (ord("A") << 56)
    res = run_frames([msg, msg], ITCH)
    assert res.stats.digest == (2 * digest_of(msg)) % 2**64


def test_digest_wraps_modulo_2_64() -> None:
    big = b"S" + b"\xff" * 10 + b"O"  # digest close to 2**64
    res = run_frames([big] * 5, ITCH)
    assert res.stats.digest == (5 * digest_of(big)) % 2**64
    assert 5 * digest_of(big) >= 2**64


def test_types_filter_limits_records_not_counting() -> None:
    messages = mixed_messages(92)
    payloads = split_packets(messages, [5])
    res = run_frames([udp_frame(p) for p in payloads], types="A,F")
    want = [d for d in expected_from_packets(payloads) if d["type"] in "AF"]
    assert res.dicts() == want and len(want) == 8
    assert res.stats.messages == len(messages)
    assert res.stats.by_type == by_type(messages)


def test_line_and_rx_ns_are_copied_from_the_frame() -> None:
    payloads = split_packets(mixed_messages(10), [4])
    frames = [udp_frame(p) for p in payloads]
    rx = [-5, 0, 2**62]
    res = run_frames(frames, rx_ns=rx, lines=[0, 1, 7])
    per_frame = [4, 4, 2]
    assert res.records["rx_ns"].tolist() == np.repeat(rx, per_frame).tolist()
    assert res.records["line"].tolist() == np.repeat([0, 1, 7], per_frame).tolist()
    assert res.stats.first_rx_ns == -5 and res.stats.last_rx_ns == 2**62


@hyp(100)
@given(msg=st.binary(min_size=0, max_size=60))
def test_c_digest_of_matches_python(msg: bytes) -> None:
    from gateway._native import ffi, lib

    got = lib.gw_itch_digest_of(ffi.from_buffer("uint8_t[]", msg), len(msg))
    assert got == (digest_of(msg) if len(msg) >= itch50.HEADER_SIZE else 0)


def test_types_must_be_itch_types() -> None:
    from gateway.errors import ConfigError
    from gateway.native import Decoder

    for bad in ("Z", "A,Z", "a", "AB?"):
        with pytest.raises(ConfigError):
            Decoder(records=True, types=bad)
    Decoder(records=True, types="A,F,h")
