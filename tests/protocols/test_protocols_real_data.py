"""Real data from the shared data folder (``../shared/data``, see its SOURCES.md).

(a) The RITCH BinaryFILE: every 2-byte length prefix is zero, so messages are
    framed by their type's specification length; the per-type counts are
    known and the whole file must be consumed exactly.
(b) Real NASDAQ captures: Ethernet + 802.1Q + IPv4 + UDP + MoldUDP64 + ITCH.
    Every packet decodes, every MoldUDP64 block is exactly as long as the
    specification says its ITCH type is, and itchfeed agrees on every field.

Skipped when the folder is absent, except under CI=true where that fails.
"""

from __future__ import annotations

from collections import Counter

import pytest
from _protocols_util import (
    LINKTYPE_ETHERNET,
    itchfeed_messages,
    itchfeed_view,
    iter_binaryfile,
    read_pcap,
    shared_file,
    udp_datagram,
)

from protocols import itch50
from protocols import moldudp64 as mold

RITCH = "itch/ritch_ex20101224.TEST_ITCH_50"
RITCH_COUNTS = {"S": 6, "R": 3, "H": 3, "A": 4997, "F": 3, "E": 198, "X": 45,
                "D": 1745, "U": 12, "P": 5000}

_ORIG = "nasdaq-real/Nasdaq.Equities.TotalView.Itch.v5.0/"
_ANON = "nasdaq-real/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/"
_LIVE = ("000010059B", "233.54.12.111", 26477)  # session, multicast group, port
_ZERO = ("\x00" * 10, "0.0.0.0", 0)  # anonymised captures

# file -> (packets, ITCH messages per type, (session, destination IP, port))
REAL_PCAPS = {
    _ORIG + "AddOrderNoMpidAttributionMessage.pcap": (1, {"A": 1}, _LIVE),
    _ORIG + "MarketParticipantPositionMessage.pcap": (1, {"L": 1}, _LIVE),
    _ORIG + "Multiple.Packets.pcap": (2, {"D": 1, "A": 36, "F": 2}, _LIVE),
    _ORIG + "NetOrderImbalanceIndicatorMessage.pcap": (1, {"I": 1}, _LIVE),
    _ORIG + "OrderDeleteMessage.pcap": (1, {"D": 1}, _LIVE),
    _ORIG + "OrderExecutedMessage.pcap": (1, {"E": 1}, _LIVE),
    _ORIG + "OrderReplaceMessage.pcap": (1, {"U": 1}, _LIVE),
    _ORIG + "StockTradingActionMessage.pcap": (1, {"H": 1}, _LIVE),
    _ANON + "AddOrderNoMPID.pcap": (5, {"A": 5}, _ZERO),
    _ANON + "AddOrderWithMPID.pcap": (5, {"F": 5}, _ZERO),
    _ANON + "CrossTrade.pcap": (5, {"Q": 5}, _ZERO),
    _ANON + "LULDAuctionCollar.pcap": (5, {"J": 5}, _ZERO),
    _ANON + "MarketParticipantPosition.pcap": (5, {"L": 5}, _ZERO),
    _ANON + "NetOrderImbalanceIndicator.pcap": (5, {"I": 5}, _ZERO),
    _ANON + "NonCrossTrade.pcap": (5, {"P": 5}, _ZERO),
    _ANON + "OrderCancel.pcap": (5, {"X": 5}, _ZERO),
    _ANON + "OrderDelete.pcap": (5, {"D": 5}, _ZERO),
    _ANON + "OrderExecuted.pcap": (5, {"E": 5}, _ZERO),
    _ANON + "OrderExecutedWithPrice.pcap": (5, {"C": 5}, _ZERO),
    _ANON + "OrderReplace.pcap": (5, {"U": 5}, _ZERO),
    _ANON + "RegSHORestriction.pcap": (5, {"Y": 5}, _ZERO),
    _ANON + "StockTradingAction.pcap": (5, {"H": 5}, _ZERO),
    _ANON + "SystemEvent.pcap": (1, {"S": 1}, _ZERO),
}


def _short(name: str) -> str:
    return name.removeprefix("nasdaq-real/Nasdaq.Equities.TotalView.Itch.")


def _ritch_messages() -> list[tuple[int, bytes]]:
    return list(iter_binaryfile(shared_file(RITCH).read_bytes()))


def _pcap_packets(name: str) -> list[tuple[tuple[int, ...], str, int, mold.Packet]]:
    linktype, records = read_pcap(shared_file(name).read_bytes())
    assert linktype == LINKTYPE_ETHERNET
    out = []
    for rec in records:
        assert len(rec.data) == rec.orig_len  # nothing cut by the snap length
        dgram = udp_datagram(rec.data)
        assert dgram is not None, "not an IPv4 UDP frame"
        out.append((dgram.vlan_ids, dgram.dst_ip, dgram.dst_port,
                    mold.decode_packet(dgram.payload)))
    return out


# ------------------------------------------------------------------ (a) RITCH


def test_ritch_binaryfile_counts():
    messages = _ritch_messages()
    assert len(messages) == 12_012
    assert {prefix for prefix, _ in messages} == {0}
    assert sum(2 + len(m) for _, m in messages) == shared_file(RITCH).stat().st_size
    counts = Counter(itch50.decode(m)["type"] for _, m in messages)
    assert counts == RITCH_COUNTS


def test_ritch_binaryfile_contents():
    decoded = [itch50.decode(m) for _, m in _ritch_messages()]
    assert [d["event_code"] for d in decoded if d["type"] == "S"] == list("OSQMEC")
    assert [(d["stock_locate"], d["stock"]) for d in decoded if d["type"] == "R"] == [
        (1, "ALC"), (2, "BOB"), (3, "CHAR")]
    stamps = [d["timestamp"] for d in decoded]
    assert stamps == sorted(stamps)
    assert stamps[-1] < 24 * 3600 * 10**9


def test_ritch_binaryfile_reencodes_exactly():
    for _, message in _ritch_messages():
        fields = itch50.decode(message)
        assert itch50.encode(fields.pop("type"), **fields) == message


# ---------------------------------------------------------- (b) NASDAQ pcaps


@pytest.mark.parametrize("name", sorted(REAL_PCAPS), ids=_short)
def test_real_pcap_decodes(name):
    n_packets, type_counts, (session, dst_ip, dst_port) = REAL_PCAPS[name]
    packets = _pcap_packets(name)
    assert len(packets) == n_packets
    counts: Counter[str] = Counter()
    for vlans, ip, port, pkt in packets:
        assert len(vlans) == 1  # one 802.1Q tag on every frame
        assert (pkt.session, ip, port) == (session, dst_ip, dst_port)
        assert pkt.count == len(pkt.messages) >= 1
        for message in pkt.messages:
            assert len(message) == itch50.length_of(message[0])
            fields = itch50.decode(message)
            counts[fields["type"]] += 1
            assert itch50.encode(fields.pop("type"), **fields) == message
    assert dict(counts) == type_counts


def test_multiple_packets_capture_in_detail():
    packets = [p for *_, p in _pcap_packets(_ORIG + "Multiple.Packets.pcap")]
    assert [(p.sequence, p.count) for p in packets] == [(14_764_496, 1), (19_009_117, 38)]
    assert [m[:1] for m in packets[1].messages].count(b"F") == 2
    # a full 1500-byte IP packet: 20 (IP) + 8 (UDP) + 1472 (MoldUDP64)
    assert sum(2 + len(m) for m in packets[1].messages) + mold.HEADER_SIZE == 1472


@pytest.mark.parametrize("name", sorted(REAL_PCAPS), ids=_short)
def test_real_pcap_agrees_with_itchfeed(name):
    registry = itchfeed_messages()
    checked = 0
    for *_, pkt in _pcap_packets(name):
        for message in pkt.messages:
            assert itch50.decode(message) == itchfeed_view(registry, message)
            checked += 1
    assert checked == sum(REAL_PCAPS[name][1].values())
