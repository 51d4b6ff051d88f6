"""Helpers shared by the tests of ``protocols/`` (not a test module).

* ``skip_or_fail``: skip with a reason, except under ``CI == "true"`` where a
  missing dependency or data folder is a failure.
* ``shared_file``: a file of the shared data folder (``../shared/data``).
* ``read_pcap`` / ``udp_datagram``: a tiny pcap reader and an
  Ethernet (802.1Q/802.1ad tags) / IPv4 / UDP unwrapper.
* ``iter_binaryfile``: NASDAQ BinaryFILE framing (2-byte length + message).
* hypothesis strategies derived from the layout tables.
* ``ITCHFEED_NAMES`` / ``itchfeed_view``: the independent ``itchfeed``
  package's attribute names, mapped onto the reference decoder's.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from protocols import itch50
from protocols.layout import Field, Layout

# ---------------------------------------------------------------- skip rule

IN_CI = os.environ.get("CI") == "true"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test, or fail it when running in CI (where nothing may be missing)."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this is required)", pytrace=False)
    pytest.skip(reason)


# -------------------------------------------------------------- shared data

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """Path of a file of the shared data folder, or skip/fail if it is absent."""
    if not SHARED_DATA.is_dir():
        skip_or_fail(f"shared data folder {SHARED_DATA} is absent")
    path = SHARED_DATA / relative
    if not path.is_file():
        skip_or_fail(f"shared data file {path} is absent")
    return path


# ------------------------------------------------------------------ itchfeed


def itchfeed_messages() -> dict[bytes, Any]:
    """itchfeed's registry of message classes keyed by type byte (or skip/fail)."""
    try:
        from itch.messages import messages
    except ImportError as exc:
        skip_or_fail(f"itchfeed (import name 'itch') is not importable: {exc}")
    return dict(messages)


_HEADER_NAMES = {
    "message_type": "message_type",
    "stock_locate": "stock_locate",
    "tracking_number": "tracking_number",
    "timestamp": "timestamp",
}

#: Per type: reference decoder field name -> itchfeed attribute name.
ITCHFEED_NAMES: dict[str, dict[str, str]] = {
    code: {**_HEADER_NAMES, **body}
    for code, body in {
        "S": {"event_code": "event_code"},
        "R": {
            "stock": "stock",
            "market_category": "market_category",
            "financial_status_indicator": "financial_status_indicator",
            "round_lot_size": "round_lot_size",
            "round_lots_only": "round_lots_only",
            "issue_classification": "issue_classification",
            "issue_sub_type": "issue_sub_type",
            "authenticity": "authenticity",
            "short_sale_threshold_indicator": "short_sale_threshold_indicator",
            "ipo_flag": "ipo_flag",
            "luld_reference_price_tier": "luld_ref",
            "etp_flag": "etp_flag",
            "etp_leverage_factor": "etp_leverage_factor",
            "inverse_indicator": "inverse_indicator",
        },
        "H": {
            "stock": "stock",
            "trading_state": "trading_state",
            "reserved": "reserved",
            "reason": "reason",
        },
        "Y": {"stock": "stock", "reg_sho_action": "reg_sho_action"},
        "L": {
            "mpid": "mpid",
            "stock": "stock",
            "primary_market_maker": "primary_market_maker",
            "market_maker_mode": "market_maker_mode",
            "market_participant_state": "market_participant_state",
        },
        "V": {"level_1": "level1_price", "level_2": "level2_price", "level_3": "level3_price"},
        "W": {"breached_level": "breached_level"},
        "K": {
            "stock": "stock",
            "ipo_quotation_release_time": "ipo_release_time",
            "ipo_quotation_release_qualifier": "ipo_release_qualifier",
            "ipo_price": "ipo_price",
        },
        "J": {
            "stock": "stock",
            "auction_collar_reference_price": "auction_collar_reference_price",
            "upper_auction_collar_price": "upper_auction_collar_price",
            "lower_auction_collar_price": "lower_auction_collar_price",
            "auction_collar_extension": "auction_collar_extention",  # sic
        },
        "h": {
            "stock": "stock",
            "market_code": "market_code",
            "operational_halt_action": "operational_halt_action",
        },
        "A": {
            "order_reference_number": "order_reference_number",
            "buy_sell_indicator": "buy_sell_indicator",
            "shares": "shares",
            "stock": "stock",
            "price": "price",
        },
        "F": {
            "order_reference_number": "order_reference_number",
            "buy_sell_indicator": "buy_sell_indicator",
            "shares": "shares",
            "stock": "stock",
            "price": "price",
            "attribution": "attribution",
        },
        "E": {
            "order_reference_number": "order_reference_number",
            "executed_shares": "executed_shares",
            "match_number": "match_number",
        },
        "C": {
            "order_reference_number": "order_reference_number",
            "executed_shares": "executed_shares",
            "match_number": "match_number",
            "printable": "printable",
            "execution_price": "execution_price",
        },
        "X": {
            "order_reference_number": "order_reference_number",
            "cancelled_shares": "cancelled_shares",
        },
        "D": {"order_reference_number": "order_reference_number"},
        "U": {
            "original_order_reference_number": "order_reference_number",
            "new_order_reference_number": "new_order_reference_number",
            "shares": "shares",
            "price": "price",
        },
        "P": {
            "order_reference_number": "order_reference_number",
            "buy_sell_indicator": "buy_sell_indicator",
            "shares": "shares",
            "stock": "stock",
            "price": "price",
            "match_number": "match_number",
        },
        "Q": {
            "shares": "shares",
            "stock": "stock",
            "cross_price": "cross_price",
            "match_number": "match_number",
            "cross_type": "cross_type",
        },
        "B": {"match_number": "match_number"},
        "I": {
            "paired_shares": "paired_shares",
            "imbalance_shares": "imbalance_shares",
            "imbalance_direction": "imbalance_direction",
            "stock": "stock",
            "far_price": "far_price",
            "near_price": "near_price",
            "current_reference_price": "current_reference_price",
            "cross_type": "cross_type",
            "price_variation_indicator": "variation_indicator",
        },
        "N": {"stock": "stock", "interest_flag": "interest_flag"},
        "O": {
            "stock": "stock",
            "open_eligibility_status": "open_eligibility_status",
            "minimum_allowable_price": "minimum_allowable_price",
            "maximum_allowable_price": "maximum_allowable_price",
            "near_execution_price": "near_execution_price",
            "near_execution_time": "near_execution_time",
            "lower_price_range_collar": "lower_price_range_collar",
            "upper_price_range_collar": "upper_price_range_collar",
        },
    }.items()
}


def itchfeed_view(registry: dict[bytes, Any], message: bytes) -> dict[str, Any]:
    """itchfeed's parse of ``message``, expressed like the reference decoder's
    dict: ``type`` for the type code, alpha bytes without their space padding
    as latin-1 text, integers unchanged."""
    code = message[:1]
    parsed = registry[code](message)
    out: dict[str, Any] = {}
    for ours, theirs in ITCHFEED_NAMES[code.decode()].items():
        value = getattr(parsed, theirs)
        if isinstance(value, bytes):
            value = value.rstrip(b" ").decode("latin-1")
        out["type" if ours == "message_type" else ours] = value
    return out


# -------------------------------------------------------------- pcap reader

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_ETHERTYPE_IPV4 = 0x0800
_IPPROTO_UDP = 17


@dataclass(frozen=True)
class PcapRecord:
    ts_ns: int
    orig_len: int
    data: bytes


@dataclass(frozen=True)
class UdpDatagram:
    vlan_ids: tuple[int, ...]
    dst_ip: str
    dst_port: int
    payload: bytes


def read_pcap(data: bytes) -> tuple[int, list[PcapRecord]]:
    """Parse a classic pcap file: (link type, records).  Both byte orders,
    microsecond and nanosecond magics."""
    if len(data) < 24:
        raise ValueError(f"pcap of {len(data)} bytes has no global header")
    for order in ("<", ">"):
        (magic,) = struct.unpack(order + "I", data[:4])
        if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            break
    else:
        raise ValueError(f"not a pcap file (magic {data[:4].hex()})")
    frac_ns = 1 if magic == PCAP_MAGIC_NS else 1000
    (linktype,) = struct.unpack(order + "I", data[20:24])
    records: list[PcapRecord] = []
    pos = 24
    while pos < len(data):
        if pos + 16 > len(data):
            raise ValueError(f"truncated record header at byte {pos}")
        sec, frac, incl_len, orig_len = struct.unpack(order + "IIII", data[pos : pos + 16])
        pos += 16
        if pos + incl_len > len(data):
            raise ValueError(f"truncated record at byte {pos}")
        records.append(PcapRecord(sec * 1_000_000_000 + frac * frac_ns, orig_len,
                                  data[pos : pos + incl_len]))
        pos += incl_len
    return linktype & 0x0FFFFFFF, records


def udp_datagram(frame: bytes) -> UdpDatagram | None:
    """Unwrap Ethernet (any number of VLAN tags) / IPv4 / UDP; None if the
    frame is not IPv4 UDP.  The IPv4 total length drops Ethernet padding."""
    ethertype = int.from_bytes(frame[12:14], "big")
    pos = 14
    vlans: list[int] = []
    while ethertype in _VLAN_TPIDS:
        vlans.append(int.from_bytes(frame[pos : pos + 2], "big") & 0x0FFF)
        ethertype = int.from_bytes(frame[pos + 2 : pos + 4], "big")
        pos += 4
    if ethertype != _ETHERTYPE_IPV4:
        return None
    ip = frame[pos:]
    if len(ip) < 20 or ip[0] >> 4 != 4:
        raise ValueError("bad IPv4 header")
    if ip[9] != _IPPROTO_UDP:
        return None
    if int.from_bytes(ip[6:8], "big") & 0x3FFF:
        raise ValueError("fragmented IPv4 datagram")
    ihl = (ip[0] & 0x0F) * 4
    total = int.from_bytes(ip[2:4], "big")
    udp = ip[ihl:total]
    udp_len = int.from_bytes(udp[4:6], "big")
    if len(udp) < 8 or not 8 <= udp_len <= len(udp):
        raise ValueError("bad UDP length")
    return UdpDatagram(tuple(vlans), ".".join(str(b) for b in ip[16:20]),
                       int.from_bytes(udp[2:4], "big"), bytes(udp[8:udp_len]))


# ---------------------------------------------------------------- BinaryFILE


def iter_binaryfile(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (length prefix, message) from a BinaryFILE.  A zero prefix means
    "unknown": the message is framed by its type's specification length."""
    pos = 0
    while pos < len(data):
        if pos + 3 > len(data):
            raise ValueError(f"truncated frame at byte {pos}")
        prefix = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        size = prefix or itch50.length_of(data[pos])
        if pos + size > len(data):
            raise ValueError(f"message at byte {pos} overruns the file")
        yield prefix, data[pos : pos + size]
        pos += size


# --------------------------------------------------------------- hypothesis

#: Examples per (test, message type): 23 types make these add up.
FAST = settings(
    max_examples=30,
    deadline=None,
    database=None,  # no example database written into the work tree
    suppress_health_check=[HealthCheck.too_slow],
)

ALPHA_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def alpha_values(size: int) -> st.SearchStrategy[str]:
    """Printable ASCII of at most ``size`` characters, no trailing space (the
    encoder pads with spaces and the decoder strips them, so a trailing space
    could not survive a round trip)."""
    return st.text(ALPHA_CHARS, max_size=size).map(lambda s: s.rstrip(" "))


def field_values(f: Field) -> st.SearchStrategy[Any]:
    if f.is_alpha:
        return alpha_values(f.size)
    return st.integers(min_value=0, max_value=(1 << (8 * f.size)) - 1)


def message_fields(lay: Layout) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for ``itch50.encode`` (every field but the type)."""
    return st.fixed_dictionaries(
        {f.name: field_values(f) for f in lay.fields if f.name != "message_type"}
    )


def raw_messages(lay: Layout) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes of the right length behind a valid type byte."""
    return st.binary(min_size=lay.size - 1, max_size=lay.size - 1).map(lambda b: lay.code + b)
