"""Capture writers: pcap (ns), pcapng, BinaryFILE, and the UDP framing.

The readers here are deliberately naive and independent of the code under
test (word-by-word checksums, field-by-field parsing); ``test_synth`` reuses
them.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import random
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.capture_write import (
    BinaryFileWriter,
    PcapngWriter,
    PcapWriter,
    UdpFramer,
    internet_checksum,
    multicast_mac,
    ones_complement_sum,
    parse_mac,
)

# -- reference readers (used by test_synth too) -----------------------------------


def naive_ones_sum(data: bytes) -> int:
    """One's complement sum, a word at a time with end-around carry."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


def read_pcap(data: bytes) -> tuple[dict[str, int], list[tuple[int, bytes, int]]]:
    """Global header fields and ``(ts_ns, captured bytes, original length)``."""
    (magic,) = struct.unpack_from("<I", data)
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
    ns = magic == 0xA1B23C4D
    major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from("<HHiIII", data, 4)
    header = {"magic": magic, "major": major, "minor": minor, "snaplen": snaplen,
              "linktype": linktype}
    records = []
    pos = 24
    while pos < len(data):
        sec, frac, caplen, origlen = struct.unpack_from("<IIII", data, pos)
        pos += 16
        records.append((sec * 10**9 + (frac if ns else frac * 1000), data[pos : pos + caplen],
                        origlen))
        pos += caplen
    assert pos == len(data)
    return header, records


def read_pcapng(data: bytes) -> tuple[dict[str, int], list[tuple[int, bytes, int]]]:
    """The interface's link type and ts resolution, and the EPB records."""
    info: dict[str, int] = {}
    records = []
    pos = 0
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        assert blen % 4 == 0 and blen >= 12
        (trailer,) = struct.unpack_from("<I", data, pos + blen - 4)
        assert trailer == blen
        body = data[pos + 8 : pos + blen - 4]
        if btype == 0x0A0D0D0A:
            bom, major, minor = struct.unpack_from("<IHH", body)
            assert (bom, major, minor) == (0x1A2B3C4D, 1, 0)
            info["sections"] = info.get("sections", 0) + 1
        elif btype == 1:
            linktype, _reserved, snaplen = struct.unpack_from("<HHI", body)
            info.update(linktype=linktype, snaplen=snaplen)
            opt = 8
            while opt < len(body):
                code, olen = struct.unpack_from("<HH", body, opt)
                if code == 0:
                    break
                if code == 9:
                    info["tsresol"] = body[opt + 4]
                opt += 4 + olen + (-olen % 4)
        elif btype == 6:
            ifid, hi, lo, caplen, origlen = struct.unpack_from("<IIIII", body)
            assert ifid == 0
            records.append(((hi << 32) | lo, body[20 : 20 + caplen], origlen))
        pos += blen
    assert pos == len(data)
    return info, records


@dataclass
class Frame:
    dst_mac: bytes
    src_mac: bytes
    vlan: int | None
    vlan_priority: int | None
    src_ip: str
    dst_ip: str
    ttl: int
    ident: int
    dont_fragment: bool
    src_port: int
    dst_port: int
    ip_checksum_ok: bool
    udp_checksum_ok: bool
    udp_checksum: int
    payload: bytes


def parse_frame(frame: bytes) -> Frame:
    """Ethernet [802.1Q] IPv4 UDP, checking both checksums the slow way."""
    dst, src = frame[:6], frame[6:12]
    (ethertype,) = struct.unpack_from("!H", frame, 12)
    pos = 14
    vlan = prio = None
    if ethertype == 0x8100:
        (tci,) = struct.unpack_from("!H", frame, 14)
        vlan, prio = tci & 0x0FFF, tci >> 13
        (ethertype,) = struct.unpack_from("!H", frame, 16)
        pos = 18
    assert ethertype == 0x0800
    ip = frame[pos : pos + 20]
    assert ip[0] == 0x45 and ip[9] == 17
    (total,) = struct.unpack_from("!H", ip, 2)
    (ident,) = struct.unpack_from("!H", ip, 4)
    (flags,) = struct.unpack_from("!H", ip, 6)
    udp = frame[pos + 20 : pos + total]
    sport, dport, ulen, ucsum = struct.unpack_from("!HHHH", udp)
    assert ulen == len(udp) == total - 20
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, ulen)
    return Frame(
        dst_mac=dst, src_mac=src, vlan=vlan, vlan_priority=prio,
        src_ip=str(ipaddress.IPv4Address(ip[12:16])), dst_ip=str(ipaddress.IPv4Address(ip[16:20])),
        ttl=ip[8], ident=ident, dont_fragment=bool(flags & 0x4000),
        src_port=sport, dst_port=dport,
        ip_checksum_ok=naive_ones_sum(ip) == 0xFFFF,
        udp_checksum_ok=ucsum != 0 and naive_ones_sum(pseudo + udp) == 0xFFFF,
        udp_checksum=ucsum,
        payload=udp[8:],
    )


def read_binaryfile(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("!H", data, pos)
        out.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    assert pos == len(data)
    return out


# -- addresses and checksums ---------------------------------------------------------


def test_multicast_mac_takes_the_low_23_bits() -> None:
    assert multicast_mac("233.54.12.111") == bytes.fromhex("01005e360c6f")
    assert multicast_mac("239.255.255.255") == bytes.fromhex("01005e7fffff")  # bit 24 dropped
    assert multicast_mac("224.128.0.1") == multicast_mac("224.0.0.1")
    with pytest.raises(ValueError, match="not a multicast"):
        multicast_mac("10.0.0.1")


def test_parse_mac() -> None:
    assert parse_mac("02:00:0a:00:00:01") == bytes.fromhex("02000a000001")
    assert parse_mac("02-00-0A-00-00-01") == bytes.fromhex("02000a000001")
    for bad in ("02:00:00", "zz:00:00:00:00:00"):
        with pytest.raises(ValueError):
            parse_mac(bad)
    with pytest.raises(ValueError):
        parse_mac(b"\x00" * 5)


def test_checksum_matches_word_by_word_sum() -> None:
    rng = random.Random(7)
    for n in [*range(0, 70), 1399, 1400, 1500]:
        data = rng.randbytes(n)
        assert ones_complement_sum(data) == naive_ones_sum(data), n
    assert ones_complement_sum(b"\xff\xff") == 0xFFFF
    assert ones_complement_sum(b"\x00\x00\x00") == 0
    # RFC 1071's worked example: words 0001 f203 f4f5 f6f7 sum to ddf2.
    assert ones_complement_sum(bytes.fromhex("0001f203f4f5f6f7")) == 0xDDF2
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


# -- framing ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 17, 18, 19, 20, 333, 1400, 1472])
def test_frame_headers_and_checksums(size: int) -> None:
    framer = UdpFramer("10.0.0.1", "233.54.12.111", 40000, 26477, ttl=33, first_ident=0xFFFF)
    payload = random.Random(size).randbytes(size)
    frame = framer.frame(payload)
    f = parse_frame(frame)
    assert f.dst_mac == bytes.fromhex("01005e360c6f")
    assert f.src_mac == parse_mac("02:00:0a:00:00:01")
    assert (f.src_ip, f.dst_ip, f.src_port, f.dst_port) == ("10.0.0.1", "233.54.12.111",
                                                            40000, 26477)
    assert (f.ttl, f.ident, f.dont_fragment, f.vlan) == (33, 0xFFFF, True, None)
    assert f.ip_checksum_ok and f.udp_checksum_ok
    assert f.payload == payload
    assert len(frame) == max(60, 42 + size)  # padded up to Ethernet's minimum
    assert parse_frame(framer.frame(payload)).ident == 0  # wraps


def test_udp_checksum_zero_is_sent_as_ffff() -> None:
    framer = UdpFramer()
    first = parse_frame(framer.frame(b"\x00\x00"))
    # A payload word equal to that checksum makes the sum 0xFFFF: checksum 0.
    framer = UdpFramer()
    f = parse_frame(framer.frame(first.udp_checksum.to_bytes(2, "big")))
    assert f.udp_checksum == 0xFFFF and f.udp_checksum_ok


def test_vlan_tag() -> None:
    framer = UdpFramer(vlan=100, vlan_priority=5)
    f = parse_frame(framer.frame(b"hello"))
    assert (f.vlan, f.vlan_priority) == (100, 5)
    assert f.ip_checksum_ok and f.udp_checksum_ok and f.payload == b"hello"
    assert framer.overhead == 46
    for kwargs in ({"vlan": 4096}, {"vlan": 1, "vlan_priority": 8}, {"ttl": 0},
                   {"src_port": 70000}, {"dst_ip": "10.0.0.2"}):
        with pytest.raises(ValueError):
            UdpFramer(**kwargs)


def test_oversized_payload_is_refused() -> None:
    UdpFramer().frame(b"\x00" * 65507)  # the largest that fits
    with pytest.raises(ValueError, match="does not fit"):
        UdpFramer().frame(b"\x00" * 65508)


def test_unicast_needs_explicit_mac() -> None:
    framer = UdpFramer(dst_ip="10.0.0.2", dst_mac="02:00:00:00:00:02")
    assert parse_frame(framer.frame(b"x")).dst_mac == bytes.fromhex("020000000002")


# -- files ----------------------------------------------------------------------------


def _frames(n: int) -> list[tuple[int, bytes]]:
    rng = random.Random(n)
    ts = 1_795_000_000_123_456_789
    out = []
    for i in range(n):
        ts += rng.randrange(0, 3_000_000_000)
        out.append((ts, rng.randbytes(rng.choice((0, 1, 3, 20, 577, 1400, 1401 + i % 3)))))
    return out


def test_pcap_header_and_records(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    frames = _frames(200)
    with PcapWriter(path, UdpFramer(vlan=7)) as w:
        for ts, payload in frames:
            w.write_udp(ts, payload)
    assert w.packets == len(frames)
    header, records = read_pcap(path.read_bytes())
    assert header == {"magic": 0xA1B23C4D, "major": 2, "minor": 4, "snaplen": 65535,
                      "linktype": 1}
    assert len(records) == len(frames)
    for (ts, payload), (rts, data, orig) in zip(frames, records, strict=True):
        f = parse_frame(data)
        assert rts == ts and orig == len(data)
        assert f.payload == payload and f.vlan == 7
        assert f.ip_checksum_ok and f.udp_checksum_ok


def test_pcap_snaplen_truncates_but_keeps_original_length() -> None:
    buf = io.BytesIO()
    w = PcapWriter(buf, snaplen=64)
    w.write_frame(5_000_000_001, b"\xab" * 100)
    w.write_frame(5_000_000_002, b"\xcd" * 10)
    w.close()
    assert not buf.closed  # a file object passed in stays the caller's
    header, records = read_pcap(buf.getvalue())
    assert header["snaplen"] == 64
    assert records == [(5_000_000_001, b"\xab" * 64, 100), (5_000_000_002, b"\xcd" * 10, 10)]


def test_write_udp_needs_a_framer() -> None:
    with pytest.raises(ValueError, match="framer"):
        PcapWriter(io.BytesIO()).write_udp(0, b"x")


def test_pcapng_blocks(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    frames = _frames(100)
    with PcapngWriter(path, UdpFramer()) as w:
        for ts, payload in frames:
            w.write_udp(ts, payload)
    info, records = read_pcapng(path.read_bytes())
    assert info == {"sections": 1, "linktype": 1, "snaplen": 65535, "tsresol": 9}
    assert [r[0] for r in records] == [ts for ts, _ in frames]
    assert [parse_frame(r[1]).payload for r in records] == [p for _, p in frames]


def test_large_files_flush_in_chunks(tmp_path: Path) -> None:
    """More than the 1 MiB buffer: every byte still arrives, in order."""
    path = tmp_path / "big.pcap"
    payload = bytes(range(256)) * 5
    with PcapWriter(path, UdpFramer()) as w:
        for i in range(2000):
            w.write_udp(i, payload[: 1 + i % 1280])
    _, records = read_pcap(path.read_bytes())
    assert len(records) == 2000
    assert all(parse_frame(d).payload == payload[: 1 + i % 1280] for i, (_, d, _) in
               enumerate(records))


@pytest.mark.parametrize("name", ["day.itch", "day.itch.gz"])
def test_binaryfile_roundtrip(tmp_path: Path, name: str) -> None:
    rng = random.Random(3)
    messages = [rng.randbytes(rng.randrange(0, 60)) for _ in range(5000)] + [b"\x01" * 65535]
    for attempt in ("a", "b"):
        (tmp_path / attempt).mkdir()
        with BinaryFileWriter(tmp_path / attempt / name) as w:
            w.write_many(messages)
        assert w.messages == len(messages)
    raw = (tmp_path / "a" / name).read_bytes()
    assert raw == (tmp_path / "b" / name).read_bytes()  # gzip too: no mtime, no name
    if name.endswith(".gz"):
        assert raw[:2] == b"\x1f\x8b"
        raw = gzip.decompress(raw)
    assert read_binaryfile(raw) == messages
    with pytest.raises(ValueError, match="65535"):
        BinaryFileWriter(io.BytesIO()).write(b"\x00" * 65536)


# -- other readers ---------------------------------------------------------------------


def test_scapy_reads_pcap_and_pcapng(tmp_path: Path) -> None:
    scapy_all = pytest.importorskip("scapy.all")
    frames = _frames(50)
    for cls, name in ((PcapWriter, "s.pcap"), (PcapngWriter, "s.pcapng")):
        with cls(tmp_path / name, UdpFramer(vlan=100)) as w:
            for ts, payload in frames:
                w.write_udp(ts, payload)
        packets = scapy_all.rdpcap(str(tmp_path / name))
        assert len(packets) == len(frames)
        for pkt, (ts, payload) in zip(packets, frames, strict=True):
            assert int(pkt.time * 1_000_000_000) == ts
            assert pkt[scapy_all.Dot1Q].vlan == 100
            assert pkt[scapy_all.UDP].dport == 26477
            assert bytes(pkt[scapy_all.UDP].payload)[: len(payload)] == payload
            # scapy recomputes both checksums when they are deleted
            rebuilt = pkt.copy()
            del rebuilt[scapy_all.IP].chksum
            del rebuilt[scapy_all.UDP].chksum
            rebuilt = scapy_all.Ether(bytes(rebuilt))
            assert rebuilt[scapy_all.IP].chksum == pkt[scapy_all.IP].chksum
            assert rebuilt[scapy_all.UDP].chksum == pkt[scapy_all.UDP].chksum


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_validates_checksums(tmp_path: Path) -> None:
    path = tmp_path / "t.pcapng"
    with PcapngWriter(path, UdpFramer()) as w:
        for ts, payload in _frames(30):
            w.write_udp(ts, payload)
    out = subprocess.run(
        ["tshark", "-r", str(path), "-o", "ip.check_checksum:TRUE",
         "-o", "udp.check_checksum:TRUE", "-T", "fields",
         "-e", "ip.checksum.status", "-e", "udp.checksum.status"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split("\n")
    statuses = [line.split("\t") for line in out if line]
    assert len(statuses) == 30
    # Wireshark's checksum status: 0 bad, 1 good, 2 unverified
    assert all(s == ["1", "1"] for s in statuses), statuses
