"""The data dictionary's straight path in C (``gw_fix_dict_check``) says
exactly what the Python straight path says (``DataDictionary._plainly_valid``,
itself held to the full checks in tests/protocols/test_fixdict.py), on
valid messages and on messages edited into every kind of fault."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fixscan import DictCheck, FixScanner
from protocols import fix, fixdict

_HEAD = [(34, b"2"), (49, b"A"), (52, b"20261122-10:00:00.123"), (56, b"B")]
_BASES = {
    b"0": [(112, b"T")],
    b"D": [(11, b"X"), (21, b"1"), (38, b"100"), (40, b"2"), (44, b"10.5"), (54, b"1"),
           (55, b"IBM"), (59, b"0"), (60, b"20261122-10:00:00")],
    b"8": [(6, b"0"), (11, b"X"), (14, b"0"), (17, b"E"), (20, b"0"), (37, b"O"), (38, b"100"),
           (39, b"0"), (54, b"1"), (55, b"IBM"), (150, b"0"), (151, b"100")],
    b"A": [(98, b"0"), (108, b"30"), (141, b"Y")],
    b"2": [(7, b"1"), (16, b"0")],
}
_TAGS = [11, 21, 38, 40, 44, 54, 55, 59, 60, 20, 150, 39, 43, 97, 122, 115, 128, 58, 386, 336,
         627, 999, 10, 34, 49, 141, 108, 18, 0, -1, 12000]
_VALUES = [b"", b"1", b"2", b"Y", b"N", b"X", b"100", b"-7", b"10.5", b"5.", b".5", b".", b"+1",
           b"w", b"1234567890", b"20261122-10:00:00.123", b"20261322-10:00:00",
           b"20261122-24:00:00", b"20261122-10:00:60.1234567890", b"ISLD", b"M N", b"A B"]
_EDIT = st.tuples(st.sampled_from(["insert", "drop", "set"]), st.integers(0, 30),
                  st.sampled_from(_TAGS), st.sampled_from(_VALUES))


def _message(begin: str, msg_type: bytes, edits: list[tuple[str, int, int, bytes]]) -> bytes:
    body = [f for f in _BASES[msg_type] if begin == "FIX.4.2" or f[0] != 20]
    rest = [*_HEAD, *body]
    for op, at, tag, value in edits:
        at %= len(rest) + 1
        if op == "insert":
            rest.insert(at, (tag, value))
        elif rest and op == "drop":
            del rest[at % len(rest)]
        elif rest:
            rest[at % len(rest)] = (rest[at % len(rest)][0], value)
    return fix.encode(begin, [(35, msg_type), *rest])


_CHECKS: dict[str, DictCheck] = {}


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(["FIX.4.2", "FIX.4.4"]), st.sampled_from(list(_BASES)),
       st.lists(_EDIT, max_size=3))
def test_c_and_python_straight_paths_agree(begin: str, msg_type: bytes,
                                           edits: list[tuple[str, int, int, bytes]]) -> None:
    d = fixdict.builtin(begin)
    check = _CHECKS.setdefault(begin, DictCheck(d))
    raw = _message(begin, msg_type, edits)
    frames, used = FixScanner(max_messages=4, max_fields=256).frames(raw, check)
    assert used == len(raw) and len(frames) == 1
    err, _, fields, checked = frames[0]
    if err:
        assert not checked
        return
    assert checked == d._plainly_valid(fields), (raw, checked)
    if not edits:
        assert checked


def test_a_batch_is_checked_message_by_message() -> None:
    d = fixdict.builtin("FIX.4.4")
    good = _message("FIX.4.4", b"D", [])
    bad = _message("FIX.4.4", b"D", [("set", 9, 0, b"w")])  # OrdType w: not an OrdType
    frames, _ = FixScanner().frames(good + bad + good, DictCheck(d))
    assert [f[3] for f in frames] == [True, False, True]
    assert d.validate(frames[1][2]) is not None
