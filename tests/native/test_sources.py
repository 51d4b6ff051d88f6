"""Capture file sources: classic pcap (us/ns, little/big endian) through the
mmap path and through libpcap, pcapng, BinaryFILE plain and gzip, the
BinaryFILE framing rules, and BPF filters (VLAN-transparent)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from _frames import (
    ETHERTYPE_ARP,
    ITCH,
    TPID_8021AD,
    binfile_bytes,
    digest_sum,
    ethernet,
    expected_from_messages,
    expected_from_packets,
    ipv4_packet,
    mixed_messages,
    mold_packet,
    pcap_bytes,
    pcapng_bytes,
    read_all,
    sample_message,
    split_packets,
    udp_frame,
    udp_segment,
    write,
)

from gateway.errors import ConfigError
from gateway.native import Decoder, Source

# One session: 60 messages of every type in 14 packets, VLAN depths 0..2,
# with timestamps that carry nanoseconds and one past 2038 (uint32 seconds).
MESSAGES = mixed_messages(60)
PAYLOADS = split_packets(MESSAGES, [1, 4, 9, 3, 6])
FRAMES = [udp_frame(p, vlans=[(), (100,), (100, 200)][i % 3]) for i, p in enumerate(PAYLOADS)]
TS = [1_692_711_000_123_456_789 + 1_000_001 * i for i in range(len(FRAMES) - 1)]
TS.append(4_102_444_800_987_654_321)  # 2100-01-01: seconds above 2**31

FORMATS = {
    "pcap-ns-le": dict(nano=True, big_endian=False),
    "pcap-ns-be": dict(nano=True, big_endian=True),
    "pcap-us-le": dict(nano=False, big_endian=False),
    "pcap-us-be": dict(nano=False, big_endian=True),
}


def capture(tmp_path: Path, fmt: str) -> tuple[Path, bool]:
    """Write the session in ``fmt``; returns the path and whether it is ns."""
    if fmt.startswith("pcapng"):
        nano = fmt == "pcapng-ns"
        return write(tmp_path / f"{fmt}.pcapng", pcapng_bytes(FRAMES, TS, nano=nano)), nano
    return write(tmp_path / f"{fmt}.pcap", pcap_bytes(FRAMES, TS, **FORMATS[fmt])), \
        FORMATS[fmt]["nano"]


@pytest.mark.parametrize("force_libpcap", [False, True])
@pytest.mark.parametrize("fmt", [*FORMATS, "pcapng-ns", "pcapng-us"])
def test_every_capture_format_reads_the_same(tmp_path: Path, fmt: str,
                                             force_libpcap: bool) -> None:
    path, nano = capture(tmp_path, fmt)
    res, src = read_all(path, force_libpcap=force_libpcap)
    assert res.dicts() == expected_from_packets(PAYLOADS)
    want_ts = TS if nano else [t // 1000 * 1000 for t in TS]
    counts = [int.from_bytes(p[18:20], "big") for p in PAYLOADS]
    assert res.records["rx_ns"].tolist() == [t for t, c in zip(want_ts, counts, strict=True) for _ in range(c)]
    assert res.records["frame"].tolist() == [i for i, c in enumerate(counts) for _ in range(c)]
    assert res.stats.first_rx_ns == want_ts[0] and res.stats.last_rx_ns == want_ts[-1]
    assert res.stats.messages == len(MESSAGES) and res.stats.digest == digest_sum(MESSAGES)
    assert res.stats.frames == len(FRAMES) and res.stats.reasons == {}
    info = src.info()
    mmap = not force_libpcap and not fmt.startswith("pcapng")
    assert info.kind == ("pcap-mmap" if mmap else "libpcap")
    assert info.link == 1 and info.frames == len(FRAMES)
    assert info.bytes == sum(len(f) for f in FRAMES)
    assert info.bytes_total == info.bytes_read == path.stat().st_size
    assert info.reasons == {} and info.error == ""


def test_binaryfile_plain_and_gzip_are_identical(tmp_path: Path) -> None:
    data = binfile_bytes(MESSAGES)
    plain, psrc = read_all(write(tmp_path / "day.itch", data))
    gz, gsrc = read_all(write(tmp_path / "day.itch.gz", data, gz=True))
    assert plain.records.tobytes() == gz.records.tobytes()
    assert vars(plain.stats) == vars(gz.stats)
    assert plain.dicts(with_sequence=False) == expected_from_messages(MESSAGES)
    assert plain.records["seq"].tolist() == list(range(1, len(MESSAGES) + 1))
    assert set(plain.records["rx_ns"].tolist()) == {0}  # no receive time in a BinaryFILE
    assert (psrc.info().kind, gsrc.info().kind) == ("binaryfile", "binaryfile-gzip")
    for src in (psrc, gsrc):
        info = src.info()
        assert info.link == ITCH and info.frames == len(MESSAGES)
        assert info.reasons == {} and info.error == ""
        assert info.bytes == sum(len(m) for m in MESSAGES)


def test_binaryfile_zero_prefixes_are_framed_by_the_spec(tmp_path: Path) -> None:
    data = binfile_bytes(MESSAGES, zero_prefix=True)
    res, src = read_all(write(tmp_path / "zero.itch", data))
    assert res.dicts(with_sequence=False) == expected_from_messages(MESSAGES)
    assert src.info().reasons == {"binfile_zero_length": len(MESSAGES)}
    assert res.stats.reasons == {}


def test_binaryfile_prefix_disagreeing_with_the_spec_frames_by_the_prefix(tmp_path: Path) -> None:
    a, s, e = sample_message("A", 1), sample_message("S", 2), sample_message("E", 3)
    data = (
        binfile_bytes([s])
        + (len(a) + 4).to_bytes(2, "big") + a + b"\xee" * 4  # longer: decoded, prefix kept
        + (len(e) - 5).to_bytes(2, "big") + e[:-5]  # shorter: truncated, dropped
        + binfile_bytes([s, e])
    )
    res, src = read_all(write(tmp_path / "mismatch.itch", data))
    assert src.info().reasons == {"binfile_length_mismatch": 2}
    assert res.stats.reasons == {"itch_longer": 1, "itch_truncated": 1}
    assert res.dicts(with_sequence=False) == expected_from_messages([s, a, s, e])
    assert res.records["seq"].tolist() == [1, 2, 4, 5]  # ordinals count the dropped one
    assert res.records["length"].tolist() == [len(s), len(a) + 4, len(s), len(e)]


def test_binaryfile_zero_prefix_before_unknown_type_stops(tmp_path: Path) -> None:
    good = mixed_messages(5)
    data = binfile_bytes(good) + b"\x00\x00Z" + bytes(30) + binfile_bytes(good)
    res, src = read_all(write(tmp_path / "lost.itch", data))
    assert res.dicts(with_sequence=False) == expected_from_messages(good)
    info = src.info()
    assert info.reasons == {"binfile_unframeable": 1}
    assert "unknown type" in info.error and "cannot frame" in info.error
    offset = len(binfile_bytes(good))
    assert str(offset) in info.error


def test_binaryfile_unknown_type_with_a_prefix_is_skipped(tmp_path: Path) -> None:
    good = mixed_messages(3)
    data = binfile_bytes(good[:1]) + b"\x00\x05Zabcd" + binfile_bytes(good[1:])
    res, src = read_all(write(tmp_path / "skip.itch", data))
    assert res.dicts(with_sequence=False) == expected_from_messages(good)
    assert res.stats.reasons == {"itch_unknown_type": 1} and src.info().reasons == {}


@pytest.mark.parametrize("gz", [False, True])
def test_binaryfile_larger_than_the_read_window(tmp_path: Path, gz: bool) -> None:
    """Messages straddle the 4 MiB window: every one is still framed."""
    block = mixed_messages(997, start=5)  # odd sizes, so boundaries fall everywhere
    repeats = 5_300_000 // len(binfile_bytes(block)) + 1
    data = binfile_bytes(block) * repeats
    assert len(data) > 5_000_000
    src = Source(write(tmp_path / ("big.itch.gz" if gz else "big.itch"), data, gz=gz))
    dec = Decoder()
    dec.run(src)
    st_ = dec.stats()
    assert st_.messages == len(block) * repeats
    assert st_.digest == digest_sum(block) * repeats % 2**64
    assert st_.reasons == {} and src.info().reasons == {}
    assert src.info().frames == len(block) * repeats


def test_libpcap_arena_refills_with_large_frames(tmp_path: Path) -> None:
    """Frames near 64 KiB through libpcap (copied into a 4 MiB arena per burst)
    decode exactly like the same frames mapped in place."""
    frames, messages = [], []
    for i in range(80):
        msgs = [sample_message("S", 4000 * i + j) for j in range(4000 + i)]
        messages += msgs
        frames.append(udp_frame(mold_packet(msgs, seq=1 + len(messages) - len(msgs))))
    ts = [1_700_000_000_000_000_000 + i for i in range(len(frames))]
    stats = []
    for path, force in ((write(tmp_path / "big.pcap", pcap_bytes(frames, ts)), False),
                        (tmp_path / "big.pcap", True),
                        (write(tmp_path / "big.pcapng", pcapng_bytes(frames, ts)), False)):
        src = Source(path, force_libpcap=force)
        dec = Decoder()
        dec.run(src)
        stats.append(vars(dec.stats()))
        assert src.info().frames == len(frames) and src.info().reasons == {}
    assert stats[0] == stats[1] == stats[2]
    assert stats[0]["messages"] == len(messages) and stats[0]["gaps"] == 0
    assert stats[0]["digest"] == digest_sum(messages)


def test_pcap_linktype_with_fcs_bits_reads_like_libpcap(tmp_path: Path) -> None:
    """The pcap link-type field carries FCS information in its top bits
    (bit 26: FCS present, bits 28-31: its length); the link type itself is
    below them, as libpcap reads it."""
    fcs = 0x04000000 | (2 << 28)  # 'f' bit and 2 sixteen-bit words of FCS
    frames = [f + b"\xaa\xbb\xcc\xdd" for f in FRAMES]
    path = write(tmp_path / "fcs.pcap", pcap_bytes(frames, TS, linktype=1 | fcs))
    results = []
    for force in (False, True):
        res, src = read_all(path, force_libpcap=force)
        assert src.info().link == 1
        assert res.dicts() == expected_from_packets(PAYLOADS)
        results.append(res.records.tobytes())
    assert results[0] == results[1]
    res, _ = read_all(path, filter="udp and dst port 26477")
    assert res.stats.messages == len(MESSAGES)


# ----------------------------------------------------------------- filters


def filter_capture() -> tuple[list[bytes], list[bytes]]:
    """Frames for the filter tests, and the payloads that must pass."""
    keep, frames = [], []
    for i, tags in enumerate([(), (100,), (100, 200)]):
        good = mold_packet([sample_message("A", i)], seq=i + 1)
        keep.append(good)
        frames.append(udp_frame(good, vlans=tags))
        other = mold_packet([sample_message("D", i)], 50 + i, "OTHERPORT")
        frames.append(udp_frame(other, vlans=tags, dport=26478))
        frames.append(ethernet(ipv4_packet(udp_segment(b"x" * 30, dport=26477), proto=6),
                               vlans=tags))
        frames.append(ethernet(bytes(28), ethertype=ETHERTYPE_ARP, vlans=tags))
    good = mold_packet([sample_message("F", 9)], seq=4)
    keep.append(good)
    frames.append(udp_frame(good, vlans=(7, 8), tpids=(TPID_8021AD, 0x8100)))  # QinQ
    return frames, keep


@pytest.mark.parametrize("fmt", ["pcap", "libpcap", "pcapng"])
def test_filter_keeps_matching_frames_at_every_vlan_depth(tmp_path: Path, fmt: str) -> None:
    frames, keep = filter_capture()
    ts = list(range(1, len(frames) + 1))
    if fmt == "pcapng":
        path = write(tmp_path / "f.pcapng", pcapng_bytes(frames, ts))
    else:
        path = write(tmp_path / "f.pcap", pcap_bytes(frames, ts))
    res, src = read_all(path, filter="udp and dst port 26477", force_libpcap=fmt == "libpcap")
    assert res.dicts() == expected_from_packets(keep)
    assert src.info().reasons == {"filtered": len(frames) - len(keep)}
    assert src.info().frames == res.stats.frames == len(keep)
    assert res.stats.reasons == {}
    # Unfiltered, the others are there and counted by the decoder instead.
    res_all, src_all = read_all(path, force_libpcap=fmt == "libpcap")
    assert res_all.stats.frames == len(frames) and src_all.info().reasons == {}
    assert res_all.stats.reasons == {"tcp": 3, "arp": 3}


def test_filter_naming_vlan_is_used_as_written(tmp_path: Path) -> None:
    frames, _ = filter_capture()
    path = write(tmp_path / "f.pcap", pcap_bytes(frames, list(range(len(frames)))))
    res, src = read_all(path, filter="vlan 100 and udp")
    # Single-tagged 100: both UDP frames; double-tagged: "udp" looks at the inner tag.
    assert sorted(d["type"] for d in res.dicts()) == ["A", "D"]
    assert src.info().reasons == {"filtered": len(frames) - 2}


def test_bad_filter_is_a_config_error(tmp_path: Path) -> None:
    pcap = write(tmp_path / "f.pcap", pcap_bytes(FRAMES, TS))
    ng = write(tmp_path / "f.pcapng", pcapng_bytes(FRAMES, TS))
    for path in (pcap, ng):
        for bad in ("udp and and", "port 99999999", "no_such_keyword"):
            with pytest.raises(ConfigError):
                Source(path, filter=bad)


def test_filter_on_binaryfile_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "day.itch", binfile_bytes(MESSAGES))
    with pytest.raises(ConfigError):
        Source(path, filter="udp")
    gzpath = tmp_path / "day.itch.gz"
    gzpath.write_bytes(gzip.compress(binfile_bytes(MESSAGES)))
    with pytest.raises(ConfigError):
        Source(gzpath, filter="udp")


# ---------------------------------------------------------- other link types

LINK_VARIANTS = {
    # name: (pcap link type, how a raw IPv4 packet becomes a frame)
    "raw-101": (101, lambda ip: ip),
    "raw-12": (12, lambda ip: ip),
    "ipv4-228": (228, lambda ip: ip),
    "sll-113": (113, lambda ip: b"\x00\x00\x00\x01\x00\x06" + bytes(8) + b"\x08\x00" + ip),
    "sll2-276": (276, lambda ip: b"\x08\x00\x00\x00" + bytes(16) + ip),
}


@pytest.mark.parametrize("flt", [None, "udp and dst port 26477"])
@pytest.mark.parametrize("how", ["pcap", "libpcap", "pcapng"])
@pytest.mark.parametrize("variant", list(LINK_VARIANTS))
def test_other_link_types_through_every_path(tmp_path: Path, variant: str, how: str,
                                             flt: str | None) -> None:
    linktype, wrap = LINK_VARIANTS[variant]
    frames = [wrap(ipv4_packet(udp_segment(p))) for p in PAYLOADS]
    frames.append(wrap(ipv4_packet(udp_segment(PAYLOADS[0], dport=9))))  # filtered or dup
    ts = list(range(len(frames)))
    if how == "pcapng":
        path = write(tmp_path / "l.pcapng", pcapng_bytes(frames, ts, linktype=linktype))
    else:
        path = write(tmp_path / "l.pcap", pcap_bytes(frames, ts, linktype=linktype))
    res, src = read_all(path, filter=flt, force_libpcap=how == "libpcap")
    assert res.dicts() == expected_from_packets(PAYLOADS)
    if flt:
        assert src.info().reasons == {"filtered": 1} and res.stats.reasons == {}
    else:
        assert res.stats.reasons == {"mold_duplicate": int.from_bytes(PAYLOADS[0][18:20], "big")}


@pytest.mark.parametrize("force_libpcap", [False, True])
def test_capture_with_a_snaplen_counts_clipped_frames_as_snapped(tmp_path: Path,
                                                                  force_libpcap: bool) -> None:
    snaplen = 96
    clipped = [f[:snaplen] for f in FRAMES]
    path = write(tmp_path / "snap.pcap", pcap_bytes(
        clipped, TS, snaplen=snaplen, wire_lens=[len(f) for f in FRAMES]))
    res, src = read_all(path, force_libpcap=force_libpcap)
    whole = [p for p, f in zip(PAYLOADS, FRAMES, strict=True) if len(f) <= snaplen]
    assert res.dicts() == expected_from_packets(whole)
    assert res.stats.reasons == {"snapped": len(FRAMES) - len(whole)}
    assert 0 < len(whole) < len(FRAMES)
    assert src.info().frames == len(FRAMES)
