"""Cross-check the reference ITCH 5.0 decoder against ``itchfeed``.

itchfeed (import name ``itch``) is an independent pure-Python parser.  Its
attribute names differ from ours (``ITCHFEED_NAMES`` maps them type by type)
and its alpha fields are raw padded bytes (``itchfeed_view`` strips them).
The two must agree on every field of every type: on messages built by our
encoder, on arbitrary bytes, and on the real RITCH BinaryFILE (the real
NASDAQ pcaps are cross-checked in ``test_real_data.py``).

Skipped when itchfeed is missing, except under CI=true where that fails.
"""

from __future__ import annotations

import pytest
from _protocols_util import (
    FAST,
    ITCHFEED_NAMES,
    itchfeed_messages,
    itchfeed_view,
    iter_binaryfile,
    message_fields,
    raw_messages,
    shared_file,
)
from hypothesis import given
from hypothesis import strategies as st

from protocols import itch50

CODES = sorted(c.decode() for c in itch50.MESSAGES)


@pytest.fixture(scope="module")
def registry():
    return itchfeed_messages()


def test_itchfeed_covers_exactly_our_types(registry):
    assert set(registry) == set(itch50.MESSAGES)


@pytest.mark.parametrize("code", CODES)
def test_name_mapping_is_complete(registry, code):
    """The mapping names every field of our table, and attributes itchfeed has."""
    lay = itch50.MESSAGES[code.encode()]
    assert list(ITCHFEED_NAMES[code]) == [f.name for f in lay.fields]
    parsed = registry[code.encode()](lay.code + bytes(lay.size - 1))
    for theirs in ITCHFEED_NAMES[code].values():
        assert hasattr(parsed, theirs), f"itchfeed {type(parsed).__name__} has no {theirs}"


@pytest.mark.parametrize("code", CODES)
@FAST
@given(data=st.data())
def test_agree_on_encoded_messages(registry, code, data):
    fields = data.draw(message_fields(itch50.MESSAGES[code.encode()]))
    raw = itch50.encode(code, **fields)
    assert itchfeed_view(registry, raw) == itch50.decode(raw) == {"type": code, **fields}


@pytest.mark.parametrize("code", CODES)
@FAST
@given(data=st.data())
def test_agree_on_arbitrary_bytes(registry, code, data):
    raw = data.draw(raw_messages(itch50.MESSAGES[code.encode()]))
    assert itch50.decode(raw) == itchfeed_view(registry, raw)


def test_agree_on_ritch_binaryfile(registry):
    data = shared_file("itch/ritch_ex20101224.TEST_ITCH_50").read_bytes()
    checked = 0
    for _, message in iter_binaryfile(data):
        assert itch50.decode(message) == itchfeed_view(registry, message), checked
        checked += 1
    assert checked == 12_012
