"""Writers for capture files: classic pcap (nanosecond), pcapng, NASDAQ BinaryFILE.

Theory of operation
-------------------
These are pure I/O helpers: bytes in, a file out.  They know nothing about
ITCH or MoldUDP64; ``gateway.synth`` decides what goes into the datagrams.

*Framing.*  :class:`UdpFramer` wraps a UDP payload in Ethernet II (optionally
with one 802.1Q tag), IPv4 and UDP headers, as the receiving host would see
the frame on the wire (less the FCS).  Everything that does not change from
datagram to datagram (addresses, ports, TTL, the checksum contribution of
those fields) is computed once in the constructor; per datagram only the
lengths, the IP identification and the two checksums are filled in, with a
single ``struct.pack`` call.

*Checksums.*  The Internet checksum is the one's complement of the one's
complement sum of 16-bit big-endian words.  Because 2**16 == 1 (mod 0xFFFF),
a byte string read as one big-endian integer is congruent to the sum of its
16-bit words modulo 0xFFFF, so ``int.from_bytes(data, "big") % 0xFFFF`` gives
the folded sum with a single C-level pass instead of a Python loop over
words.  The only ambiguity, 0 versus 0xFFFF ("negative zero"), is resolved by
noting that a sum including the non-zero IP header or UDP pseudo-header is
never zero.  A computed UDP checksum of 0 is sent as 0xFFFF (RFC 768).

*Files.*  :class:`PcapWriter` writes the classic format with the nanosecond
magic 0xa1b23c4d; :class:`PcapngWriter` writes one Section Header Block, one
Interface Description Block with ``if_tsresol = 9`` (nanoseconds) and one
Enhanced Packet Block per frame.  Both are little-endian (the byte-order
magic tells readers so).  :class:`BinaryFileWriter` writes NASDAQ's
BinaryFILE: each message prefixed by its 2-byte big-endian length, gzip
compressed when the path ends in ``.gz`` (with a zero mtime and no file name
in the gzip header, so the same messages always give the same bytes).

All writers collect small pieces in a list and hand the operating system one
joined buffer of about a mebibyte at a time, which keeps per-packet cost to a
list append.
"""

from __future__ import annotations

import gzip
import ipaddress
import struct
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_VERSION = (2, 4)
LINKTYPE_ETHERNET = 1
DEFAULT_SNAPLEN = 65535

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_VLAN = 0x8100
IPPROTO_UDP = 17
ETH_HEADER_SIZE = 14
VLAN_TAG_SIZE = 4
IPV4_HEADER_SIZE = 20
UDP_HEADER_SIZE = 8
#: Ethernet's minimum frame (without the 4-byte FCS); shorter frames are padded.
ETH_MIN_FRAME = 60

PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_IDB = 0x00000001
PCAPNG_EPB = 0x00000006
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_OPT_ENDOFOPT = 0
PCAPNG_OPT_IF_TSRESOL = 9

_FLUSH_AT = 1 << 20  # bytes gathered before one write() to the OS
_NS = 1_000_000_000

_PCAP_GLOBAL = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
_PCAPNG_EPB_HEAD = struct.Struct("<IIIIIII")
_U32 = struct.Struct("<I")
# IPv4 header (no options) followed by the UDP header, network order.
_IP_UDP = struct.Struct("!HHHHBBH4s4sHHHH")
_BLOCK_LEN = struct.Struct("!H")
_IP_DONT_FRAGMENT = 0x4000


# -- addresses and checksums ---------------------------------------------------


def parse_mac(mac: str | bytes) -> bytes:
    """``"02:00:00:00:00:01"`` (or ``-`` separated, or 6 raw bytes) to 6 bytes."""
    if isinstance(mac, bytes):
        raw = mac
    else:
        parts = mac.replace("-", ":").split(":")
        if len(parts) != 6:
            raise ValueError(f"bad MAC address {mac!r}")
        raw = bytes(int(p, 16) for p in parts)
    if len(raw) != 6:
        raise ValueError(f"a MAC address is 6 bytes, not {len(raw)}")
    return raw


def multicast_mac(group: str | ipaddress.IPv4Address) -> bytes:
    """The Ethernet address of an IPv4 multicast group (RFC 1112 section 6.4):
    01:00:5e followed by the low 23 bits of the group address."""
    addr = ipaddress.IPv4Address(group)
    if not addr.is_multicast:
        raise ValueError(f"{addr} is not a multicast group")
    low23 = int(addr) & 0x7FFFFF
    return b"\x01\x00\x5e" + low23.to_bytes(3, "big")


def ones_complement_sum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """Folded 16-bit one's complement sum of ``data`` (odd length padded with a
    zero byte) plus ``start``; in 1..0xFFFF unless everything summed is zero."""
    value = int.from_bytes(data, "big")
    if len(data) & 1:
        value <<= 8  # same as appending the zero pad byte
    total = value + start
    if total == 0:
        return 0
    rem = total % 0xFFFF
    return rem if rem else 0xFFFF


def internet_checksum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """RFC 1071 checksum: complement of :func:`ones_complement_sum`."""
    return 0xFFFF - ones_complement_sum(data, start)


def _words(raw: bytes) -> int:
    """Plain sum of the 16-bit big-endian words of an even-length string."""
    return sum(int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2))


# -- framing ------------------------------------------------------------------------


class UdpFramer:
    """Builds Ethernet[/802.1Q]/IPv4/UDP frames around UDP payloads.

    ``dst_mac`` defaults to the RFC 1112 address of a multicast ``dst_ip``; a
    unicast destination needs it given.  The IP identification field counts
    up from ``first_ident`` (DF is set, so it only has to be unique per flow).
    """

    def __init__(
        self,
        src_ip: str = "10.0.0.1",
        dst_ip: str = "233.54.12.111",
        src_port: int = 40000,
        dst_port: int = 26477,
        *,
        src_mac: str | bytes = "02:00:0a:00:00:01",
        dst_mac: str | bytes | None = None,
        vlan: int | None = None,
        vlan_priority: int = 0,
        ttl: int = 64,
        first_ident: int = 0,
        pad: bool = True,
    ) -> None:
        src = ipaddress.IPv4Address(src_ip)
        dst = ipaddress.IPv4Address(dst_ip)
        for name, port in (("src_port", src_port), ("dst_port", dst_port)):
            if not 0 <= port <= 0xFFFF:
                raise ValueError(f"{name} {port} is not a UDP port")
        if not 1 <= ttl <= 255:
            raise ValueError(f"ttl {ttl} is not in 1..255")
        if dst_mac is None:
            if not dst.is_multicast:
                raise ValueError(f"dst_mac is needed for the unicast destination {dst}")
            dmac = multicast_mac(dst)
        else:
            dmac = parse_mac(dst_mac)
        self.src_ip, self.dst_ip = src, dst
        self.src_port, self.dst_port = src_port, dst_port
        self.vlan = vlan
        self._eth = dmac + parse_mac(src_mac) + _vlan_tag(vlan, vlan_priority)
        self._eth += ETHERTYPE_IPV4.to_bytes(2, "big")
        self._src, self._dst = src.packed, dst.packed
        self._ttl = ttl
        self._ident = first_ident & 0xFFFF
        self._pad = pad
        addr_words = _words(self._src) + _words(self._dst)
        # Checksum contributions of the fields that never change.
        self._ip_const = 0x4500 + _IP_DONT_FRAGMENT + ((ttl << 8) | IPPROTO_UDP) + addr_words
        self._udp_const = addr_words + IPPROTO_UDP + src_port + dst_port

    @property
    def overhead(self) -> int:
        """Bytes of headers in front of the UDP payload."""
        return len(self._eth) + IPV4_HEADER_SIZE + UDP_HEADER_SIZE

    def headers(self, payload: bytes) -> bytes:
        """The Ethernet, IPv4 and UDP headers for ``payload`` (checksums filled)."""
        n = len(payload)
        udp_len = UDP_HEADER_SIZE + n
        total = IPV4_HEADER_SIZE + udp_len
        if total > 0xFFFF:
            raise ValueError(f"a UDP payload of {n} bytes does not fit an IPv4 datagram")
        ident = self._ident
        self._ident = (ident + 1) & 0xFFFF
        ip_csum = 0xFFFF - ((self._ip_const + total + ident) % 0xFFFF or 0xFFFF)
        value = int.from_bytes(payload, "big")
        if n & 1:
            value <<= 8
        rem = (self._udp_const + 2 * udp_len + value) % 0xFFFF
        udp_csum = 0xFFFF - rem if rem else 0xFFFF
        return self._eth + _IP_UDP.pack(
            0x4500, total, ident, _IP_DONT_FRAGMENT, self._ttl, IPPROTO_UDP, ip_csum,
            self._src, self._dst, self.src_port, self.dst_port, udp_len, udp_csum,
        )

    def padding(self, payload_len: int) -> bytes:
        """Zero bytes that bring a short frame up to Ethernet's minimum."""
        short = ETH_MIN_FRAME - (self.overhead + payload_len)
        return b"\x00" * short if self._pad and short > 0 else b""

    def frame(self, payload: bytes) -> bytes:
        """A whole frame: headers, payload and any minimum-size padding."""
        return self.headers(payload) + payload + self.padding(len(payload))


def _vlan_tag(vlan: int | None, priority: int) -> bytes:
    if vlan is None:
        return b""
    if not 0 <= vlan <= 4095:
        raise ValueError(f"VLAN id {vlan} is not in 0..4095")
    if not 0 <= priority <= 7:
        raise ValueError(f"VLAN priority {priority} is not in 0..7")
    tci = (priority << 13) | vlan
    return ETHERTYPE_VLAN.to_bytes(2, "big") + tci.to_bytes(2, "big")


# -- buffered sinks ---------------------------------------------------------------


class BinarySink(Protocol):
    """What the writers need of a file object (a file opened "wb", a BytesIO,
    a GzipFile, a socket's makefile)."""

    def write(self, data: bytes, /) -> object: ...
    def flush(self) -> object: ...
    def close(self) -> object: ...


class _BufferedSink:
    """Gathers pieces and writes them in ~1 MiB chunks; owns the file if it
    opened it."""

    def __init__(self, target: str | Path | BinarySink) -> None:
        if isinstance(target, str | Path):
            self._file: BinarySink = open(target, "wb")  # noqa: SIM115 - closed in close()
            self._owned = True
        else:
            self._file = target
            self._owned = False
        self._parts: list[bytes] = []
        self._pending = 0
        self.bytes_written = 0
        self._closed = False

    def _put(self, *pieces: bytes) -> None:
        self._parts.extend(pieces)
        for p in pieces:
            self._pending += len(p)
        if self._pending >= _FLUSH_AT:
            self._drain()

    def _drain(self) -> None:
        """Hand what is gathered to the file object (no OS-level flush: a
        GzipFile flush would end a deflate block each time)."""
        if self._parts:
            self._file.write(b"".join(self._parts))
            self.bytes_written += self._pending
            self._parts.clear()
            self._pending = 0

    def flush(self) -> None:
        self._drain()
        self._file.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._drain()
        self._closed = True
        if self._owned:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _FrameWriter(_BufferedSink, ABC):
    """Common part of the pcap and pcapng writers: frames with timestamps."""

    def __init__(
        self,
        target: str | Path | BinarySink,
        framer: UdpFramer | None = None,
        snaplen: int = DEFAULT_SNAPLEN,
    ) -> None:
        super().__init__(target)
        if not 0 < snaplen <= 0x3FFFFFFF:
            raise ValueError(f"snaplen {snaplen} is out of range")
        self.framer = framer
        self.snaplen = snaplen
        self.packets = 0

    def write_frame(self, ts_ns: int, frame: bytes) -> None:
        """One link-layer frame captured at ``ts_ns`` (ns since the epoch)."""
        if len(frame) > self.snaplen:
            self._record(ts_ns, frame[: self.snaplen], len(frame))
        else:
            self._record(ts_ns, frame, len(frame))

    def write_udp(self, ts_ns: int, payload: bytes) -> None:
        """One UDP datagram, framed by the writer's :class:`UdpFramer`."""
        framer = self.framer
        if framer is None:
            raise ValueError("write_udp needs a writer constructed with a framer")
        head = framer.headers(payload)
        pad = framer.padding(len(payload))
        length = len(head) + len(payload) + len(pad)
        if length > self.snaplen:
            self.write_frame(ts_ns, head + payload + pad)
        else:
            self._record(ts_ns, head + payload + pad if pad else head + payload, length)

    @abstractmethod
    def _record(self, ts_ns: int, data: bytes, orig_len: int) -> None:
        """Write one record in the file's own format (pcap or pcapng)."""


class PcapWriter(_FrameWriter):
    """Classic libpcap file, nanosecond timestamps, Ethernet link type."""

    def __init__(
        self,
        target: str | Path | BinarySink,
        framer: UdpFramer | None = None,
        snaplen: int = DEFAULT_SNAPLEN,
        linktype: int = LINKTYPE_ETHERNET,
    ) -> None:
        super().__init__(target, framer, snaplen)
        major, minor = PCAP_VERSION
        self._put(_PCAP_GLOBAL.pack(PCAP_MAGIC_NS, major, minor, 0, 0, snaplen, linktype))

    def _record(self, ts_ns: int, data: bytes, orig_len: int) -> None:
        sec, nsec = divmod(ts_ns, _NS)
        self._put(_PCAP_RECORD.pack(sec, nsec, len(data), orig_len), data)
        self.packets += 1


class PcapngWriter(_FrameWriter):
    """pcapng: one section, one Ethernet interface with ``if_tsresol = 9``."""

    def __init__(
        self,
        target: str | Path | BinarySink,
        framer: UdpFramer | None = None,
        snaplen: int = DEFAULT_SNAPLEN,
        linktype: int = LINKTYPE_ETHERNET,
    ) -> None:
        super().__init__(target, framer, snaplen)
        self._put(_section_header_block(), _interface_description_block(linktype, snaplen))

    def _record(self, ts_ns: int, data: bytes, orig_len: int) -> None:
        n = len(data)
        pad = -n & 3  # packet data is padded to 32 bits
        total = 32 + n + pad
        head = _PCAPNG_EPB_HEAD.pack(
            PCAPNG_EPB, total, 0, ts_ns >> 32, ts_ns & 0xFFFFFFFF, n, orig_len
        )
        self._put(head, data, b"\x00" * pad + _U32.pack(total))
        self.packets += 1


def _section_header_block() -> bytes:
    body = struct.pack("<IHHq", PCAPNG_BYTE_ORDER_MAGIC, 1, 0, -1)  # length unknown
    total = 12 + len(body)
    return struct.pack("<II", PCAPNG_SHB, total) + body + _U32.pack(total)


def _interface_description_block(linktype: int, snaplen: int) -> bytes:
    tsresol = struct.pack("<HHB3x", PCAPNG_OPT_IF_TSRESOL, 1, 9)  # 10**-9 s
    options = tsresol + struct.pack("<HH", PCAPNG_OPT_ENDOFOPT, 0)
    body = struct.pack("<HHI", linktype, 0, snaplen) + options
    total = 12 + len(body)
    return struct.pack("<II", PCAPNG_IDB, total) + body + _U32.pack(total)


class BinaryFileWriter(_BufferedSink):
    """NASDAQ BinaryFILE: ``len(msg)`` as 2 bytes big-endian, then the message.

    A path ending in ``.gz`` is gzip-compressed, deterministically.
    """

    def __init__(self, target: str | Path | BinarySink, compresslevel: int = 6) -> None:
        self._gzip: gzip.GzipFile | None = None
        if isinstance(target, str | Path) and str(target).endswith(".gz"):
            raw = open(target, "wb")  # noqa: SIM115 - closed in close()
            self._raw: BinarySink | None = raw
            self._gzip = gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0
            )
            super().__init__(self._gzip)
        else:
            self._raw = None
            super().__init__(target)
        self.messages = 0

    def write(self, message: bytes) -> None:
        n = len(message)
        if n > 0xFFFF:
            raise ValueError(f"a BinaryFILE message is at most 65535 bytes, not {n}")
        self._put(_BLOCK_LEN.pack(n), message)
        self.messages += 1

    def write_many(self, messages: Iterable[bytes]) -> None:
        for m in messages:
            self.write(m)

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        if self._gzip is not None:
            self._gzip.close()
        if self._raw is not None:
            self._raw.close()
