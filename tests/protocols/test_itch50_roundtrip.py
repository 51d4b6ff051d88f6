"""Hypothesis round trips for every ITCH 5.0 message type.

* encode then decode gives back the values (alpha values drawn without
  trailing spaces: the encoder pads with spaces, the decoder strips them, so
  "AB " and "AB" encode to the same bytes and only "AB" can come back);
* decode then encode gives back the bytes -- for *any* bytes of the right
  length behind a valid type byte.  The space padding is no obstacle in this
  direction: whatever spaces the decoder strips, the encoder puts back, and
  every other byte maps to one latin-1 character and back;
* on arbitrary input the decoder returns a dict or raises ValueError
  (UnknownMessageType for an unknown type byte), nothing else.
"""

from __future__ import annotations

import pytest
from _protocols_util import FAST, message_fields, raw_messages
from hypothesis import given
from hypothesis import strategies as st

from protocols import itch50

CODES = sorted(c.decode() for c in itch50.MESSAGES)
VALID_TYPE_BYTES = set(itch50.MESSAGES)


def _reencode(decoded: dict) -> bytes:
    fields = dict(decoded)
    return itch50.encode(fields.pop("type"), **fields)


@pytest.mark.parametrize("code", CODES)
@FAST
@given(data=st.data())
def test_encode_then_decode(code, data):
    lay = itch50.MESSAGES[code.encode()]
    fields = data.draw(message_fields(lay))
    raw = itch50.encode(code, **fields)
    assert len(raw) == lay.size
    assert raw[:1] == code.encode()
    assert itch50.decode(raw) == {"type": code, **fields}
    assert _reencode(itch50.decode(raw)) == raw


@pytest.mark.parametrize("code", CODES)
@FAST
@given(data=st.data())
def test_decode_then_encode_arbitrary_bytes(code, data):
    raw = data.draw(raw_messages(itch50.MESSAGES[code.encode()]))
    decoded = itch50.decode(raw)
    assert decoded["type"] == code
    assert _reencode(decoded) == raw


@pytest.mark.parametrize("code", CODES)
@FAST
@given(data=st.data())
def test_decode_at_offset_and_from_views(code, data):
    lay = itch50.MESSAGES[code.encode()]
    raw = data.draw(raw_messages(lay))
    before = data.draw(st.binary(max_size=16))
    after = data.draw(st.binary(max_size=16))
    buf = before + raw + after
    expected = itch50.decode(raw)
    assert itch50.decode(buf, len(before)) == expected
    assert itch50.decode(memoryview(buf), len(before)) == expected
    assert itch50.decode(bytearray(buf), len(before)) == expected


def test_alpha_padding_and_high_bytes():
    base = {"stock_locate": 1, "tracking_number": 2, "timestamp": 3, "reg_sho_action": "0"}
    # Trailing spaces are padding: they cannot survive encode -> decode ...
    assert itch50.encode("Y", stock="AB ", **base) == itch50.encode("Y", stock="AB", **base)
    assert itch50.decode(itch50.encode("Y", stock=" AB", **base))["stock"] == " AB"
    # ... and a byte outside ASCII decodes to one latin-1 character that the
    # encoder turns back into the same byte.
    raw = b"Y" + bytes(10) + b"\xe9T\x00   \xff " + b"0"
    decoded = itch50.decode(raw)
    assert decoded["stock"] == "\xe9T\x00   \xff"
    assert _reencode(decoded) == raw


@pytest.mark.parametrize("code", CODES)
def test_truncated_message_raises_value_error_at_every_length(code):
    lay = itch50.MESSAGES[code.encode()]
    raw = lay.code + bytes(range(1, lay.size))
    for cut in range(lay.size):
        with pytest.raises(ValueError):
            itch50.decode(raw[:cut])
    assert itch50.decode(raw)["type"] == code


@FAST
@given(buf=st.binary(max_size=64), offset=st.integers(min_value=0, max_value=8))
def test_decode_random_input_only_raises_value_error(buf, offset):
    try:
        decoded = itch50.decode(buf, offset)
    except itch50.UnknownMessageType:
        assert buf[offset : offset + 1] not in VALID_TYPE_BYTES
    except ValueError:
        pass
    else:
        lay = itch50.MESSAGES[buf[offset : offset + 1]]
        assert len(buf) - offset >= lay.size
        assert _reencode(decoded) == buf[offset : offset + lay.size]


def test_every_other_type_byte_is_rejected():
    unknown = sorted(set(range(256)) - {c[0] for c in VALID_TYPE_BYTES})
    assert len(unknown) == 256 - 23
    for byte in unknown:
        with pytest.raises(itch50.UnknownMessageType):
            itch50.decode(bytes([byte]) + bytes(60))
        with pytest.raises(itch50.UnknownMessageType):
            itch50.length_of(byte)


def test_encoder_rejects_bad_values():
    good = itch50.decode(itch50.encode("D", stock_locate=1, tracking_number=2,
                                       timestamp=3, order_reference_number=4))
    del good["type"]
    with pytest.raises(KeyError):  # missing field
        itch50.encode("D", stock_locate=1, tracking_number=2, timestamp=3)
    with pytest.raises(KeyError):  # unknown field
        itch50.encode("D", **good, shares=5)
    with pytest.raises((ValueError, OverflowError)):  # does not fit 8 bytes
        itch50.encode("D", **{**good, "order_reference_number": 1 << 64})
    with pytest.raises((ValueError, OverflowError)):
        itch50.encode("D", **{**good, "stock_locate": -1})
    with pytest.raises(ValueError):  # alpha longer than its field
        itch50.encode("Y", stock_locate=1, tracking_number=2, timestamp=3,
                      stock="TOOLONGSYM", reg_sho_action="0")
    with pytest.raises(itch50.UnknownMessageType):
        itch50.encode("Z", **good)
