"""The data dictionary's straight path in C (``gw_fix_dict_check``) says
exactly what the Python straight path says (``DataDictionary._plainly_valid``,
itself held to the full checks in tests/protocols/test_fixdict.py), on
valid messages and on messages edited into every kind of fault."""

from __future__ import annotations

from fix_edits import BEGIN_STRINGS, EDITS, TYPES, edited
from hypothesis import given, settings

from gateway.fixscan import DictCheck, FixScanner
from protocols import fixdict

_CHECKS: dict[str, DictCheck] = {}


@settings(max_examples=1500, deadline=None)
@given(BEGIN_STRINGS, TYPES, EDITS)
def test_c_and_python_straight_paths_agree(begin: str, msg_type: bytes,
                                           edits: list[tuple[str, int, int, bytes]]) -> None:
    d = fixdict.builtin(begin)
    check = _CHECKS.setdefault(begin, DictCheck(d))
    raw = edited(begin, msg_type, edits)
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
    good = edited("FIX.4.4", b"D", [])
    bad = edited("FIX.4.4", b"D", [("set", 9, 0, b"w")])  # OrdType w: not an OrdType
    frames, _ = FixScanner().frames(good + bad + good, DictCheck(d))
    assert [f[3] for f in frames] == [True, False, True]
    assert d.validate(frames[1][2]) is not None
