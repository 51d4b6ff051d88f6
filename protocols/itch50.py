"""NASDAQ TotalView-ITCH 5.0: every message type as one layout table.

The table below is the single source of truth for ITCH offsets and sizes.
Field names are the snake_case of the names the specification gives them
("Buy/Sell Indicator" -> ``buy_sell_indicator``).  Every message starts with
the same four fields: message type (1), stock locate (2), tracking number (2)
and a 6-byte timestamp in nanoseconds since midnight.  Prices are unsigned
with 4 implied decimals, except the MWCB decline levels (8 implied decimals).

``encode`` and ``decode`` here are the plain reference implementation, used
by the simulator, the tests and as the yardstick for the C decoder.
"""

from __future__ import annotations

from typing import Any

from protocols.layout import Kind, Layout, build

U, A, TS, P4, P8 = Kind.UINT, Kind.ALPHA, Kind.TIMESTAMP, Kind.PRICE4, Kind.PRICE8

#: Fields every ITCH 5.0 message begins with.
_HEADER = (
    ("message_type", 1, A),
    ("stock_locate", 2, U),
    ("tracking_number", 2, U),
    ("timestamp", 6, TS),
)

# (type code, snake_case name, specification title, body fields)
_SPEC: tuple[tuple[bytes, str, str, tuple[tuple[str, int, Kind], ...]], ...] = (
    (b"S", "system_event", "System Event Message", (("event_code", 1, A),)),
    (b"R", "stock_directory", "Stock Directory Message", (
        ("stock", 8, A),
        ("market_category", 1, A),
        ("financial_status_indicator", 1, A),
        ("round_lot_size", 4, U),
        ("round_lots_only", 1, A),
        ("issue_classification", 1, A),
        ("issue_sub_type", 2, A),
        ("authenticity", 1, A),
        ("short_sale_threshold_indicator", 1, A),
        ("ipo_flag", 1, A),
        ("luld_reference_price_tier", 1, A),
        ("etp_flag", 1, A),
        ("etp_leverage_factor", 4, U),
        ("inverse_indicator", 1, A),
    )),
    (b"H", "stock_trading_action", "Stock Trading Action", (
        ("stock", 8, A),
        ("trading_state", 1, A),
        ("reserved", 1, A),
        ("reason", 4, A),
    )),
    (b"Y", "reg_sho_restriction", "Reg SHO Short Sale Price Test Restricted Indicator", (
        ("stock", 8, A),
        ("reg_sho_action", 1, A),
    )),
    (b"L", "market_participant_position", "Market Participant Position", (
        ("mpid", 4, A),
        ("stock", 8, A),
        ("primary_market_maker", 1, A),
        ("market_maker_mode", 1, A),
        ("market_participant_state", 1, A),
    )),
    (b"V", "mwcb_decline_level", "MWCB Decline Level Message", (
        ("level_1", 8, P8),
        ("level_2", 8, P8),
        ("level_3", 8, P8),
    )),
    (b"W", "mwcb_status", "MWCB Status Message", (("breached_level", 1, A),)),
    (b"K", "ipo_quoting_period_update", "IPO Quoting Period Update Message", (
        ("stock", 8, A),
        ("ipo_quotation_release_time", 4, U),
        ("ipo_quotation_release_qualifier", 1, A),
        ("ipo_price", 4, P4),
    )),
    (b"J", "luld_auction_collar", "LULD Auction Collar", (
        ("stock", 8, A),
        ("auction_collar_reference_price", 4, P4),
        ("upper_auction_collar_price", 4, P4),
        ("lower_auction_collar_price", 4, P4),
        ("auction_collar_extension", 4, U),
    )),
    (b"h", "operational_halt", "Operational Halt", (
        ("stock", 8, A),
        ("market_code", 1, A),
        ("operational_halt_action", 1, A),
    )),
    (b"A", "add_order", "Add Order - No MPID Attribution", (
        ("order_reference_number", 8, U),
        ("buy_sell_indicator", 1, A),
        ("shares", 4, U),
        ("stock", 8, A),
        ("price", 4, P4),
    )),
    (b"F", "add_order_mpid", "Add Order with MPID Attribution", (
        ("order_reference_number", 8, U),
        ("buy_sell_indicator", 1, A),
        ("shares", 4, U),
        ("stock", 8, A),
        ("price", 4, P4),
        ("attribution", 4, A),
    )),
    (b"E", "order_executed", "Order Executed Message", (
        ("order_reference_number", 8, U),
        ("executed_shares", 4, U),
        ("match_number", 8, U),
    )),
    (b"C", "order_executed_with_price", "Order Executed With Price Message", (
        ("order_reference_number", 8, U),
        ("executed_shares", 4, U),
        ("match_number", 8, U),
        ("printable", 1, A),
        ("execution_price", 4, P4),
    )),
    (b"X", "order_cancel", "Order Cancel Message", (
        ("order_reference_number", 8, U),
        ("cancelled_shares", 4, U),
    )),
    (b"D", "order_delete", "Order Delete Message", (
        ("order_reference_number", 8, U),
    )),
    (b"U", "order_replace", "Order Replace Message", (
        ("original_order_reference_number", 8, U),
        ("new_order_reference_number", 8, U),
        ("shares", 4, U),
        ("price", 4, P4),
    )),
    (b"P", "trade", "Trade Message (Non-Cross)", (
        ("order_reference_number", 8, U),
        ("buy_sell_indicator", 1, A),
        ("shares", 4, U),
        ("stock", 8, A),
        ("price", 4, P4),
        ("match_number", 8, U),
    )),
    (b"Q", "cross_trade", "Cross Trade Message", (
        ("shares", 8, U),
        ("stock", 8, A),
        ("cross_price", 4, P4),
        ("match_number", 8, U),
        ("cross_type", 1, A),
    )),
    (b"B", "broken_trade", "Broken Trade / Order Execution Message", (
        ("match_number", 8, U),
    )),
    (b"I", "noii", "Net Order Imbalance Indicator (NOII) Message", (
        ("paired_shares", 8, U),
        ("imbalance_shares", 8, U),
        ("imbalance_direction", 1, A),
        ("stock", 8, A),
        ("far_price", 4, P4),
        ("near_price", 4, P4),
        ("current_reference_price", 4, P4),
        ("cross_type", 1, A),
        ("price_variation_indicator", 1, A),
    )),
    (b"N", "retail_price_improvement_indicator", "Retail Price Improvement Indicator (RPII)", (
        ("stock", 8, A),
        ("interest_flag", 1, A),
    )),
    (b"O", "direct_listing_price_discovery",
     "Direct Listing with Capital Raise Price Discovery Message", (
        ("stock", 8, A),
        ("open_eligibility_status", 1, A),
        ("minimum_allowable_price", 4, P4),
        ("maximum_allowable_price", 4, P4),
        ("near_execution_price", 4, P4),
        ("near_execution_time", 8, U),
        ("lower_price_range_collar", 4, P4),
        ("upper_price_range_collar", 4, P4),
    )),
)

#: Every ITCH 5.0 message type, keyed by its one-byte type code.
MESSAGES: dict[bytes, Layout] = {
    code: build(code, name, title, _HEADER + body) for code, name, title, body in _SPEC
}

#: The widest message has this many fields (the C record reserves one slot each).
MAX_FIELDS = max(len(m.fields) for m in MESSAGES.values())
HEADER_SIZE = 11


class UnknownMessageType(ValueError):
    """The bytes carry a type code ITCH 5.0 does not define (remote's fault)."""


def layout_of(code: bytes | int | str) -> Layout:
    key = _code_bytes(code)
    try:
        return MESSAGES[key]
    except KeyError:
        raise UnknownMessageType(f"unknown ITCH 5.0 message type {key!r}") from None


def length_of(code: bytes | int | str) -> int:
    """The length the specification gives a message type."""
    return layout_of(code).size


def encode(code: bytes | int | str, **fields: Any) -> bytes:
    """Encode one message; every field but ``message_type`` must be given."""
    return layout_of(code).encode(fields)


def decode(buf: bytes | bytearray | memoryview, offset: int = 0) -> dict[str, Any]:
    """Reference decoder: one message at ``offset`` into a dict.

    The dict holds ``type`` (the type code as a one-character str) and every
    field of the message except ``message_type``.  Alpha fields are stripped of
    their space padding; prices are integers in the specification's units.
    """
    if offset >= len(buf):
        raise ValueError("empty ITCH message")
    lay = layout_of(buf[offset])
    out: dict[str, Any] = {"type": lay.code.decode()}
    for name, value in lay.decode(buf, offset).items():
        if name != "message_type":
            out[name] = value
    return out


def _code_bytes(code: bytes | int | str) -> bytes:
    if isinstance(code, int):
        return bytes((code,))
    if isinstance(code, str):
        return code.encode("latin-1")
    return bytes(code)
