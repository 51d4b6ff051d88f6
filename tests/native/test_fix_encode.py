"""The C template encoder writes exactly what the reference encoder writes
(header, BodyLength, CheckSum), for any values, and the scanner reads it
back."""

from __future__ import annotations

import numpy as np
import pytest
from _frames import hyp
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import ConfigError
from gateway.fixscan import FixEncoder, FixScanner
from protocols import fix

TAGS = [11, 55, 54, 38, 40, 44, 58]
VALUE = st.binary(max_size=14).map(lambda b: b.replace(b"\x01", b"x").replace(b"\x00", b"y"))


@hyp(200)
@given(rows=st.lists(st.tuples(st.integers(1, 10**12), st.lists(VALUE, min_size=7, max_size=7)),
                     min_size=1, max_size=20),
       begin=st.sampled_from(["FIX.4.2", "FIX.4.4"]))
def test_template_encoding_equals_the_reference(rows: list[tuple[int, list[bytes]]],
                                                begin: str) -> None:
    enc = FixEncoder(begin, "D", "GATEWAY", "EXCHANGE", TAGS)
    seqs = np.array([r[0] for r in rows], np.uint64)
    cols = [np.array([r[1][k] for r in rows], dtype="S14") for k in range(len(TAGS))]
    blob, ends = enc.encode(seqs, "20261122-03:40:00.123", cols)
    starts = [0, *ends[:-1].tolist()]
    for (seq, values), a, b in zip(rows, starts, ends.tolist(), strict=True):
        want = fix.encode(begin, [(35, "D"), (49, "GATEWAY"), (56, "EXCHANGE"), (34, seq),
                                  (52, "20261122-03:40:00.123"),
                                  *[(t, v) for t, v in zip(TAGS, values, strict=True) if v]])
        assert blob[a:b] == want
    scan = FixScanner().scan(blob)
    assert scan.consumed == len(blob) and len(scan.messages) == len(rows)
    assert not scan.messages["error"].any()


def test_bad_templates_are_refused() -> None:
    with pytest.raises(ConfigError):
        FixEncoder("FIX.4.4", "D", "S" * 300, "T" * 300, [11])
    with pytest.raises(ConfigError):
        FixEncoder("FIX.4.4", "D", "A", "B", [0])
    with pytest.raises(ConfigError):
        FixEncoder("FIX.4.4", "D", "A", "B", list(range(1, 70)))


def test_long_comp_ids_and_wide_values_fit() -> None:
    sender, target = "S" * 100, "T" * 80
    enc = FixEncoder("FIX.4.4", "D", sender, target, [58])
    text = np.array([b"x" * 500] * 3, dtype="S500")
    blob, ends = enc.encode(np.array([1, 10**19, 3], np.uint64), "20261122-03:40:00.123", [text])
    want = fix.encode("FIX.4.4", [(35, "D"), (49, sender), (56, target), (34, 10**19),
                                  (52, "20261122-03:40:00.123"), (58, b"x" * 500)])
    assert blob[int(ends[0]) : int(ends[1])] == want
