"""Bad input gives a counted, named reason -- the matching one and only it --
never a crash.

Each case below is one bad frame next to what it must produce: the exact
reason counters and how many messages still decode.  Then: truncated pcap
and pcapng files, files that are not captures at all, and hypothesis
throwing random and mutated bytes at every link type with the counters
required to add up.
"""

from __future__ import annotations

import gzip
import os
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _frames import (
    ETH,
    ETHERTYPE_ARP,
    ETHERTYPE_IPV6,
    FRAME_REASONS,
    IP_DF,
    IP_MF,
    ITCH,
    MOLD,
    RAW,
    RAW_IPV4,
    SLL,
    SLL2,
    TYPES,
    binfile_bytes,
    ethernet,
    expected_from_messages,
    expected_from_packets,
    hyp,
    ipv4_packet,
    mold_packet,
    pcap_bytes,
    pcapng_bytes,
    read_all,
    run_frames,
    sample_message,
    spec_len,
    udp_frame,
    udp_segment,
    write,
)
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InputError
from gateway.native import REASONS, Source
from protocols import moldudp64 as mold

A = sample_message("A", 1)
S = sample_message("S", 2)
GOOD = mold_packet([A, S], seq=10)
HDR = mold.encode_header("SESSION001", 10, 2)


def blocks(*msgs: bytes) -> bytes:
    return b"".join(len(m).to_bytes(2, "big") + m for m in msgs)


def ip_frame(**kw) -> bytes:
    return ethernet(ipv4_packet(udp_segment(GOOD), **kw))


@dataclass
class Case:
    frames: list[bytes]
    reasons: dict[str, int]
    messages: int = 0
    link: int = ETH
    verify: bool = False
    extra: dict = field(default_factory=dict)


CASES: dict[str, Case] = {
    # ---- link layer
    "short_frame/eth": Case([b"\x01" * 13], {"short_frame": 1}),
    "short_frame/eth_no_ip_header": Case([ethernet(b"\x45" * 19)], {"short_frame": 1}),
    "short_frame/vlan_tag_cut": Case([ethernet(b"", vlans=(5,))[:16]], {"short_frame": 1}),
    "short_frame/raw_ipv4": Case([ipv4_packet(udp_segment(GOOD))[:19]], {"short_frame": 1},
                                 link=RAW_IPV4),
    "short_frame/sll": Case([b"\x00" * 15], {"short_frame": 1}, link=SLL),
    "short_frame/sll2": Case([b"\x00" * 19], {"short_frame": 1}, link=SLL2),
    "arp": Case([ethernet(bytes(28), ethertype=ETHERTYPE_ARP, pad_to=60)], {"arp": 1}),
    "ipv6/ethertype": Case([ethernet(bytes([0x60]) + bytes(60), ethertype=ETHERTYPE_IPV6)],
                           {"ipv6": 1}),
    "ipv6/version_nibble": Case([ip_frame(version=6)], {"ipv6": 1}),
    "ipv6/raw_link": Case([bytes([0x60]) + bytes(60)], {"ipv6": 1}, link=RAW),
    "other_ethertype": Case([ethernet(bytes(46), ethertype=0x88CC)], {"other_ethertype": 1}),
    "other_ethertype/sll": Case([bytes(14) + b"\x88\xcc" + bytes(30)], {"other_ethertype": 1},
                                link=SLL),
    "vlan_too_deep": Case([udp_frame(GOOD, vlans=(1, 2, 3))], {"vlan_too_deep": 1}),
    "vlan_too_deep/qinq": Case([udp_frame(GOOD, vlans=(1, 2, 3), tpids=(0x88A8, 0x8100, 0x8100))],
                               {"vlan_too_deep": 1}),
    "unknown_linktype": Case([udp_frame(GOOD)], {"unknown_linktype": 1}, link=999),
    # ---- IPv4
    "bad_ip_header/version": Case([ip_frame(version=5)], {"bad_ip_header": 1}),
    "bad_ip_header/ihl": Case([ip_frame(ihl=4)], {"bad_ip_header": 1}),
    "bad_ip_header/total_below_ihl": Case([ip_frame(total_length=19)], {"bad_ip_header": 1}),
    "bad_ip_header/total_beyond_frame": Case(
        [ip_frame(total_length=20 + 8 + len(GOOD) + 1)], {"bad_ip_header": 1}),
    "snapped": Case([udp_frame(GOOD)[:-1]], {"snapped": 1},
                    extra={"wire_lens": [len(udp_frame(GOOD))]}),
    "ip_fragment/more_fragments": Case([ip_frame(flags_frag=IP_MF)], {"ip_fragment": 1}),
    "ip_fragment/offset": Case([ip_frame(flags_frag=185)], {"ip_fragment": 1}),
    "ip_fragment/last_fragment_df": Case([ip_frame(flags_frag=IP_DF | 1)], {"ip_fragment": 1}),
    "tcp": Case([ip_frame(proto=6)], {"tcp": 1}),
    "other_ip_protocol/igmp": Case([ip_frame(proto=2)], {"other_ip_protocol": 1}),
    "other_ip_protocol/icmp": Case([ip_frame(proto=1)], {"other_ip_protocol": 1}),
    # ---- UDP
    "bad_udp_header/length_below_8": Case(
        [ethernet(ipv4_packet(udp_segment(GOOD, length=7)))], {"bad_udp_header": 1}),
    "bad_udp_header/length_beyond_ip": Case(
        [ethernet(ipv4_packet(udp_segment(GOOD, length=8 + len(GOOD) + 1)))],
        {"bad_udp_header": 1}),
    "short_frame/udp_header_cut": Case([ethernet(ipv4_packet(b"\x00" * 7))], {"short_frame": 1}),
    # ---- checksums (only when asked to verify)
    "ip_checksum": Case([ip_frame(checksum=0x1234)], {"ip_checksum": 1}, verify=True),
    "ip_checksum/not_verified": Case([ip_frame(checksum=0x1234)], {}, messages=2),
    "udp_checksum": Case([udp_frame(GOOD, udp_checksum=0x1234)], {"udp_checksum": 1},
                         verify=True),
    "udp_checksum/not_verified": Case([udp_frame(GOOD, udp_checksum=0x1234)], {}, messages=2),
    "udp_checksum/absent_is_fine": Case([udp_frame(GOOD, udp_checksum=False)], {}, messages=2,
                                        verify=True),
    "udp_checksum/odd_length_ok": Case([udp_frame(GOOD + b"\x01")], {"mold_trailing_bytes": 1},
                                       messages=2, verify=True),
    "checksums/ip_options_ok": Case([udp_frame(GOOD, ip_options=b"\x94\x04\x00\x00" * 3)], {},
                                    messages=2, verify=True),
    # ---- MoldUDP64
    "mold_short": Case([udp_frame(GOOD[:19])], {"mold_short": 1}),
    "mold_short/empty_datagram": Case([udp_frame(b"")], {"mold_short": 1}),
    "mold_short/mold_link": Case([GOOD[:19]], {"mold_short": 1}, link=MOLD),
    # A MoldUDP64 payload no UDP datagram could carry (only a caller can make one).
    "oversized_frame": Case([mold_packet([S] * 4700)], {"oversized_frame": 1}, link=MOLD),
    "mold_count_overrun": Case([udp_frame(mold.encode_header("S", 1, 3) + blocks(A, S))],
                               {"mold_count_overrun": 1}, messages=2),
    "mold_count_overrun/half_length": Case(
        [udp_frame(mold.encode_header("S", 1, 3) + blocks(A, S) + b"\x00")],
        {"mold_count_overrun": 1}, messages=2),
    "mold_length_overrun": Case(
        [udp_frame(mold.encode_header("S", 1, 2) + blocks(A) + b"\x00\x64" + A)],
        {"mold_length_overrun": 1}, messages=1),
    "mold_trailing_bytes": Case([udp_frame(GOOD + b"xyz")], {"mold_trailing_bytes": 1},
                                messages=2),
    "mold_trailing_bytes/heartbeat": Case([udp_frame(mold.encode_heartbeat("S", 5) + b"x")],
                                          {"mold_trailing_bytes": 1}),
    "mold_trailing_bytes/end_of_session": Case(
        [udp_frame(mold.encode_end_of_session("S", 5) + b"xy")], {"mold_trailing_bytes": 1}),
    "mold_duplicate": Case([udp_frame(GOOD)] * 2, {"mold_duplicate": 2}, messages=2),
    "mold_sessions_full": Case(
        [udp_frame(mold_packet([A], 1, f"S{i:02d}")) for i in range(17)],
        {"mold_sessions_full": 1}, messages=16),
    # ---- ITCH inside MoldUDP64
    "itch_empty": Case([udp_frame(mold.encode_header("S", 1, 3) + blocks(A, b"", S))],
                       {"itch_empty": 1}, messages=2),
    "itch_unknown_type": Case([udp_frame(mold_packet([b"Z" + bytes(19), A]))],
                              {"itch_unknown_type": 1}, messages=1),
    "itch_truncated": Case([udp_frame(mold_packet([A[:-1], S]))], {"itch_truncated": 1},
                           messages=1),
    "itch_truncated/header_only": Case([udp_frame(mold_packet([b"A"]))], {"itch_truncated": 1}),
    "itch_longer": Case([udp_frame(mold_packet([A + b"extra", S]))], {"itch_longer": 1},
                        messages=2),
    # ---- bare ITCH (BinaryFILE frames)
    "itch_empty/bare": Case([b""], {"itch_empty": 1}, link=ITCH),
    "itch_unknown_type/bare": Case([b"z" * 30], {"itch_unknown_type": 1}, link=ITCH),
    "itch_truncated/bare": Case([S[:-1]], {"itch_truncated": 1}, link=ITCH),
    "itch_longer/bare": Case([S + b"\x00"], {"itch_longer": 1}, messages=1, link=ITCH),
}

#: Reasons only a source counts (tested in test_sources / below).
SOURCE_REASONS = {"binfile_zero_length", "binfile_length_mismatch", "binfile_unframeable",
                  "truncated_record", "filtered"}
#: Reasons only the live feed's hold mode counts (tested in test_sequencer_hold).
HOLD_REASONS = {"mold_hold_full", "mold_late_join"}
#: Counted only with a destination filter set (tested in test_destinations).
FILTER_REASONS = {"other_destination"}


@pytest.mark.parametrize("name", list(CASES))
def test_each_bad_input_counts_its_reason_and_only_it(name: str) -> None:
    case = CASES[name]
    res = run_frames(case.frames, case.link, verify_checksums=case.verify, **case.extra)
    assert res.stats.reasons == case.reasons
    assert res.stats.messages == case.messages == len(res.records)
    assert res.stats.frames == len(case.frames)


def test_every_decoder_reason_has_a_case() -> None:
    covered = {r for c in CASES.values() for r in c.reasons}
    assert covered == set(REASONS) - SOURCE_REASONS - HOLD_REASONS - FILTER_REASONS


def test_reason_names_are_unique_snake_case_and_out_of_range_is_named() -> None:
    from gateway._native import ffi, lib

    assert len(REASONS) == lib.GW_R__COUNT == len(set(REASONS))
    assert all(r.replace("_", "").isalnum() and r.islower() for r in REASONS)
    for bad in (-1, lib.GW_R__COUNT, 10_000):
        assert ffi.string(lib.gw_reason_name(bad)) == b"unknown_reason"


def test_good_frame_decodes_with_and_without_verification() -> None:
    for verify in (False, True):
        res = run_frames([udp_frame(GOOD)], verify_checksums=verify)
        assert res.stats.reasons == {} and res.stats.messages == 2


def test_ethernet_padding_and_fcs_after_the_datagram_are_ignored() -> None:
    short = mold_packet([S], seq=1)
    frames = [udp_frame(short, pad_to=60 + 40), udp_frame(short, pad_to=200) + b"\xde\xad\xbe\xef"]
    res = run_frames(frames, verify_checksums=True)
    assert res.stats.reasons == {"mold_duplicate": 1}
    assert res.dicts() == expected_from_packets([short])


def test_what_survives_a_bad_block_is_exact() -> None:
    """Blocks in front of an unknown/truncated/empty one decode with their own
    sequence numbers; the bad one still takes its sequence number."""
    pkt = mold.encode_header("SESSION001", 100, 5) + blocks(A, b"Z" + bytes(19), S, b"", A[:20])
    res = run_frames([udp_frame(pkt)])
    assert res.stats.reasons == {"itch_unknown_type": 1, "itch_empty": 1, "itch_truncated": 1}
    assert res.records["seq"].tolist() == [100, 102]
    (s,) = res.decoder.sessions()
    assert s.next_seq == 105


def test_itch_longer_decodes_the_known_prefix() -> None:
    for code in TYPES:
        msg = sample_message(code, 3)
        res = run_frames([msg + b"\xff" * 9], ITCH)
        assert res.dicts(with_sequence=False) == expected_from_messages([msg])
        assert res.records["length"].tolist() == [spec_len(code) + 9]
        assert res.stats.message_bytes == spec_len(code) + 9


# ------------------------------------------------------------ capture files


def small_capture() -> tuple[list[bytes], list[int]]:
    payloads = [mold_packet([sample_message(c, i)], seq=i + 1) for i, c in enumerate("SAFEP")]
    frames = [udp_frame(p, vlans=(3,)) for p in payloads]
    return frames, [1_600_000_000_000_000_000 + i for i in range(len(frames))]


@pytest.mark.parametrize("force_libpcap", [False, True])
@pytest.mark.parametrize("where", ["record_header", "record_body"])
def test_truncated_pcap_keeps_what_came_before(tmp_path: Path, where: str,
                                               force_libpcap: bool) -> None:
    frames, ts = small_capture()
    data = pcap_bytes(frames, ts)
    # Start of the 4th record, then 5 bytes into its header or its body.
    start = 24 + sum(16 + len(f) for f in frames[:3])
    cut = start + (5 if where == "record_header" else 16 + 30)
    res, src = read_all(write(tmp_path / "t.pcap", data[:cut]), force_libpcap=force_libpcap)
    assert src.info().reasons == {"truncated_record": 1}
    assert res.stats.frames == 3 and res.stats.messages == 3
    assert res.stats.reasons == {}
    assert [d["type"] for d in res.dicts()] == ["S", "A", "F"]
    if force_libpcap:
        assert "truncated" in src.info().error


def test_pcapng_cut_at_every_byte(tmp_path: Path) -> None:
    frames, ts = small_capture()
    data = pcapng_bytes(frames, ts)
    head = 28 + 32  # SHB + IDB (with if_tsresol)
    ends, pos = [], head
    for f in frames:
        pos += 32 + len(f) + (-len(f) % 4)
        ends.append(pos)
    assert ends[-1] == len(data)
    path = tmp_path / "t.pcapng"
    for k in range(len(data) + 1):
        write(path, data[:k])
        if k < head:
            with pytest.raises(InputError):
                Source(path)
            continue
        res, src = read_all(path)
        n = sum(1 for e in ends if e <= k)
        assert res.stats.frames == res.stats.messages == n, k
        want = {} if k == head or k in ends else {"truncated_record": 1}
        assert src.info().reasons == want, k


def test_not_a_capture_is_an_input_error(tmp_path: Path) -> None:
    rng = random.Random(7)
    noise = bytes(rng.randrange(256) for _ in range(4096))
    assert noise[2:3] not in {t.encode() for t in TYPES} and noise[:2] != b"\x1f\x8b"
    cases = {
        "text.txt": b"# not a capture\nhello, world\n" * 20,
        "noise.bin": noise,
        "empty.pcap": b"",
        "pcap_magic_only.pcap": struct.pack("<I", 0xA1B2C3D4) + b"\x02\x00",
        "pcapng_shb_cut.pcapng": pcapng_bytes([], [])[:20],
    }
    for name, data in cases.items():
        path = write(tmp_path / name, data)
        with pytest.raises(InputError):
            Source(path)
    os.mkdir(tmp_path / "a_directory")
    for path in (tmp_path / "a_directory", tmp_path / "missing.pcap"):
        with pytest.raises(InputError):
            Source(path)


@pytest.mark.parametrize("where", ["header", "middle", "crc", "length"])
def test_corrupt_gzip_binaryfile_is_reported(tmp_path: Path, where: str) -> None:
    gz = bytearray(gzip.compress(binfile_bytes([sample_message(c, 1) for c in TYPES] * 9),
                                 mtime=0))
    pos = {"header": 12, "middle": len(gz) // 2, "crc": len(gz) - 6, "length": len(gz) - 2}
    gz[pos[where]] ^= 0x55
    _, src = read_all(write(tmp_path / "bad.itch.gz", bytes(gz)))
    info = src.info()
    assert info.reasons == {"truncated_record": 1}
    assert info.error.startswith("gzip: ")


# ------------------------------------------------------------- hypothesis

LINKS = [ETH, RAW_IPV4, RAW, SLL, SLL2, MOLD, ITCH, 12345]


def seed_frame(link: int, rng: random.Random) -> bytes:
    """A valid frame of ``link`` for the mutator to start from."""
    msgs = [sample_message(rng.choice(TYPES), rng.randrange(1000)) for _ in range(rng.randrange(4))]
    payload = mold_packet(msgs, rng.randrange(1, 50)) if msgs else mold.encode_heartbeat("S", 3)
    ip = ipv4_packet(udp_segment(payload))
    if link == ETH:
        return ethernet(ip, vlans=[1] * rng.randrange(3))
    if link in (RAW_IPV4, RAW, 12345):
        return ip
    if link == SLL:
        return bytes(14) + b"\x08\x00" + ip
    if link == SLL2:
        return b"\x08\x00" + bytes(18) + ip
    if link == MOLD:
        return payload
    return msgs[0] if msgs else b"S"


@st.composite
def frames_of_a_link(draw: st.DrawFn) -> tuple[int, list[bytes]]:
    link = draw(st.sampled_from(LINKS))
    rng = random.Random(draw(st.integers(0, 2**32)))
    out = []
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):
            out.append(draw(st.binary(max_size=120)))
            continue
        fr = bytearray(seed_frame(link, rng))
        for _ in range(draw(st.integers(0, 4))):
            if fr:
                fr[draw(st.integers(0, len(fr) - 1))] = draw(st.integers(0, 255))
        cut = draw(st.integers(0, len(fr) + 8))
        out.append(bytes(fr[:cut]) + draw(st.binary(max_size=max(0, cut - len(fr)))))
    return link, out


@hyp(300)
@given(case=frames_of_a_link(), verify=st.booleans())
def test_random_and_mutated_frames_never_crash_and_add_up(case: tuple, verify: bool) -> None:
    link, frames = case
    res = run_frames(frames, link, verify_checksums=verify)
    st_, r = res.stats, res.stats.reasons
    assert st_.frames == len(frames)
    assert st_.frame_bytes == sum(len(f) for f in frames)
    assert len(res.records) == st_.messages == sum(st_.by_type.values())
    assert st_.message_bytes == int(res.records["length"].sum())
    assert set(r) <= set(REASONS) - SOURCE_REASONS
    frame_level = sum(r.get(k, 0) for k in FRAME_REASONS)
    if link == ITCH:
        bad = r.get("itch_empty", 0) + r.get("itch_unknown_type", 0) + r.get("itch_truncated", 0)
        assert st_.messages + bad == len(frames)
        assert frame_level == 0 and st_.mold_packets == 0
        return
    if link == MOLD:
        assert frame_level == 0 and st_.udp_packets == 0
        assert st_.mold_packets + r.get("mold_short", 0) == len(frames)
    elif link == 12345:
        assert r == {"unknown_linktype": len(frames)}
        return
    else:
        # Every frame is either a UDP datagram or dropped with one reason.
        assert st_.udp_packets + frame_level == len(frames)
        assert st_.mold_packets + r.get("mold_short", 0) == st_.udp_packets
    sessions = res.decoder.sessions()
    assert sum(s.packets for s in sessions) + r.get("mold_sessions_full", 0) == st_.mold_packets
    assert st_.messages <= sum(s.messages for s in sessions)
    assert st_.heartbeats == sum(s.heartbeats for s in sessions)
    assert st_.dup_messages == r.get("mold_duplicate", 0)
    assert st_.gap_messages == sum(s.gap_messages for s in sessions)
