"""ITCH 5.0 field values worked out by hand from the specification.

Every message below is written out field by field: the name, the offset and
the length the NASDAQ TotalView-ITCH 5.0 specification gives the field, the
raw bytes of the field (big-endian integers; alpha fields left-justified and
space padded) and the value the reference decoder must return.  The test
assembles the bytes, checks the hand-written offsets add up, then checks the
layout table, the reference decoder and the encoder against them.

Values: prices have 4 implied decimals (178.5500 -> 1_785_500), the MWCB
levels 8 (30123.45678901 -> 3_012_345_678_901); timestamps are nanoseconds
since midnight (09:30:00.000000001 -> 34_200_000_000_001); the IPO release
time is seconds since midnight (10:30:00 -> 37_800).
"""

from __future__ import annotations

import pytest

from protocols import itch50
from protocols.layout import Kind

#: Message lengths as the specification states them.
SPEC_LENGTHS = {
    "S": 12, "R": 39, "H": 25, "Y": 20, "L": 26, "V": 35, "W": 12, "K": 28,
    "J": 35, "h": 21, "A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19,
    "U": 35, "P": 44, "Q": 40, "B": 19, "I": 50, "N": 20, "O": 48,
}

# type -> [(field, spec offset, spec length, raw bytes in hex, decoded value)]
SPEC_MESSAGES: dict[str, list[tuple[str, int, int, str, int | str]]] = {
    "S": [
        ("message_type", 0, 1, "53", "S"),
        ("stock_locate", 1, 2, "0000", 0),
        ("tracking_number", 3, 2, "0000", 0),
        ("timestamp", 5, 6, "09d29229e015", 10_800_000_000_021),
        ("event_code", 11, 1, "4f", "O"),
    ],  # 12 bytes
    "R": [
        ("message_type", 0, 1, "52", "R"),
        ("stock_locate", 1, 2, "1cf3", 7411),
        ("tracking_number", 3, 2, "0000", 0),
        ("timestamp", 5, 6, "0a1b3e2bdd15", 11_112_123_456_789),
        ("stock", 11, 8, "5351515120202020", "SQQQ"),
        ("market_category", 19, 1, "51", "Q"),
        ("financial_status_indicator", 20, 1, "4e", "N"),
        ("round_lot_size", 21, 4, "00000064", 100),
        ("round_lots_only", 25, 1, "4e", "N"),
        ("issue_classification", 26, 1, "51", "Q"),
        ("issue_sub_type", 27, 2, "4920", "I"),
        ("authenticity", 29, 1, "50", "P"),
        ("short_sale_threshold_indicator", 30, 1, "4e", "N"),
        ("ipo_flag", 31, 1, "20", ""),
        ("luld_reference_price_tier", 32, 1, "31", "1"),
        ("etp_flag", 33, 1, "59", "Y"),
        ("etp_leverage_factor", 34, 4, "00000003", 3),
        ("inverse_indicator", 38, 1, "59", "Y"),
    ],  # 39 bytes
    "H": [
        ("message_type", 0, 1, "48", "H"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "0001", 1),
        ("timestamp", 5, 6, "0d18c2e28007", 14_400_000_000_007),
        ("stock", 11, 8, "4141504c20202020", "AAPL"),
        ("trading_state", 19, 1, "48", "H"),
        ("reserved", 20, 1, "20", ""),
        ("reason", 21, 4, "54312020", "T1"),
    ],  # 25 bytes
    "Y": [
        ("message_type", 0, 1, "59", "Y"),
        ("stock_locate", 1, 2, "2329", 9001),
        ("tracking_number", 3, 2, "0002", 2),
        ("timestamp", 5, 6, "0d18fe7d4bf4", 14_401_000_000_500),
        ("stock", 11, 8, "5a565a5a54202020", "ZVZZT"),
        ("reg_sho_action", 19, 1, "31", "1"),
    ],  # 20 bytes
    "L": [
        ("message_type", 0, 1, "4c", "L"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "0003", 3),
        ("timestamp", 5, 6, "0d193a181401", 14_402_000_000_001),
        ("mpid", 11, 4, "4753434f", "GSCO"),
        ("stock", 15, 8, "4141504c20202020", "AAPL"),
        ("primary_market_maker", 23, 1, "59", "Y"),
        ("market_maker_mode", 24, 1, "4e", "N"),
        ("market_participant_state", 25, 1, "41", "A"),
    ],  # 26 bytes
    "V": [
        ("message_type", 0, 1, "56", "V"),
        ("stock_locate", 1, 2, "0000", 0),
        ("tracking_number", 3, 2, "0004", 4),
        ("timestamp", 5, 6, "1d77b67da000", 32_400_000_000_000),
        ("level_1", 11, 8, "000002bd5dcb4c35", 3_012_345_678_901),
        ("level_2", 19, 8, "0000028bed016000", 2_800_000_000_000),
        ("level_3", 27, 8, "00000246139ca801", 2_500_000_000_001),
    ],  # 35 bytes
    "W": [
        ("message_type", 0, 1, "57", "W"),
        ("stock_locate", 1, 2, "0000", 0),
        ("tracking_number", 3, 2, "0005", 5),
        ("timestamp", 5, 6, "24d5dfb7d1ff", 40_500_999_999_999),
        ("breached_level", 11, 1, "31", "1"),
    ],  # 12 bytes
    "K": [
        ("message_type", 0, 1, "4b", "K"),
        ("stock_locate", 1, 2, "4e20", 20_000),
        ("tracking_number", 3, 2, "0006", 6),
        ("timestamp", 5, 6, "1fec5b08182a", 35_100_000_000_042),
        ("stock", 11, 8, "4e4557434f202020", "NEWCO"),
        ("ipo_quotation_release_time", 19, 4, "000093a8", 37_800),
        ("ipo_quotation_release_qualifier", 23, 1, "41", "A"),
        ("ipo_price", 24, 4, "00030d40", 200_000),
    ],  # 28 bytes
    "J": [
        ("message_type", 0, 1, "4a", "J"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "0007", 7),
        ("timestamp", 5, 6, "20da8a954e04", 36_123_000_000_004),
        ("stock", 11, 8, "4141504c20202020", "AAPL"),
        ("auction_collar_reference_price", 19, 4, "0016ed24", 1_502_500),
        ("upper_auction_collar_price", 23, 4, "0019380e", 1_652_750),
        ("lower_auction_collar_price", 27, 4, "0014a23a", 1_352_250),
        ("auction_collar_extension", 31, 4, "00000001", 1),
    ],  # 35 bytes
    "h": [
        ("message_type", 0, 1, "68", "h"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "0008", 8),
        ("timestamp", 5, 6, "2260ff929005", 37_800_000_000_005),
        ("stock", 11, 8, "4141504c20202020", "AAPL"),
        ("market_code", 19, 1, "51", "Q"),
        ("operational_halt_action", 20, 1, "48", "H"),
    ],  # 21 bytes
    "A": [
        ("message_type", 0, 1, "41", "A"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "0009", 9),
        ("timestamp", 5, 6, "1f1aced9f001", 34_200_000_000_001),
        ("order_reference_number", 11, 8, "0000000100000005", 4_294_967_301),
        ("buy_sell_indicator", 19, 1, "42", "B"),
        ("shares", 20, 4, "00000064", 100),
        ("stock", 24, 8, "4141504c20202020", "AAPL"),
        ("price", 32, 4, "001b3e9c", 1_785_500),
    ],  # 36 bytes
    "F": [
        ("message_type", 0, 1, "46", "F"),
        ("stock_locate", 1, 2, "0002", 2),
        ("tracking_number", 3, 2, "000a", 10),
        ("timestamp", 5, 6, "1f1aced9f002", 34_200_000_000_002),
        ("order_reference_number", 11, 8, "0000000100000006", 4_294_967_302),
        ("buy_sell_indicator", 19, 1, "53", "S"),
        ("shares", 20, 4, "000000fa", 250),
        ("stock", 24, 8, "4d53465420202020", "MSFT"),
        ("price", 32, 4, "00325f50", 3_301_200),
        ("attribution", 36, 4, "4753434f", "GSCO"),
    ],  # 40 bytes
    "E": [
        ("message_type", 0, 1, "45", "E"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "000b", 11),
        ("timestamp", 5, 6, "1f1b0a74ba03", 34_201_000_000_003),
        ("order_reference_number", 11, 8, "0000000100000005", 4_294_967_301),
        ("executed_shares", 19, 4, "00000028", 40),
        ("match_number", 23, 8, "0000010000000007", 1_099_511_627_783),
    ],  # 31 bytes
    "C": [
        ("message_type", 0, 1, "43", "C"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "000c", 12),
        ("timestamp", 5, 6, "1f1b0a74ba04", 34_201_000_000_004),
        ("order_reference_number", 11, 8, "0000000100000005", 4_294_967_301),
        ("executed_shares", 19, 4, "00000032", 50),
        ("match_number", 23, 8, "0000010000000008", 1_099_511_627_784),
        ("printable", 31, 1, "59", "Y"),
        ("execution_price", 32, 4, "001b3f00", 1_785_600),
    ],  # 36 bytes
    "X": [
        ("message_type", 0, 1, "58", "X"),
        ("stock_locate", 1, 2, "0002", 2),
        ("tracking_number", 3, 2, "000d", 13),
        ("timestamp", 5, 6, "1f1b460f8405", 34_202_000_000_005),
        ("order_reference_number", 11, 8, "0000000100000006", 4_294_967_302),
        ("cancelled_shares", 19, 4, "0000001e", 30),
    ],  # 23 bytes
    "D": [
        ("message_type", 0, 1, "44", "D"),
        ("stock_locate", 1, 2, "0002", 2),
        ("tracking_number", 3, 2, "000e", 14),
        ("timestamp", 5, 6, "1f1b81aa4e06", 34_203_000_000_006),
        ("order_reference_number", 11, 8, "0000000100000006", 4_294_967_302),
    ],  # 19 bytes
    "U": [
        ("message_type", 0, 1, "55", "U"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "000f", 15),
        ("timestamp", 5, 6, "1f1bbd451807", 34_204_000_000_007),
        ("original_order_reference_number", 11, 8, "0000000100000005", 4_294_967_301),
        ("new_order_reference_number", 19, 8, "0000000100000068", 4_294_967_400),
        ("shares", 27, 4, "000000c8", 200),
        ("price", 31, 4, "001b3e38", 1_785_400),
    ],  # 35 bytes
    "P": [
        ("message_type", 0, 1, "50", "P"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "0010", 16),
        ("timestamp", 5, 6, "1f1bf8dfe208", 34_205_000_000_008),
        ("order_reference_number", 11, 8, "0000000000000000", 0),
        ("buy_sell_indicator", 19, 1, "42", "B"),
        ("shares", 20, 4, "0000000a", 10),
        ("stock", 24, 8, "4141504c20202020", "AAPL"),
        ("price", 32, 4, "001b3e6a", 1_785_450),
        ("match_number", 36, 8, "0000010000000009", 1_099_511_627_785),
    ],  # 44 bytes
    "Q": [
        ("message_type", 0, 1, "51", "Q"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "0011", 17),
        ("timestamp", 5, 6, "1f1aced9f000", 34_200_000_000_000),
        ("shares", 11, 8, "000000000012d687", 1_234_567),
        ("stock", 19, 8, "4141504c20202020", "AAPL"),
        ("cross_price", 27, 4, "001b3ca8", 1_785_000),
        ("match_number", 31, 8, "0000010000000001", 1_099_511_627_777),
        ("cross_type", 39, 1, "4f", "O"),
    ],  # 40 bytes
    "B": [
        ("message_type", 0, 1, "42", "B"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "0012", 18),
        ("timestamp", 5, 6, "1f28c7214800", 34_260_000_000_000),
        ("match_number", 11, 8, "0000010000000009", 1_099_511_627_785),
    ],  # 19 bytes
    "I": [
        ("message_type", 0, 1, "49", "I"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "0013", 19),
        ("timestamp", 5, 6, "33d758c09000", 57_000_000_000_000),
        ("paired_shares", 11, 8, "00000000000f4240", 1_000_000),
        ("imbalance_shares", 19, 8, "00000000000061a8", 25_000),
        ("imbalance_direction", 27, 1, "42", "B"),
        ("stock", 28, 8, "4141504c20202020", "AAPL"),
        ("far_price", 36, 4, "001b5030", 1_790_000),
        ("near_price", 40, 4, "001b4860", 1_788_000),
        ("current_reference_price", 44, 4, "001b466c", 1_787_500),
        ("cross_type", 48, 1, "43", "C"),
        ("price_variation_indicator", 49, 1, "31", "1"),
    ],  # 50 bytes
    "N": [
        ("message_type", 0, 1, "4e", "N"),
        ("stock_locate", 1, 2, "000d", 13),
        ("tracking_number", 3, 2, "0014", 20),
        ("timestamp", 5, 6, "1f60a83ea800", 34_500_000_000_000),
        ("stock", 11, 8, "4141504c20202020", "AAPL"),
        ("interest_flag", 19, 1, "42", "B"),
    ],  # 20 bytes
    "O": [
        ("message_type", 0, 1, "4f", "O"),
        ("stock_locate", 1, 2, "7530", 30_000),
        ("tracking_number", 3, 2, "0015", 21),
        ("timestamp", 5, 6, "20afeeeee800", 35_940_000_000_000),
        ("stock", 11, 8, "444c435220202020", "DLCR"),
        ("open_eligibility_status", 19, 1, "59", "Y"),
        ("minimum_allowable_price", 20, 4, "000186a0", 100_000),
        ("maximum_allowable_price", 24, 4, "0001d4c0", 120_000),
        ("near_execution_price", 28, 4, "0001adb0", 110_000),
        ("near_execution_time", 32, 8, "000020afb3541e7b", 35_939_000_000_123),
        ("lower_price_range_collar", 40, 4, "000182b8", 99_000),
        ("upper_price_range_collar", 44, 4, "0001d8a8", 121_000),
    ],  # 48 bytes
}

#: Fields the specification types as Price (4): 4 implied decimals.
SPEC_PRICE4 = {
    ("K", "ipo_price"),
    ("J", "auction_collar_reference_price"),
    ("J", "upper_auction_collar_price"),
    ("J", "lower_auction_collar_price"),
    ("A", "price"), ("F", "price"), ("U", "price"), ("P", "price"),
    ("C", "execution_price"),
    ("Q", "cross_price"),
    ("I", "far_price"), ("I", "near_price"), ("I", "current_reference_price"),
    ("O", "minimum_allowable_price"), ("O", "maximum_allowable_price"),
    ("O", "near_execution_price"),
    ("O", "lower_price_range_collar"), ("O", "upper_price_range_collar"),
}
#: Price (8): only the MWCB decline levels.
SPEC_PRICE8 = {("V", "level_1"), ("V", "level_2"), ("V", "level_3")}

CODES = sorted(SPEC_LENGTHS)


def _assemble(code: str) -> bytes:
    """The hand-written message, after checking its offsets add up."""
    expected_offset = 0
    for name, offset, length, hexed, _ in SPEC_MESSAGES[code]:
        assert offset == expected_offset, f"{code}.{name}: hand-written offset is off"
        assert len(hexed) == 2 * length, f"{code}.{name}: {len(hexed) // 2} bytes, not {length}"
        expected_offset += length
    assert expected_offset == SPEC_LENGTHS[code]
    return bytes.fromhex("".join(hexed for _, _, _, hexed, _ in SPEC_MESSAGES[code]))


def _expected(code: str) -> dict[str, int | str]:
    return {
        ("type" if name == "message_type" else name): value
        for name, _, _, _, value in SPEC_MESSAGES[code]
    }


def test_every_type_is_covered_and_nothing_else():
    assert set(SPEC_MESSAGES) == set(SPEC_LENGTHS)
    assert set(itch50.MESSAGES) == {c.encode() for c in SPEC_LENGTHS}


@pytest.mark.parametrize("code", CODES)
def test_length_matches_spec(code):
    assert itch50.MESSAGES[code.encode()].size == SPEC_LENGTHS[code]
    assert itch50.length_of(code) == SPEC_LENGTHS[code]
    assert itch50.length_of(ord(code)) == SPEC_LENGTHS[code]


@pytest.mark.parametrize("code", CODES)
def test_offsets_contiguous_and_common_header(code):
    lay = itch50.MESSAGES[code.encode()]
    assert lay.code == code.encode()
    assert [(f.name, f.offset, f.size) for f in lay.fields[:4]] == [
        ("message_type", 0, 1),
        ("stock_locate", 1, 2),
        ("tracking_number", 3, 2),
        ("timestamp", 5, 6),
    ]
    end = 0
    for f in lay.fields:
        assert f.offset == end, f"{code}.{f.name} at {f.offset}, expected {end}"
        end += f.size
    assert end == lay.size


@pytest.mark.parametrize("code", CODES)
def test_layout_matches_spec_table(code):
    """Names, offsets, lengths and alpha-ness, field by field."""
    _assemble(code)
    lay = itch50.MESSAGES[code.encode()]
    assert [(f.name, f.offset, f.size) for f in lay.fields] == [
        (name, offset, length) for name, offset, length, _, _ in SPEC_MESSAGES[code]
    ]
    for f, (_, _, _, _, value) in zip(lay.fields, SPEC_MESSAGES[code], strict=True):
        assert f.is_alpha == isinstance(value, str), f"{code}.{f.name}"


@pytest.mark.parametrize("code", CODES)
def test_reference_decoder_gives_hand_values(code):
    raw = _assemble(code)
    assert itch50.decode(raw) == _expected(code)


@pytest.mark.parametrize("code", CODES)
def test_encoder_reproduces_exact_bytes(code):
    fields = _expected(code)
    assert fields.pop("type") == code
    assert itch50.encode(code, **fields) == _assemble(code)


def test_price_and_timestamp_kinds_match_spec():
    price4 = {(lay.code.decode(), f.name) for lay in itch50.MESSAGES.values()
              for f in lay.fields if f.kind is Kind.PRICE4}
    price8 = {(lay.code.decode(), f.name) for lay in itch50.MESSAGES.values()
              for f in lay.fields if f.kind is Kind.PRICE8}
    stamps = {f.name for lay in itch50.MESSAGES.values()
              for f in lay.fields if f.kind is Kind.TIMESTAMP}
    assert price4 == SPEC_PRICE4
    assert price8 == SPEC_PRICE8
    assert stamps == {"timestamp"}


def test_header_constants():
    assert itch50.HEADER_SIZE == 11
    assert itch50.MAX_FIELDS == max(len(v) for v in SPEC_MESSAGES.values()) == 18
