"""The tiny pcap reader the real-data tests rely on, on hand-made captures:
both byte orders, microsecond and nanosecond magics, VLAN tags, padding."""

from __future__ import annotations

import struct

import pytest
from _protocols_util import read_pcap, udp_datagram

from protocols import moldudp64 as mold

PAYLOAD = mold.encode_packet("SESSION01", 77, [b"hello"])


def _frame(payload: bytes, vlans: tuple[int, ...] = (), proto: int = 17) -> bytes:
    udp = struct.pack("!HHHH", 5000, 26477, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x4000, 64, proto, 0,
                     bytes([10, 0, 0, 1]), bytes([233, 54, 12, 111])) + udp
    tags = b"".join(struct.pack("!HH", 0x8100, v) for v in vlans)
    frame = bytes(6) + bytes(6) + tags + b"\x08\x00" + ip
    return frame.ljust(60, b"\x00")  # Ethernet minimum frame: padding after IP


def _pcap(order: str, magic: int, records: list[tuple[int, int, bytes]]) -> bytes:
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for sec, frac, data in records:
        out += struct.pack(order + "IIII", sec, frac, len(data), len(data)) + data
    return out


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(("magic", "frac_ns"), [(0xA1B2C3D4, 1000), (0xA1B23C4D, 1)])
def test_read_pcap_byte_orders_and_resolutions(order, magic, frac_ns):
    frames = [_frame(PAYLOAD), _frame(PAYLOAD, (141,))]
    linktype, records = read_pcap(_pcap(order, magic, [(100, 5, frames[0]), (101, 6, frames[1])]))
    assert linktype == 1
    assert [r.data for r in records] == frames
    assert [r.ts_ns for r in records] == [100 * 10**9 + 5 * frac_ns, 101 * 10**9 + 6 * frac_ns]


@pytest.mark.parametrize("vlans", [(), (141,), (100, 200)])
def test_udp_datagram_unwraps_vlans_and_drops_padding(vlans):
    small = b"x"  # short enough that the frame gets Ethernet padding
    dgram = udp_datagram(_frame(small, vlans))
    assert dgram is not None
    assert (dgram.vlan_ids, dgram.dst_ip, dgram.dst_port, dgram.payload) == (
        vlans, "233.54.12.111", 26477, small)
    assert mold.decode_packet(udp_datagram(_frame(PAYLOAD, vlans)).payload).messages == (
        b"hello",)


def test_non_udp_and_bad_input():
    assert udp_datagram(_frame(PAYLOAD, proto=6)) is None  # TCP
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    assert udp_datagram(arp) is None
    with pytest.raises(ValueError):
        read_pcap(b"\x00" * 24)
    good = _pcap("<", 0xA1B2C3D4, [(1, 2, _frame(PAYLOAD))])
    with pytest.raises(ValueError):
        read_pcap(good[:-1])
