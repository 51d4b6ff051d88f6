"""Helpers for the tests of the native decoding layer (not a test module).

Everything here is written independently of the code under test:

* frame builders: Ethernet (0..n 802.1Q/802.1ad tags) / IPv4 (options
  allowed) / UDP around a payload, with correct Internet checksums unless
  told otherwise; MoldUDP64 packets come from ``protocols.moldudp64``;
* ``run_frames``: feed frames (bytes) straight into a ``Decoder`` through a
  ``struct gw_frame[]`` built with ``ffi.new`` -- no file involved;
* capture writers: classic pcap (us/ns magic, either byte order), pcapng,
  BinaryFILE (real or zero length prefixes, plain or gzip);
* ``read_all``: a Source decoded to records + stats;
* ``walk_frame``: a tiny independent Ethernet/VLAN/IPv4/UDP walker;
* ``expected_dicts``: what the reference decoder says a set of MoldUDP64
  packets or bare ITCH messages contains, in ``render.records_to_dicts`` form.

The module has a unique name so that it cannot shadow another test folder's
helpers on ``sys.path``.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gateway._native import ffi, lib
from gateway.native import RECORD_DTYPE, Decoder, DecoderStats, Source
from gateway.render import records_to_dicts
from protocols import itch50
from protocols import moldudp64 as mold

# ------------------------------------------------------------------- constants

ETH = lib.GW_LINK_ETHERNET
MOLD = lib.GW_LINK_MOLD
ITCH = lib.GW_LINK_ITCH
RAW_IPV4 = lib.GW_LINK_RAW_IPV4
RAW = lib.GW_LINK_RAW
SLL = lib.GW_LINK_LINUX_SLL
SLL2 = lib.GW_LINK_LINUX_SLL2

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
TPID_8021Q = 0x8100
TPID_8021AD = 0x88A8
IP_DF = 0x4000
IP_MF = 0x2000

SRC_IP = bytes([10, 0, 0, 1])
DST_IP = bytes([233, 54, 12, 111])
SRC_PORT = 40000
DST_PORT = 26477
SESSION = "SESSION001"

#: Frame-level drop reasons: each frame that is not a UDP datagram gets one.
FRAME_REASONS = (
    "short_frame", "arp", "ipv6", "other_ethertype", "vlan_too_deep", "bad_ip_header",
    "ip_fragment", "tcp", "other_ip_protocol", "bad_udp_header", "ip_checksum",
    "udp_checksum", "unknown_linktype", "snapped",
)

# --------------------------------------------------------------- checksums


def inet_checksum(data: bytes) -> int:
    """RFC 1071: one's complement of the one's complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# ------------------------------------------------------------ frame builders


def udp_segment(
    payload: bytes,
    *,
    src_ip: bytes = SRC_IP,
    dst_ip: bytes = DST_IP,
    sport: int = SRC_PORT,
    dport: int = DST_PORT,
    length: int | None = None,
    checksum: bool | int = True,
) -> bytes:
    """A UDP header and payload; ``checksum`` True computes it, False sends 0,
    an int is written as is.  ``length`` overrides the length field (the
    checksum is computed over the real bytes with that length in the
    pseudo-header, as a sender would)."""
    ulen = 8 + len(payload) if length is None else length
    head = struct.pack("!HHHH", sport, dport, ulen & 0xFFFF, 0)
    if checksum is True:
        pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 17, ulen & 0xFFFF)
        c = inet_checksum(pseudo + head + payload)
        csum = c or 0xFFFF
    elif checksum is False:
        csum = 0
    else:
        csum = int(checksum)
    return struct.pack("!HHHH", sport, dport, ulen & 0xFFFF, csum) + payload


def ipv4_packet(
    l4: bytes,
    *,
    proto: int = 17,
    src_ip: bytes = SRC_IP,
    dst_ip: bytes = DST_IP,
    options: bytes = b"",
    flags_frag: int = IP_DF,
    ident: int = 0,
    ttl: int = 64,
    version: int = 4,
    ihl: int | None = None,
    total_length: int | None = None,
    checksum: bool | int = True,
) -> bytes:
    """An IPv4 header (options padded to 32 bits) in front of ``l4``."""
    if len(options) % 4:
        options += b"\x00" * (4 - len(options) % 4)
    hlen = 20 + len(options)
    ihl_words = hlen // 4 if ihl is None else ihl
    total = hlen + len(l4) if total_length is None else total_length
    head = struct.pack(
        "!BBHHHBBH4s4s", (version << 4) | (ihl_words & 0xF), 0, total & 0xFFFF,
        ident & 0xFFFF, flags_frag, ttl, proto, 0, src_ip, dst_ip,
    ) + options
    if checksum is True:
        csum = inet_checksum(head)
    elif checksum is False:
        csum = 0
    else:
        csum = int(checksum)
    head = head[:10] + struct.pack("!H", csum) + head[12:]
    return head + l4


def ethernet(
    l3: bytes,
    *,
    ethertype: int = ETHERTYPE_IPV4,
    vlans: Sequence[int] = (),
    tpids: Sequence[int] | None = None,
    dst_mac: bytes = b"\x01\x00\x5e\x36\x0c\x6f",
    src_mac: bytes = b"\x02\x00\x0a\x00\x00\x01",
    pad_to: int = 0,
) -> bytes:
    """Ethernet II with stacked tags (outermost first); padded with zeros to
    ``pad_to`` bytes (60 is Ethernet's minimum without the FCS)."""
    tags = b""
    for i, vid in enumerate(vlans):
        tpid = tpids[i] if tpids is not None else TPID_8021Q
        tags += struct.pack("!HH", tpid, vid & 0x0FFF)
    frame = dst_mac + src_mac + tags + struct.pack("!H", ethertype) + l3
    return frame.ljust(pad_to, b"\x00")


def udp_frame(
    payload: bytes,
    *,
    vlans: Sequence[int] = (),
    tpids: Sequence[int] | None = None,
    ip_options: bytes = b"",
    sport: int = SRC_PORT,
    dport: int = DST_PORT,
    flags_frag: int = IP_DF,
    udp_checksum: bool | int = True,
    pad_to: int = 0,
) -> bytes:
    """A whole, correct Ethernet[/VLAN]/IPv4/UDP frame around ``payload``."""
    l4 = udp_segment(payload, sport=sport, dport=dport, checksum=udp_checksum)
    l3 = ipv4_packet(l4, options=ip_options, flags_frag=flags_frag)
    return ethernet(l3, vlans=vlans, tpids=tpids, pad_to=pad_to)


def l2_size(vlans: int = 0) -> int:
    return 14 + 4 * vlans


# ----------------------------------------------------------------- MoldUDP64


def mold_packet(
    messages: Sequence[bytes], seq: int = 1, session: str | bytes = SESSION
) -> bytes:
    return mold.encode_packet(session, seq, list(messages))


def heartbeat(next_seq: int, session: str | bytes = SESSION) -> bytes:
    return mold.encode_heartbeat(session, next_seq)


def end_of_session(next_seq: int, session: str | bytes = SESSION) -> bytes:
    return mold.encode_end_of_session(session, next_seq)


def split_packets(
    messages: Sequence[bytes], per_packet: Sequence[int], first_seq: int = 1,
    session: str | bytes = SESSION,
) -> list[bytes]:
    """MoldUDP64 packets carrying ``messages`` in consecutive groups of the
    sizes in ``per_packet`` (cycled)."""
    out: list[bytes] = []
    i, k, seq = 0, 0, first_seq
    while i < len(messages):
        n = max(1, per_packet[k % len(per_packet)])
        batch = messages[i : i + n]
        out.append(mold.encode_packet(session, seq, list(batch)))
        i += len(batch)
        seq += len(batch)
        k += 1
    return out


# ------------------------------------------------------------- hypothesis


def hyp(max_examples: int) -> Any:
    """Hypothesis settings for this folder: deterministic (a fixed seed per
    test, no example database), no deadline, function-scoped fixtures ok."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=max_examples, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# ---------------------------------------------------------------- ITCH bits

TYPES: tuple[str, ...] = tuple(code.decode() for code in itch50.MESSAGES)


def spec_len(code: str) -> int:
    return itch50.length_of(code)


def sample_message(code: str, n: int = 0) -> bytes:
    """A deterministic message of type ``code``: locate/tracking/timestamp vary
    with ``n``, body bytes are a fixed pattern (spaces and letters)."""
    size = spec_len(code)
    body = bytes((0x41 + (n * 7 + j) % 26) if j % 3 else 0x20 for j in range(size - 11))
    return (
        code.encode()
        + (n % 65536).to_bytes(2, "big")
        + ((n * 31) % 65536).to_bytes(2, "big")
        + (34_200_000_000_000 + n * 1_000_003).to_bytes(6, "big")
        + body
    )


def mixed_messages(count: int, start: int = 0) -> list[bytes]:
    """``count`` messages cycling over every ITCH type."""
    return [sample_message(TYPES[(start + i) % len(TYPES)], start + i) for i in range(count)]


def digest_sum(messages: Iterable[bytes]) -> int:
    from gateway.native import digest_of

    return sum(digest_of(m) for m in messages) % 2**64


# ------------------------------------------------------------ running frames


@dataclass
class Result:
    records: np.ndarray
    stats: DecoderStats
    decoder: Decoder

    def dicts(self, with_sequence: bool = True) -> list[dict[str, Any]]:
        return to_dicts(self.records, self.decoder.session_names(), with_sequence)


def concat(parts: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, RECORD_DTYPE)


def feed(
    dec: Decoder,
    frames: Sequence[bytes],
    link: int | Sequence[int] = ETH,
    *,
    wire_lens: Sequence[int] | None = None,
    rx_ns: Sequence[int] | None = None,
    lines: Sequence[int] | None = None,
    burst: int | None = None,
) -> np.ndarray:
    """Hand ``frames`` to ``dec`` through a ``struct gw_frame[]`` (in calls of
    at most ``burst`` frames); returns copies of every record produced."""
    n = len(frames)
    if n == 0:
        return np.empty(0, RECORD_DTYPE)
    arr = ffi.new("struct gw_frame[]", n)
    keep = []  # the buffers must outlive the decoder calls
    for i, fr in enumerate(frames):
        buf = ffi.from_buffer("uint8_t[]", bytes(fr))
        keep.append(buf)
        arr[i].data = buf
        arr[i].len = len(fr)
        arr[i].wire_len = wire_lens[i] if wire_lens is not None else len(fr)
        arr[i].rx_ns = rx_ns[i] if rx_ns is not None else 1_700_000_000_000_000_000 + i * 1000
        arr[i].link = link if isinstance(link, int) else link[i]
        arr[i].line = lines[i] if lines is not None else 0
        arr[i].flags = 0
    out: list[np.ndarray] = []
    done = 0
    step = burst or n
    while done < n:
        want = min(step, n - done)
        got = dec.frames(arr + done, want)
        assert 0 <= got <= want
        recs = dec.records()
        if len(recs):
            out.append(recs.copy())
        dec.drain()
        if got == 0:
            assert len(recs), "decoder consumed nothing into an empty record buffer"
        done += got
    del keep
    return concat(out)


def run_frames(
    frames: Sequence[bytes],
    link: int | Sequence[int] = ETH,
    *,
    verify_checksums: bool = False,
    types: str | None = None,
    **kw: Any,
) -> Result:
    """A fresh recording Decoder fed ``frames``."""
    dec = Decoder(records=True, verify_checksums=verify_checksums, types=types)
    recs = feed(dec, frames, link, **kw)
    return Result(recs, dec.stats(), dec)


def read_all(
    path: str | os.PathLike[str],
    *,
    burst: int = 256,
    filter: str | None = None,
    force_libpcap: bool = False,
    verify_checksums: bool = False,
) -> tuple[Result, Source]:
    """Decode a whole capture file with records kept."""
    src = Source(path, filter=filter, force_libpcap=force_libpcap)
    dec = Decoder(records=True, verify_checksums=verify_checksums)
    parts = [r.copy() for r in dec.iter_records(src, burst=burst)]
    return Result(concat(parts), dec.stats(), dec), src


def to_dicts(
    recs: np.ndarray, sessions: Sequence[str], with_sequence: bool = True
) -> list[dict[str, Any]]:
    return list(records_to_dicts(recs, sessions, with_sequence))


def stats_key(st: DecoderStats) -> dict[str, Any]:
    """Every field of the stats, for equality across runs."""
    return dict(vars(st))


# ------------------------------------------------------ reference expectations


def expected_from_packets(payloads: Iterable[bytes]) -> list[dict[str, Any]]:
    """Reference decode of MoldUDP64 payloads, assuming every message is new:
    one dict per ITCH message with ``session`` and ``sequence``."""
    out: list[dict[str, Any]] = []
    for p in payloads:
        pkt = mold.decode_packet(p)
        for i, m in enumerate(pkt.messages):
            d = itch50.decode(m)
            d["session"] = pkt.session
            d["sequence"] = pkt.sequence + i
            out.append(d)
    return out


def expected_from_messages(messages: Iterable[bytes]) -> list[dict[str, Any]]:
    return [itch50.decode(m) for m in messages]


def by_type(messages: Iterable[bytes]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in messages:
        out[chr(m[0])] = out.get(chr(m[0]), 0) + 1
    return out


# ----------------------------------------------------------- capture writers

LINKTYPE_ETHERNET = 1


def pcap_bytes(
    frames: Sequence[bytes],
    ts_ns: Sequence[int],
    *,
    nano: bool = True,
    big_endian: bool = False,
    linktype: int = LINKTYPE_ETHERNET,
    snaplen: int = 262144,
    wire_lens: Sequence[int] | None = None,
) -> bytes:
    """A classic pcap file: nanosecond (0xa1b23c4d) or microsecond (0xa1b2c3d4)
    magic, little- or big-endian.  Microsecond files truncate timestamps."""
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for i, (fr, t) in enumerate(zip(frames, ts_ns, strict=True)):
        sec, ns = divmod(t, 1_000_000_000)
        frac = ns if nano else ns // 1000
        wl = wire_lens[i] if wire_lens is not None else len(fr)
        out.append(struct.pack(e + "IIII", sec, frac, len(fr), wl))
        out.append(bytes(fr))
    return b"".join(out)


def _pcapng_block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def pcapng_bytes(
    frames: Sequence[bytes],
    ts_ns: Sequence[int],
    *,
    linktype: int = LINKTYPE_ETHERNET,
    nano: bool = True,
) -> bytes:
    """pcapng: SHB, one IDB (if_tsresol 9 when ``nano``, else the default
    microseconds), one EPB per frame; little-endian."""
    shb = _pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = b""
    if nano:
        opts = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
    idb = _pcapng_block(1, struct.pack("<HHI", linktype, 0, 262144) + opts)
    out = [shb, idb]
    for fr, t in zip(frames, ts_ns, strict=True):
        units = t if nano else t // 1000
        body = struct.pack("<IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(fr), len(fr))
        out.append(_pcapng_block(6, body + bytes(fr)))
    return b"".join(out)


def binfile_bytes(messages: Iterable[bytes], *, zero_prefix: bool = False) -> bytes:
    """NASDAQ BinaryFILE: each message behind a 2-byte big-endian length
    (or a zero length, as some published files have)."""
    return b"".join(
        (b"\x00\x00" if zero_prefix else len(m).to_bytes(2, "big")) + m for m in messages
    )


def write(path: Path, data: bytes, *, gz: bool = False) -> Path:
    if gz:
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


# ---------------------------------------------------- independent frame walker


def walk_frame(frame: bytes) -> bytes | None:
    """The UDP payload of an Ethernet[/802.1Q/802.1ad...]/IPv4/UDP frame, or
    None if it is not one.  Deliberately simple and separate from the C."""
    off = 12
    etype = int.from_bytes(frame[off : off + 2], "big")
    while etype in (TPID_8021Q, TPID_8021AD):
        off += 4
        etype = int.from_bytes(frame[off : off + 2], "big")
    if etype != ETHERTYPE_IPV4:
        return None
    ip = frame[off + 2 :]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    total = int.from_bytes(ip[2:4], "big")
    udp = ip[ihl:total]
    ulen = int.from_bytes(udp[4:6], "big")
    return bytes(udp[8:ulen])


def read_pcap_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(timestamp ns, frame) of every record of a classic pcap file."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError("not a classic pcap file")
    nano = struct.unpack(e + "I", magic)[0] == 0xA1B23C4D
    out = []
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(e + "IIII", data[pos : pos + 16])
        frame = data[pos + 16 : pos + 16 + caplen]
        out.append((sec * 1_000_000_000 + frac * (1 if nano else 1000), frame))
        pos += 16 + caplen
    return out
