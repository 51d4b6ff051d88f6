"""protocols.fixdict: the shipped FIX 4.2/4.4 dictionaries, validation, canonical order.

The reference for what ``validate`` must answer is the QuickFIX acceptance
scripts in ``../shared/data/fix-session-tests``: each ``I`` line the
counterparty sends is followed by the ``E`` line the engine must send back,
and when that is a session-level Reject about the message's own content,
its RefTagID (371), SessionRejectReason (373) and Text (58) are what
``validate`` must return.  The scripts are parsed here at test time.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from _protocols_util import SHARED_DATA, skip_or_fail
from fix_edits import BEGIN_STRINGS, EDITS, TYPES, edited_fields
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import fixdict
from protocols.fixdict import REJECT_TEXT, DataDictionary, DictionaryError, Rejection

SCRIPTS = SHARED_DATA / "fix-session-tests"
VERSIONS = {"fix42": "FIX.4.2", "fix44": "FIX.4.4"}
DICTS = Path(fixdict.__file__).parent / "dicts"
SOH = "\x01"
NOW = "20240102-03:04:05.678"

Fields = list[tuple[int, bytes]]


# ------------------------------------------------------------ script parsing


def _message(text: str) -> Fields | None:
    """One I/E line's message as fields, 9 and 10 added when absent; None if
    the line is deliberately garbled (a tag that is not a number)."""
    text = re.sub(r"<TIME[+-]?\d*>", NOW, text)
    fields: Fields = []
    for part in text.split(SOH):
        if not part:
            continue
        tag, _, value = part.partition("=")
        if not re.fullmatch(r"-?\d+", tag):
            return None
        fields.append((int(tag), value.encode()))
    return _complete(fields)


def _complete(fields: Fields) -> Fields:
    """Add BodyLength after BeginString and CheckSum at the end, as the harness does."""
    tags = [t for t, _ in fields]
    if 9 not in tags and tags[:1] == [8]:
        body = sum(len(f"{t}=".encode()) + len(v) + 1 for t, v in fields[1:])
        fields.insert(1, (9, str(body).encode()))
    if 10 not in tags:
        wire = b"".join(f"{t}=".encode() + v + b"\x01" for t, v in fields)
        fields.append((10, b"%03d" % (sum(wire) % 256)))
    return fields


def _pairs(path: Path) -> Iterator[tuple[int, Fields, Fields]]:
    """(line number, message sent, reply expected) for each I line answered by an E line."""
    actions = []
    for number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        m = re.match(r"([IE])(?:\d+,)?(.*)", line)
        if m and not line.startswith("#") and m[2] not in ("CONNECT", "DISCONNECT"):
            actions.append((number, m[1], m[2]))
        elif line.strip() and not line.startswith("#"):
            actions.append((number, line[:1], ""))  # iCONNECT etc.: breaks a pair
    for (number, kind, text), (_, next_kind, next_text) in itertools.pairwise(actions):
        if kind == "I" and next_kind == "E":
            sent, reply = _message(text), _message(next_text)
            if sent is not None and reply is not None:
                yield number, sent, reply


_TEXT_REASON = {text: reason for reason, text in REJECT_TEXT.items()}


def _expected(reply: Fields) -> Rejection | None:
    """What validate must return for the message that drew ``reply``."""
    f = dict(reply)
    if f.get(35) != b"3" or _session_rule(f):
        return None
    text = f[58].decode()
    # FIX 4.2 defines SessionRejectReason 0-11 only, so its Rejects for
    # 13, 14 and 16 carry no 373: the text says which it was.
    reason = int(f[373]) if 373 in f else _TEXT_REASON[text]
    return Rejection(reason, int(f[371]) if 371 in f else None, text)


def _session_rule(f: dict[int, bytes]) -> bool:
    """Rejects the session layer makes, not the dictionary: SendingTime and
    CompID checks, OrigSendingTime required with PossDupFlag=Y (371=122),
    and a SequenceReset lowering NewSeqNo (reason 5 without a tag)."""
    if f.get(58) in (b"SendingTime accuracy problem", b"CompID problem"):
        return True
    return f.get(371) == b"122" or (f.get(373) == b"5" and 371 not in f)


def _scripts() -> list[object]:
    if not SCRIPTS.is_dir():
        return [pytest.param(None, None, id="scripts-absent")]
    return [pytest.param(v, p, id=f"{v}/{p.stem}")
            for v in VERSIONS for p in sorted((SCRIPTS / v).glob("*.def"))]


def _need_scripts() -> None:
    if not SCRIPTS.is_dir():
        skip_or_fail(f"FIX acceptance scripts folder {SCRIPTS} is absent")


# ---------------------------------------------------------------- helpers


def _dd(version: str) -> DataDictionary:
    return fixdict.builtin(VERSIONS.get(version, version))


def _header(begin: str, msg_type: str) -> Fields:
    return [(8, begin.encode()), (35, msg_type.encode()), (34, b"2"), (49, b"TW"),
            (52, NOW.encode()), (56, b"ISLD")]


def _whole(begin: str, msg_type: str, body: Sequence[tuple[int, bytes | str]]) -> Fields:
    return _complete(_header(begin, msg_type)
                     + [(t, v.encode() if isinstance(v, str) else v) for t, v in body])


def _split_body(dd: DataDictionary, fields: Fields) -> Fields:
    return [(t, v) for t, v in fields if t not in dd.header_tags and t not in dd.trailer_tags]


# ------------------------------------------------- the acceptance scripts


@pytest.mark.parametrize(("version", "script"), _scripts())
def test_script_replies(version: str | None, script: Path | None) -> None:
    """Every I line answered by an E line: a content Reject gives exactly its
    (373, 371, 58); any other reply means the message passed the dictionary."""
    if version is None or script is None:
        _need_scripts()
        return
    dd = _dd(version)
    for line, sent, reply in _pairs(script):
        assert dd.validate(sent) == _expected(reply), f"{script.name}:{line}"


def test_scripts_cover_every_dictionary_reason() -> None:
    """The scripts do exercise each check the dictionary owns (not a vacuous pass)."""
    _need_scripts()
    seen: dict[str, set[int]] = {}
    for version in VERSIONS:
        for path in (SCRIPTS / version).glob("*.def"):
            for _, _, reply in _pairs(path):
                expected = _expected(reply)
                if expected is not None:
                    seen.setdefault(version, set()).add(expected.reason)
    assert seen == {v: {0, 1, 2, 4, 5, 6, 11, 13, 14, 16} for v in VERSIONS}


@pytest.mark.parametrize("version", VERSIONS)
def test_script_echo_order_is_canonical(version: str) -> None:
    """Echoed NewOrderSingle and SecurityDefinition: the echo's body is
    canonical_body of what was sent (scripts 14e, 15, 21, ...)."""
    _need_scripts()
    dd = _dd(version)
    checked = 0
    for path in sorted((SCRIPTS / version).glob("*.def")):
        for line, sent, reply in _pairs(path):
            msg_type = dict(sent)[35]
            if msg_type not in (b"D", b"d") or dict(reply)[35] != msg_type:
                continue
            got = dd.canonical_body(msg_type.decode(), _split_body(dd, sent))
            want = _split_body(dd, reply)
            assert [t for t, _ in got] == [t for t, _ in want], f"{path.name}:{line}"
            # TransactTime is a <TIME> placeholder on one side and a pattern on the other.
            assert [(t, v) for t, v in got if t != 60] == [(t, v) for t, v in want if t != 60]
            checked += 1
    assert checked >= 10


def test_script_21_echo_exactly() -> None:
    """Repeating group counts of zero stay where their NumInGroup sorts."""
    _need_scripts()
    dd = _dd("fix42")
    script = SCRIPTS / "fix42" / "21_RepeatingGroupSpecifierWithValueOfZero.def"
    [(sent, reply)] = [(s, r) for _, s, r in _pairs(script) if dict(s)[35] == b"d"]
    assert dd.validate(sent) is None
    body = dd.canonical_body("d", _split_body(dd, sent))
    assert [t for t, _ in body] == [22, 55, 58, 146, 167, 320, 322, 323, 336, 393]
    assert body == _split_body(dd, reply)


# --------------------------------------------- every shipped message type

# Required body fields per the FIX specifications (typed here independently
# of the XML, so that the two check each other).
REQUIRED = {
    "FIX.4.2": {"0": [], "1": [112], "2": [7, 16], "3": [45], "4": [36], "5": [],
                "A": [98, 108], "8": [6, 14, 17, 20, 37, 39, 54, 55, 150, 151],
                "9": [11, 37, 39, 41, 434], "D": [11, 21, 40, 54, 55, 60],
                "F": [11, 41, 54, 55, 60], "G": [11, 21, 40, 41, 54, 55, 60],
                "d": [320, 322, 393], "j": [372, 380]},
    "FIX.4.4": {"0": [], "1": [112], "2": [7, 16], "3": [45], "4": [36], "5": [],
                "A": [98, 108], "8": [6, 14, 17, 37, 39, 54, 150, 151],
                "9": [11, 37, 39, 41, 434], "D": [11, 40, 54, 60],
                "F": [11, 41, 54, 60], "G": [11, 40, 41, 54, 60],
                "d": [320, 322, 323], "j": [372, 380]},
}
ENUM_SAMPLE = {20: "0", 21: "1", 39: "0", 40: "2", 54: "1", 98: "0", 150: "0", 323: "1",
               380: "3", 434: "1"}
TYPE_SAMPLE = {"INT": "1", "SEQNUM": "1", "LENGTH": "1", "PRICE": "10.25", "QTY": "100",
               "FLOAT": "1.5", "AMT": "12.5", "CHAR": "A", "BOOLEAN": "Y",
               "UTCTIMESTAMP": NOW, "STRING": "X"}


def _sample(dd: DataDictionary, tag: int) -> str:
    return ENUM_SAMPLE.get(tag) or TYPE_SAMPLE[dd.field_type(tag) or "STRING"]


@pytest.mark.parametrize("begin", REQUIRED)
def test_every_message_type_with_its_required_fields(begin: str) -> None:
    dd = fixdict.builtin(begin)
    for msg_type, required in REQUIRED[begin].items():
        assert dd.has_msg_type(msg_type)
        body = [(tag, _sample(dd, tag)) for tag in required]
        assert dd.validate(_whole(begin, msg_type, body)) is None, msg_type
        for tag in required:  # and each one is really required
            rest = [(t, v) for t, v in body if t != tag]
            assert dd.validate(_whole(begin, msg_type, rest)) == Rejection(
                1, tag, "Required tag missing"), (msg_type, tag)


@pytest.mark.parametrize("begin", REQUIRED)
def test_header_and_trailer(begin: str) -> None:
    dd = fixdict.builtin(begin)
    routing = {115, 128, 116, 129, 144, 145, 43, 97, 122, 50, 57, 142, 143, 90, 91, 212, 213}
    assert routing <= dd.header_tags
    assert {93, 89, 10} == dd.trailer_tags
    assert dd.begin_string == begin
    for tag in (8, 9, 35, 34, 49, 52, 56):  # required header fields, lowest first
        fields = [f for f in _whole(begin, "0", []) if f[0] != tag]
        rejection = dd.validate(fields)
        assert rejection is not None and rejection.reason in (1, 14), tag
    msg = _whole(begin, "0", [])
    msg[3:3] = [(115, b"A"), (128, b"B"), (116, b"C"), (129, b"D"), (144, b"E"), (145, b"F"),
                (43, b"Y"), (97, b"N"), (122, NOW.encode())]
    assert dd.validate(msg) is None


def test_lookups() -> None:
    dd = _dd("fix44")
    assert dd.field_name(553) == "Username" and dd.field_type(553) == "STRING"
    assert dd.field_name(454) == "NoSecurityAltID" and dd.field_type(454) == "NUMINGROUP"
    assert dd.field_name(9999) is None and dd.field_type(9999) is None
    assert dd.is_admin("A") and dd.is_admin("0") and not dd.is_admin("D")
    assert not dd.is_admin("zz") and not dd.has_msg_type("zz")
    assert fixdict.builtin("FIX.4.4") is dd  # cached
    with pytest.raises(ValueError, match=r"FIX\.4\.3.*FIX\.4\.2, FIX\.4\.4"):
        fixdict.builtin("FIX.4.3")


# ------------------------------------------------------- check order


def _nos(begin: str = "FIX.4.2", extra: Sequence[tuple[int, str]] = (),
         drop: Sequence[int] = ()) -> Fields:
    body = [(11, "ID"), (21, "1"), (40, "2"), (44, "10.5"), (54, "1"), (38, "100"),
            (55, "INTC"), (60, NOW)]
    return _whole(begin, "D", [(t, v) for t, v in body if t not in drop] + list(extra))


def _insert(message: Fields, index: int, field: tuple[int, bytes]) -> Fields:
    return [*message[:index], field, *message[index:]]


@pytest.mark.parametrize(("message", "expected"), [
    # structure first, even before an unknown MsgType
    (_complete([(8, b"FIX.4.2"), (35, b"*"), (11, b"x"), (34, b"2"), (49, b"A"),
                (52, NOW.encode()), (56, b"B")]), (14, 34)),
    # then MsgType, before missing header fields
    (_complete([(8, b"FIX.4.2"), (35, b"*"), (34, b"2"), (52, NOW.encode())]), (11, None)),
    # required: the lowest missing tag, header before body
    (_nos(drop=(55, 11)), (1, 11)),
    ([f for f in _nos(drop=(55,)) if f[0] != 56], (1, 56)),
    # field checks: header before body, whatever the wire order
    (_insert(_nos(extra=[(40, "w")], drop=(40,)), 3, (43, b"x")), (6, 43)),
    (_insert(_nos(extra=[(40, "w")], drop=(40,)), 3, (115, b"")), (4, 115)),
    # body by ascending tag: 7 (not in D) sorts before the empty 11
    ([(t, b"" if t == 11 else v) for t, v in _nos(extra=[(7, "1")])], (2, 7)),
    # a repeated tag is reported after its first occurrence's own checks
    (_nos(extra=[(40, "w"), (40, "1")], drop=(40,)), (5, 40)),
    (_nos(extra=[(40, "1"), (40, "w")], drop=(40,)), (13, 40)),
    # empty before format before enum before unknown tag
    (_nos(extra=[(999, "")]), (4, 999)),
    (_nos(extra=[(38, "1e3")], drop=(38,)), (6, 38)),
    (_nos(extra=[(5000, "x")]), (0, 5000)),
    (_nos(extra=[(0, "x")]), (0, 0)),
    (_nos(extra=[(-1, "x")]), (0, -1)),
    # a body field after the trailer started
    ([*_nos()[:-1], (93, b"2"), (89, b"ab"), (58, b"late"), _nos()[-1]], (14, 58)),
    # the first three fields out of order (framing should have caught it)
    ([(8, b"FIX.4.2"), (35, b"0"), *_whole("FIX.4.2", "0", [])[1:]], (14, 35)),
])
def test_first_rejection(message: Fields, expected: tuple[int, int | None]) -> None:
    reason, tag = expected
    assert fixdict.builtin("FIX.4.2").validate(message) == Rejection(reason, tag,
                                                                     REJECT_TEXT[reason])


def test_msgtype_must_be_third() -> None:
    """Without MsgType third the message is out of structure (QuickFIX
    drops it as garbled: the session should not even ask, see script 2t)."""
    dd = fixdict.builtin("FIX.4.2")
    assert dd.validate([f for f in _nos() if f[0] != 35]) == Rejection(14, 34, REJECT_TEXT[14])
    assert dd.validate([(8, b"FIX.4.2"), (9, b"5")]) == Rejection(1, 35, REJECT_TEXT[1])


# --------------------------------------------------- repeating groups

PARTIES = [(453, "2"), (448, "FIRM"), (447, "D"), (452, "1"),
           (802, "1"), (523, "desk 4"), (803, "25"),
           (448, "TRADER"), (447, "D"), (452, "12")]


def test_groups_valid_nested_and_zero() -> None:
    dd = _dd("fix44")
    msg = _nos("FIX.4.4", [*PARTIES, (386, "2"), (336, "PRE-OPEN"), (625, "a"), (336, "CORE"),
                           (454, "0"), (711, "1"), (311, "IBM"), (457, "1"), (458, "US459200"),
                           (459, "4")], drop=(21,))
    assert dd.validate(msg) is None


@pytest.mark.parametrize(("extra", "expected"), [
    # count differs from the instances, at the top level and nested
    ([(386, "3"), (336, "A"), (336, "B")], (16, 386)),
    ([(386, "1"), (336, "A"), (336, "B")], (16, 386)),
    ([(386, "0"), (336, "A")], (16, 386)),
    ([(453, "1"), (448, "X"), (802, "2"), (523, "a"), (803, "1")], (16, 802)),
    # a group field outside its group is not a field of the message
    ([(336, "A")], (2, 336)),
    # inside instances: empty, format, enum (QuickFIX 1.16 checks none of these)
    ([(453, "1"), (448, ""), (452, "1")], (4, 448)),
    ([(453, "1"), (448, "X"), (452, "boss")], (6, 452)),
    ([(453, "1"), (448, "X"), (447, "Z")], (5, 447)),
    # an instance must start with the delimiter
    ([(453, "1"), (447, "D"), (448, "X")], (16, 453)),  # 2 instances: 447..., 448...
    ([(453, "1"), (447, "D")], (15, 447)),
    # the count field itself
    ([(453, "x")], (6, 453)),
    ([(453, "")], (4, 453)),
])
def test_group_rejections(extra: list[tuple[int, str]], expected: tuple[int, int]) -> None:
    dd = _dd("fix44")
    reason, tag = expected
    assert dd.validate(_nos("FIX.4.4", extra, drop=(21,))) == Rejection(reason, tag,
                                                                       REJECT_TEXT[reason])


def test_header_group_count() -> None:
    """NoHops (627) in the FIX 4.4 header is a group like any other."""
    dd = _dd("fix44")
    hops = [(627, b"2"), (628, b"HUB"), (629, NOW.encode()), (628, b"EDGE")]
    ok = _nos("FIX.4.4", drop=(21,))
    assert dd.validate([*ok[:7], *hops, *ok[7:]]) is None
    bad = [*ok[:7], (627, b"3"), *hops[1:], *ok[7:]]
    assert dd.validate(bad) == Rejection(16, 627, REJECT_TEXT[16])


def test_required_field_inside_group_instance(tmp_path: Path) -> None:
    path = _write(tmp_path, VENUE)
    dd = fixdict.load(path)
    ok = _whole("FIX.4.2", "U1", [(7101, "A"), (7110, "1"), (7111, "x"), (7112, "1")])
    assert dd.validate(ok) is None
    no_req = _whole("FIX.4.2", "U1", [(7101, "A"), (7110, "1"), (7111, "x")])
    assert dd.validate(no_req) == Rejection(1, 7112, "Required tag missing")


# --------------------------------------------------------- canonical_body


def test_canonical_body_new_order_single() -> None:
    dd = _dd("fix44")
    body = [(60, NOW.encode()), (55, b"INTC"), (386, b"2"), (336, b"A"), (625, b"s1"),
            (336, b"B"), (453, b"1"), (448, b"FIRM"), (452, b"1"), (802, b"1"), (523, b"me"),
            (803, b"2"), (447, b"D"), (11, b"ID"), (40, b"2"), (54, b"1"), (38, b"5"),
            (58, b"one"), (58, b"two")]
    assert dd.canonical_body("D", body) == [
        (11, b"ID"), (38, b"5"), (40, b"2"), (54, b"1"), (55, b"INTC"),
        (58, b"one"), (58, b"two"), (60, NOW.encode()),
        # the instances follow their count, fields in the group's own order
        (386, b"2"), (336, b"A"), (625, b"s1"), (336, b"B"),
        (453, b"1"), (448, b"FIRM"), (447, b"D"), (452, b"1"),
        (802, b"1"), (523, b"me"), (803, b"2"),
    ]


def test_canonical_body_unknown_type_sorts_by_tag() -> None:
    dd = _dd("fix42")
    assert dd.canonical_body("zz", [(58, b"a"), (11, b"b"), (386, b"0")]) == [
        (11, b"b"), (58, b"a"), (386, b"0")]


# ------------------------------------------------------------- formats

FORMAT_CASES = {
    # type: (accepted, rejected) -- as QuickFIX 1.16's convertors decide
    "INT": (["1", "-1", "007", "2147483647", "-2147483648"],
            ["+1", "1.0", " 1", "1 ", "0x1", "2147483648", "-", "1e3"]),
    "SEQNUM": (["0", "1", "18446744073709551615"], ["-1", "18446744073709551616", "1.0"]),
    "PRICE": (["1", "-1", "1.5", "1.", ".5", "-.5", "002000.00", "99999999999999999999"],
              ["+1", ".", "-", "1e5", "1..2", " 1", "1,5"]),
    "CHAR": (["A", "1", " "], ["AB"]),
    "BOOLEAN": (["Y", "N"], ["y", "n", "YES", "1"]),
    "UTCTIMESTAMP": (["20240102-03:04:05", "20240102-03:04:05.", "20240102-23:59:60.123",
                      "20240231-00:00:00", "20240102-03:04:05.123456789"],
                     ["20240102-03:04:05.1234567890", "20241302-03:04:05", "20240100-03:04:05",
                      "20240102-24:00:00", "20240102-03:60:05", "20240102-03:04:61",
                      "20240102 03:04:05", "20240102", "2024010-203:04:05"]),
    "UTCTIMEONLY": (["03:04:05", "23:59:60", "03:04:05.123"], ["24:00:00", "3:04:05", "03:04"]),
    "UTCDATEONLY": (["20240102", "00000101"], ["20241301", "20240100", "2024012", "2024-01-02"]),
    "MONTHYEAR": (["202401", "anything"], []),
    "LOCALMKTDATE": (["20240102", "anything"], []),
    "STRING": (["anything at all", "+1"], []),
}


@pytest.mark.parametrize("kind", FORMAT_CASES)
def test_value_formats(tmp_path: Path, kind: str) -> None:
    dd = fixdict.load(_write(tmp_path, TYPES_DICT))
    tag = 7000 + sorted(FORMAT_CASES).index(kind)
    accepted, rejected = FORMAT_CASES[kind]
    for value in accepted:
        assert dd.validate(_whole("FIX.4.2", "T", [(tag, value)])) is None, value
    for value in rejected:
        assert dd.validate(_whole("FIX.4.2", "T", [(tag, value)])) == Rejection(
            6, tag, "Incorrect data format for value"), value


def test_char_before_fix42_may_be_longer(tmp_path: Path) -> None:
    """Before FIX 4.2 a CHAR field could hold several characters (as in QuickFIX)."""
    dd = fixdict.load(_write(tmp_path, TYPES_DICT.replace('minor="2"', 'minor="1"')))
    tag = 7000 + sorted(FORMAT_CASES).index("CHAR")
    assert dd.begin_string == "FIX.4.1"
    assert dd.validate(_whole("FIX.4.1", "T", [(tag, "AB")])) is None


def test_multiple_value_enums() -> None:
    dd = _dd("fix42")
    assert dd.validate(_nos(extra=[(18, "1 G")])) is None
    for bad in ("1 Z", "1  G", "1G"):
        assert dd.validate(_nos(extra=[(18, bad)])) == Rejection(
            5, 18, "Value is incorrect (out of range) for this tag"), bad


# ------------------------------------------------------------ loading

TYPES_DICT = """<fix major="4" minor="2">
  <header><field name="BeginString" required="Y"/><field name="BodyLength" required="Y"/>
    <field name="MsgType" required="Y"/><field name="SenderCompID" required="Y"/>
    <field name="TargetCompID" required="Y"/><field name="MsgSeqNum" required="Y"/>
    <field name="SendingTime" required="Y"/></header>
  <trailer><field name="CheckSum" required="Y"/></trailer>
  <messages><message name="T" msgtype="T" msgcat="app">{refs}</message></messages>
  <fields>
    <field number="8" name="BeginString" type="STRING"/>
    <field number="9" name="BodyLength" type="LENGTH"/>
    <field number="35" name="MsgType" type="STRING"/>
    <field number="49" name="SenderCompID" type="STRING"/>
    <field number="56" name="TargetCompID" type="STRING"/>
    <field number="34" name="MsgSeqNum" type="SEQNUM"/>
    <field number="52" name="SendingTime" type="UTCTIMESTAMP"/>
    <field number="10" name="CheckSum" type="STRING"/>
    {defs}
  </fields>
</fix>""".format(
    refs="".join(f'<field name="F{k}" required="N"/>' for k in sorted(FORMAT_CASES)),
    defs="\n".join(f'<field number="{7000 + i}" name="F{k}" type="{k}"/>'
                   for i, k in enumerate(sorted(FORMAT_CASES))))

# A venue-style dictionary: components nested in components and in groups,
# groups nested in groups, a group that starts with a component.
VENUE = TYPES_DICT.replace(
    '<message name="T" msgtype="T" msgcat="app">',
    """<message name="U1" msgtype="U1" msgcat="app">
         <component name="Outer" required="Y"/>
       </message>
       <message name="T" msgtype="T" msgcat="app">""").replace(
    "</messages>", """</messages>
  <components>
    <component name="Outer">
      <field name="VenueA" required="Y"/>
      <group name="NoLegsX" required="N">
        <component name="LegBlock" required="N"/>
        <field name="LegReq" required="Y"/>
        <group name="NoSubs" required="N"><field name="SubID" required="N"/></group>
      </group>
    </component>
    <component name="LegBlock"><field name="LegName" required="N"/></component>
  </components>""").replace(
    '<field number="10" name="CheckSum" type="STRING"/>',
    """<field number="10" name="CheckSum" type="STRING"/>
    <field number="7101" name="VenueA" type="STRING"/>
    <field number="7110" name="NoLegsX" type="NUMINGROUP"/>
    <field number="7111" name="LegName" type="STRING"/>
    <field number="7112" name="LegReq" type="INT"/>
    <field number="7113" name="NoSubs" type="NUMINGROUP"/>
    <field number="7114" name="SubID" type="STRING"/>""")


def _write(tmp_path: Path, text: str, name: str = "VENUE.xml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_venue_dictionary_nested_components_and_groups(tmp_path: Path) -> None:
    dd = fixdict.load(_write(tmp_path, VENUE))
    assert dd.begin_string == "FIX.4.2" and dd.has_msg_type("U1")
    msg = _whole("FIX.4.2", "U1", [(7101, "A"), (7110, "2"), (7111, "L1"), (7112, "1"),
                                   (7113, "1"), (7114, "s"), (7111, "L2"), (7112, "2")])
    assert dd.validate(msg) is None
    bad = _whole("FIX.4.2", "U1", [(7101, "A"), (7110, "1"), (7111, "L1"), (7112, "1"),
                                   (7113, "2"), (7114, "s")])
    assert dd.validate(bad) == Rejection(16, 7113, REJECT_TEXT[16])
    # the delimiter of a group that starts with a component is that component's first field
    no_delim = _whole("FIX.4.2", "U1", [(7101, "A"), (7110, "1"), (7112, "1")])
    assert dd.validate(no_delim) == Rejection(15, 7112, REJECT_TEXT[15])


def _header_minus(tag: str) -> str:
    return TYPES_DICT.replace(f'<field name="{tag}" required="Y"/>', "")


LOAD_ERRORS = [
    # (dictionary text, what the message must say)
    ("<fix major='4' minor='2'><header>", ["not well-formed XML"]),
    ("<fixml major='4' minor='2'/>", ["root element is <fixml>", "expected <fix>"]),
    (TYPES_DICT.replace('major="4"', 'major="four"'), ['major="four"', "expected a number"]),
    (TYPES_DICT.replace('minor="2"', ""), ["<fix> needs a non-empty minor"]),
    (TYPES_DICT.replace('type="PRICE"', 'type="QUANTITY"'),
     ['type="QUANTITY"', "unknown type", "allowed:", "QTY", "UTCTIMESTAMP", "NUMINGROUP"]),
    (TYPES_DICT.replace('name="FPRICE"', 'name="FPRICE2"', 1),
     ['message T uses <field name="FPRICE2">', "which <fields> does not define"]),
    (TYPES_DICT.replace('number="7001"', 'number="7000"'), ["field number 7000 defined twice"]),
    (TYPES_DICT.replace('number="7001"', 'number="x"'), ['number="x"', "positive integer"]),
    (TYPES_DICT.replace('<field name="FINT" required="N"/>', '<field name="FINT" required="X"/>'),
     ['required="X"', "allowed: Y, N"]),
    (TYPES_DICT.replace('msgcat="app"', 'msgcat="application"'),
     ['msgcat="application"', "allowed: admin, app"]),
    (TYPES_DICT.replace("<fields>", "<fields><value enum='1'/>"),
     ["unexpected <value> in <fields>", "allowed: <field>"]),
    (TYPES_DICT.replace('<field name="FINT" required="N"/>', '<fieldref name="FINT"/>'),
     ["unexpected <fieldref> in message T", "allowed: <field>, <group>, <component>"]),
    (TYPES_DICT.replace('<field name="FINT" required="N"/>', '<component name="Nope"/>'),
     ["uses component Nope", "does not define"]),
    (TYPES_DICT.replace('<field name="FINT" required="N"/>',
                        '<group name="FSTRING"><field name="FINT"/></group>'),
     ["group FSTRING", "type STRING", "NUMINGROUP or INT"]),
    (TYPES_DICT.replace('<field name="FINT" required="N"/>', '<group name="FINT"/>'),
     ["group FINT in message T has no fields"]),
    (TYPES_DICT.replace("</messages>", "</messages><components><component name='A'>"
                        "<component name='B'/></component><component name='B'>"
                        "<component name='A'/></component></components>"),
     ["contains itself", "A -> B -> A"]),
    (TYPES_DICT.replace('type="CHAR"/>', 'type="CHAR"><value enum="A"/><value enum="A"/></field>'),
     ['lists enum="A" twice']),
    (TYPES_DICT.replace('type="CHAR"/>', 'type="CHAR"><value description="x"/></field>'),
     ["needs a non-empty enum"]),
    (_header_minus("MsgType"), ["<header> lacks field 35", "needs 8, 9 and 35"]),
    (TYPES_DICT.replace('<trailer><field name="CheckSum" required="Y"/></trailer>', ""),
     ["<fix> has no <trailer> section"]),
    (TYPES_DICT.replace("<trailer>", "<trailers/><trailer>"),
     ["unexpected <trailers> in <fix>", "allowed: <header>, <trailer>, <messages>"]),
    (TYPES_DICT.replace("</messages>", '<message name="T2" msgtype="T" msgcat="app"/></messages>'),
     ['msgtype="T" defined twice']),
]


@pytest.mark.parametrize(("text", "needles"), LOAD_ERRORS,
                         ids=[f"error{i}" for i in range(len(LOAD_ERRORS))])
def test_load_errors_name_the_problem(tmp_path: Path, text: str, needles: list[str]) -> None:
    path = _write(tmp_path, text, "BAD.xml")
    with pytest.raises(DictionaryError) as info:
        fixdict.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message  # file (and line) first
    for needle in needles:
        assert needle in message, message


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DictionaryError, match=r"NOPE\.xml: cannot read"):
        fixdict.load(tmp_path / "NOPE.xml")


def test_load_error_has_line_number(tmp_path: Path) -> None:
    text = TYPES_DICT.replace('type="PRICE"', 'type="QUANTITY"')
    line = text[: text.index("QUANTITY")].count("\n") + 1
    with pytest.raises(DictionaryError, match=rf"BAD\.xml:{line}: "):
        fixdict.load(_write(tmp_path, text, "BAD.xml"))


def test_load_accepts_every_quickfix_type(tmp_path: Path) -> None:
    kinds = sorted(fixdict.FIELD_TYPES)
    text = TYPES_DICT.replace(
        "<fields>", "<fields>" + "".join(f'<field number="{8000 + i}" name="X{k}" type="{k}"/>'
                                         for i, k in enumerate(kinds)))
    dd = fixdict.load(_write(tmp_path, text))
    assert [dd.field_type(8000 + i) for i in range(len(kinds))] == kinds


# ----------------------------------------------------------- QuickFIX

_QF_REASON = {"InvalidTagNumber": 0, "RequiredTagMissing": 1, "TagNotDefinedForMessage": 2,
              "NoTagValue": 4, "IncorrectTagValue": 5, "IncorrectDataFormat": 6,
              "InvalidMessageType": 11, "RepeatedTag": 13, "TagOutOfOrder": 14,
              "RepeatingGroupCountMismatch": 16}


def _qf_field(e: Any) -> int:
    """RefTagID of a QuickFIX validation exception."""
    return int(e.field)


@pytest.mark.quickfix
@pytest.mark.parametrize("version", VERSIONS)
def test_quickfix_loads_shipped_dictionaries(version: str) -> None:
    fix = pytest.importorskip("quickfix", reason="QuickFIX (PyPI quickfix) is not installed")
    path = DICTS / f"FIX{VERSIONS[version][4:].replace('.', '')}.xml"
    qf = fix.DataDictionary(str(path))
    assert qf.getVersion() == VERSIONS[version]
    dd = _dd(version)
    # Both read the same set of fields from the file.
    assert ({t for t in range(1, 1000) if qf.isField(t)}
            == {t for t in range(1, 1000) if dd.field_name(t) is not None})


@pytest.mark.quickfix
@pytest.mark.parametrize("version", VERSIONS)
def test_quickfix_agrees_on_the_scripts(version: str) -> None:
    """QuickFIX, given our dictionary, rejects each script message for the
    same reason and tag as validate (the groups in the scripts are all
    top-level, where QuickFIX does check)."""
    fix = pytest.importorskip("quickfix", reason="QuickFIX (PyPI quickfix) is not installed")
    _need_scripts()
    dd = _dd(version)
    qf = fix.DataDictionary(str(DICTS / f"FIX{VERSIONS[version][4:].replace('.', '')}.xml"))
    compared = 0
    for path in sorted((SCRIPTS / version).glob("*.def")):
        for line, sent, _ in _pairs(path):
            wire = "".join(f"{t}={v.decode('latin-1')}{SOH}" for t, v in sent)
            message = fix.Message(wire, qf, False)
            try:
                fix.DataDictionary.validate(message, qf, qf)
                theirs = None
            except fix.UnsupportedVersion:
                continue  # a BeginString the session refuses (script 2i), not ours
            except Exception as e:  # QuickFIX's validation exceptions
                reason = _QF_REASON[type(e).__name__]
                theirs = (reason, None if reason == 11 else _qf_field(e))
            mine = dd.validate(sent)
            assert theirs == (None if mine is None else (mine.reason, mine.tag)), \
                f"{path.name}:{line}"
            compared += 1
    assert compared > 100


# Faults to mix into valid messages: unknown, misplaced, empty, malformed,
# out-of-range and repeated fields, header and trailer fields in the body.
_MUTANTS = [(0, b"x"), (7, b"1"), (999, b"x"), (5000, b"x"), (43, b"Y"), (43, b"x"), (97, b"N"),
            (115, b"X"), (115, b""), (122, NOW.encode()), (122, b"bad"), (58, b""), (40, b"w"),
            (54, b"9"), (21, b"4"), (38, b"+1"), (38, b"1e3"), (44, b"abc"), (386, b"2"),
            (386, b"x"), (336, b"Y"), (167, b"BOO"), (167, b"FUT"), (35, b"D"), (34, b"3"),
            (10, b"000"), (93, b"2"), (89, b"ab"), (108, b"1"), (60, b"2024"), (126, b"20040415")]


def _mutants(version: str, count: int) -> Iterator[Fields]:
    import random

    rng = random.Random(20240102)
    now = NOW.encode()
    order = [(11, b"ID"), (40, b"2"), (44, b"10.5"), (54, b"1"), (38, b"100"), (55, b"INTC"),
             (60, now), (59, b"0"), (18, b"1 G"), (386, b"1"), (336, b"X")]
    report = [(37, b"o"), (17, b"e"), (150, b"0"), (39, b"0"), (55, b"S"), (54, b"1"),
              (151, b"1"), (14, b"0"), (6, b"0")]
    if version == "FIX.4.2":
        order, report = [*order, (21, b"1")], [*report, (20, b"0")]
    for _ in range(count):
        msg_type, body = rng.choice([(b"D", order), (b"8", report)])
        msg = [(8, version.encode()), (9, b"0"), (35, msg_type), (34, b"2"), (49, b"A"),
               (52, now), (56, b"B"), *body]
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(3, len(msg))
            op = rng.randrange(5)
            if op == 0 and len(msg) > 4:
                del msg[i]
            elif op == 1:
                msg.insert(i, rng.choice(_MUTANTS))
            elif op == 2:
                msg.insert(i, msg[rng.randrange(3, len(msg))])
            elif op == 3 and msg[i][0] != 336:  # not inside the group: we check more there
                msg[i] = (msg[i][0], rng.choice([b"", b"w", b"x1", b"1.5", b"Y"]))
            else:
                j = rng.randrange(3, len(msg))
                msg[i], msg[j] = msg[j], msg[i]
        yield [*msg, (10, b"000")]


@pytest.mark.quickfix
@pytest.mark.parametrize("version", VERSIONS)
def test_quickfix_agrees_on_mutated_messages(version: str) -> None:
    """Thousands of valid messages with one to three faults mixed in: the
    first rejection (reason and tag) is the one QuickFIX finds with our file."""
    fix = pytest.importorskip("quickfix", reason="QuickFIX (PyPI quickfix) is not installed")
    begin = VERSIONS[version]
    dd = _dd(version)
    qf = fix.DataDictionary(str(DICTS / f"FIX{begin[4:].replace('.', '')}.xml"))
    rejected = 0
    for sent in _mutants(begin, 3000):
        wire = "".join(f"{t}={v.decode()}{SOH}" for t, v in sent)
        try:
            message = fix.Message(wire, qf, False)
        except fix.InvalidMessage:
            continue  # unframeable (Signature without SignatureLength): the framer's job
        try:
            fix.DataDictionary.validate(message, qf, qf)
            theirs = None
        except Exception as e:  # QuickFIX's validation exceptions
            reason = _QF_REASON[type(e).__name__]
            theirs = (reason, None if reason == 11 else _qf_field(e))
        mine = dd.validate(sent)
        assert theirs == (None if mine is None else (mine.reason, mine.tag)), wire
        rejected += mine is not None
    assert rejected > 1500  # the faults do bite


@pytest.mark.quickfix
@settings(max_examples=300)
@given(data=st.data())
def test_quickfix_agrees_on_value_formats(tmp_path_factory: pytest.TempPathFactory,
                                          data: st.DataObject) -> None:
    """Any value of any checked type: accepted or refused (reason 6) as
    QuickFIX's own convertors decide."""
    fix = pytest.importorskip("quickfix", reason="QuickFIX (PyPI quickfix) is not installed")
    path = _write(tmp_path_factory.mktemp("types"), TYPES_DICT, "TYPES.xml")
    dd, qf = fixdict.load(path), fix.DataDictionary(str(path))
    kind = data.draw(st.sampled_from(sorted(FORMAT_CASES)))
    tag = 7000 + sorted(FORMAT_CASES).index(kind)
    value = data.draw(st.one_of(
        st.text("0123456789-+.: eEYNyx", max_size=30),
        st.sampled_from(FORMAT_CASES[kind][0] + FORMAT_CASES[kind][1]).map(
            lambda v: v[: len(v) - 1] if v else v),
        st.from_regex(r"\A[0-9]{8}-[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,10})?\Z"),
        st.from_regex(r"\A-?[0-9]{1,21}(\.[0-9]{0,3})?\Z"),
    ))
    sent = _whole("FIX.4.2", "T", [(tag, value)])
    wire = "".join(f"{t}={v.decode()}{SOH}" for t, v in sent)
    try:
        fix.DataDictionary.validate(fix.Message(wire, qf, False), qf, qf)
        theirs = None
    except Exception as e:  # QuickFIX's validation exceptions
        theirs = (_QF_REASON[type(e).__name__], _qf_field(e))
    mine = dd.validate(sent)
    assert theirs == (None if mine is None else (mine.reason, mine.tag)), (kind, value)


@settings(max_examples=500, deadline=None)
@given(BEGIN_STRINGS, TYPES, EDITS)
def test_the_straight_path_never_passes_what_the_full_checks_reject(
        begin: str, msg_type: bytes, edits: list[tuple[str, int, int, bytes]]) -> None:
    d = fixdict.builtin(begin)
    fields = [(8, begin.encode()), (9, b"10"), *edited_fields(begin, msg_type, edits),
              (10, b"000")]
    if d._plainly_valid(fields):
        assert d._validate_fully(fields) is None, fields
    if not edits:  # the untouched message takes the straight path
        assert d._plainly_valid(fields) and d.validate(fields) is None
