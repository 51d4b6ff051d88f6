"""protocols/fix.py: encoding agrees with simplefix (an independent FIX
library) byte for byte, and the reference framer reads back what was
encoded, with data fields that hold SOH."""

from __future__ import annotations

import simplefix
from hypothesis import given
from hypothesis import strategies as st

from protocols import fix

TAGS = st.sampled_from([11, 21, 38, 40, 44, 49, 54, 55, 56, 58, 60])
VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="="),
                 min_size=1, max_size=16)


@given(st.sampled_from(["FIX.4.2", "FIX.4.4"]), st.sampled_from(["D", "F", "G", "8"]),
       st.lists(st.tuples(TAGS, VALUES), max_size=12))
def test_encode_agrees_with_simplefix(begin: str, msg_type: str,
                                      fields: list[tuple[int, str]]) -> None:
    ref = simplefix.FixMessage()
    ref.append_pair(8, begin)
    ref.append_pair(35, msg_type)
    for tag, value in fields:
        ref.append_pair(tag, value)
    assert fix.encode(begin, [(35, msg_type), *fields]) == ref.encode()


@given(st.lists(st.tuples(TAGS, VALUES), max_size=12), st.binary(max_size=40))
def test_frame_reads_back_what_encode_wrote(fields: list[tuple[int, str]], blob: bytes) -> None:
    body: list[tuple[int, bytes | str | int]] = [(35, "D"), *fields]
    if blob:
        body += [(95, len(blob)), (96, blob)]
    msg = fix.encode("FIX.4.4", body)
    (framed,), used = fix.frame(msg + msg[:7])
    assert used == len(msg) and framed.error == ""
    got = framed.fields
    assert got[0] == (8, b"FIX.4.4") and got[-1][0] == 10
    assert got[2:-1] == [(t, v if isinstance(v, bytes) else str(v).encode()) for t, v in body]
