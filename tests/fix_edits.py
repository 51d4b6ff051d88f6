"""Messages a few edits away from valid ones, for the tests that hold the
dictionary's straight paths (Python and C) to the full checks: valid bases
per message type, then fields inserted, dropped or given another value."""

from __future__ import annotations

from hypothesis import strategies as st

from protocols import fix

HEAD = [(34, b"2"), (49, b"A"), (52, b"20261122-10:00:00.123"), (56, b"B")]
BASES = {
    b"0": [(112, b"T")],
    b"D": [(11, b"X"), (21, b"1"), (38, b"100"), (40, b"2"), (44, b"10.5"), (54, b"1"),
           (55, b"IBM"), (59, b"0"), (60, b"20261122-10:00:00")],
    b"8": [(6, b"0"), (11, b"X"), (14, b"0"), (17, b"E"), (20, b"0"), (37, b"O"), (38, b"100"),
           (39, b"0"), (54, b"1"), (55, b"IBM"), (150, b"0"), (151, b"100")],
    b"A": [(98, b"0"), (108, b"30"), (141, b"Y")],
    b"2": [(7, b"1"), (16, b"0")],
}
TAGS = [11, 21, 38, 40, 44, 54, 55, 59, 60, 20, 150, 39, 43, 97, 122, 115, 128, 58, 386, 336,
        627, 999, 10, 34, 49, 141, 108, 18, 0, -1, 12000]
VALUES = [b"", b"1", b"2", b"Y", b"N", b"X", b"100", b"-7", b"10.5", b"5.", b".5", b".", b"+1",
          b"w", b"1234567890", b"20261122-10:00:00.123", b"20261322-10:00:00",
          b"20261122-24:00:00", b"20261122-10:00:60.1234567890", b"ISLD", b"M N", b"A B"]
EDIT = st.tuples(st.sampled_from(["insert", "drop", "set"]), st.integers(0, 30),
                 st.sampled_from(TAGS), st.sampled_from(VALUES))
BEGIN_STRINGS = st.sampled_from(["FIX.4.2", "FIX.4.4"])
TYPES = st.sampled_from(list(BASES))
EDITS = st.lists(EDIT, max_size=3)


def edited_fields(begin: str, msg_type: bytes,
                  edits: list[tuple[str, int, int, bytes]]) -> list[tuple[int, bytes]]:
    """Header and body of a valid ``msg_type``, then ``edits`` applied."""
    body = [f for f in BASES[msg_type] if begin == "FIX.4.2" or f[0] != 20]
    rest = [*HEAD, *body]
    for op, at, tag, value in edits:
        at %= len(rest) + 1
        if op == "insert":
            rest.insert(at, (tag, value))
        elif rest and op == "drop":
            del rest[at % len(rest)]
        elif rest:
            rest[at % len(rest)] = (rest[at % len(rest)][0], value)
    return [(35, msg_type), *rest]


def edited(begin: str, msg_type: bytes, edits: list[tuple[str, int, int, bytes]]) -> bytes:
    return fix.encode(begin, edited_fields(begin, msg_type, edits))
