"""FIX data dictionaries (the QuickFIX XML format) and message validation.

Pure Python; the only I/O is reading the XML file in :func:`load`.

The format
----------
Venues publish their FIX dialects in the XML format QuickFIX defined::

    <fix type="FIX" major="4" minor="2" servicepack="0">
      <header> <field name="BeginString" required="Y"/> ... </header>
      <trailer> ... </trailer>
      <messages>
        <message name="NewOrderSingle" msgtype="D" msgcat="app">
          <field name="ClOrdID" required="Y"/>
          <group name="NoTradingSessions" required="N"> <field .../> </group>
          <component name="Instrument" required="Y"/>
        </message>
      </messages>
      <components> <component name="Instrument"> ... </component> </components>
      <fields>
        <field number="40" name="OrdType" type="CHAR">
          <value enum="1" description="MARKET"/> ...
        </field>
      </fields>
    </fix>

Groups nest, components nest in components and groups, and messages refer to
fields by name.  The first field of a group is its delimiter: it starts every
instance.

Theory of operation
-------------------
:func:`load` reads the XML once and compiles it into flat tables, so that
validating a message never walks XML:

* per field tag: name, type, a format check on the raw bytes and the set of
  enumerated values;
* per *scope* (the header, the trailer, each message body, each repeating
  group's instance): the tags allowed directly in it, its required tags in
  ascending order, the groups that start in it, the order in which QuickFIX
  sorts (and writes) its fields, and per allowed tag one "quick" check.

Components disappear in compilation: their fields join the enclosing scope,
required only when the component is required too (as in QuickFIX).

:meth:`DataDictionary.validate` then works in two passes:

1. *Parse*, once over the wire fields, the way QuickFIX's parser does: each
   field goes to the header, the body or the trailer; a header field after
   the body has started, or a body field after the trailer has, is the
   first structure error.  After a NumInGroup field the group's instances
   are gathered: the delimiter, or a group field already present in the
   current instance, starts a new instance; the first field that is not a
   field of the group ends the group.
2. *Check*, in the order QuickFIX checks, returning the first failure:

   a. structure: fields out of header/body/trailer order (14);
   b. the MsgType is defined (11);
   c. required fields: header, trailer, body (each in ascending tag order),
      then inside each group instance (1);
   d. field by field -- header (8, 9, 35, then ascending), trailer (93, 89,
      10, ...), body (ascending tag), then each group instance in the group
      definition's order: repeated tag (13), no value (4), format (6),
      enumerated value (5), tag defined in the dictionary (0), tag defined
      for this message type (2), NumInGroup equals the instances (16), and a
      group instance that does not start with its delimiter (15).

   The order matters because a message can carry several faults and the
   acceptance scripts expect the one QuickFIX reports (e.g. an empty header
   field before a bad enum in the body; the lowest missing required tag).

Nearly every message is valid, so step d is cheap for them: QuickFIX sorts
each map and stops at the first failing field, which is the same as "the
failing field with the smallest sort key", so nothing needs sorting unless
something fails.  A map is first run through the quick checks alone (one C
call per field: a compiled regex's fullmatch or a frozenset's __contains__,
with ranges written into the patterns); only if one says no, or a tag
repeats, are the full checks run field by field and the failures compared
by sort key.  Quick checks may say no when unsure (an INT of ten digits),
never yes wrongly.

Where this is stricter than QuickFIX 1.16, on purpose: QuickFIX checks
nothing inside repeating groups except the top-level instance count (no
formats, values, empty fields, nested counts, delimiters), and enforces the
required fields of a group instance only when the group itself is required.
Here group instances get the same checks as the body, the fields a group
marks required are required in every instance, and an instance must start
with the delimiter.  The session layer (not this module) checks framing,
BeginString, CompIDs, sequence numbers and SendingTime, and builds the
Reject; it also decides which SessionRejectReason values its FIX version may
carry (FIX 4.2 defines 0-11).
"""

from __future__ import annotations

import functools
import re
import xml.parsers.expat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class DictionaryError(Exception):
    """A dictionary file that cannot be used (the user's or the venue's fault).

    The message names the file, the line, the element or attribute, and
    what is allowed there."""


@dataclass(frozen=True)
class Rejection:
    """Why a message fails validation: what a session-level Reject carries."""

    reason: int  # SessionRejectReason (373)
    tag: int | None  # RefTagID (371); None when the rejection is not about one tag
    text: str  # Text (58)


# SessionRejectReason (373) values produced here.
INVALID_TAG_NUMBER = 0
REQUIRED_TAG_MISSING = 1
TAG_NOT_DEFINED_FOR_MESSAGE_TYPE = 2
TAG_SPECIFIED_WITHOUT_A_VALUE = 4
VALUE_IS_INCORRECT = 5
INCORRECT_DATA_FORMAT = 6
INVALID_MSGTYPE = 11
TAG_APPEARS_MORE_THAN_ONCE = 13
TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER = 14
REPEATING_GROUP_FIELDS_OUT_OF_ORDER = 15
INCORRECT_NUMINGROUP_COUNT = 16

#: Reject texts, worded as QuickFIX words them (and the acceptance scripts expect).
REJECT_TEXT: Mapping[int, str] = {
    INVALID_TAG_NUMBER: "Invalid tag number",
    REQUIRED_TAG_MISSING: "Required tag missing",
    TAG_NOT_DEFINED_FOR_MESSAGE_TYPE: "Tag not defined for this message type",
    TAG_SPECIFIED_WITHOUT_A_VALUE: "Tag specified without a value",
    VALUE_IS_INCORRECT: "Value is incorrect (out of range) for this tag",
    INCORRECT_DATA_FORMAT: "Incorrect data format for value",
    INVALID_MSGTYPE: "Invalid MsgType",
    TAG_APPEARS_MORE_THAN_ONCE: "Tag appears more than once",
    TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER: "Tag specified out of required order",
    REPEATING_GROUP_FIELDS_OUT_OF_ORDER: "Repeating group fields out of order",
    INCORRECT_NUMINGROUP_COUNT: "Incorrect NumInGroup count for repeating group",
}

# Built once: rejections are values, and the common ones need no allocation.
_NO_MSGTYPE = Rejection(INVALID_MSGTYPE, None, REJECT_TEXT[INVALID_MSGTYPE])


def _reject(reason: int, tag: int | None) -> Rejection:
    return Rejection(reason, tag, REJECT_TEXT[reason])


# --------------------------------------------------------------------------
# Value formats.  These accept exactly what QuickFIX's convertors accept
# (checked against QuickFIX 1.16): integers are 32-bit signed, SeqNums
# unsigned 64-bit, decimals have no sign '+', no exponent, no blanks,
# timestamps have 0-9 fraction digits and seconds up to 60 (leap second).
# --------------------------------------------------------------------------

# Ranges are in the patterns (month 01-12, day 01-31, hour 00-23, minute
# 00-59, second 00-60) so that a check is one regex call, no int().
_INT_RE = re.compile(rb"-?[0-9]+")
_SHORT_INT_RE = re.compile(rb"-?[0-9]{1,9}")  # always within 32 bits
_UINT_RE = re.compile(rb"[0-9]+")
_SHORT_UINT_RE = re.compile(rb"[0-9]{1,19}")  # always within 64 bits
_DECIMAL_RE = re.compile(rb"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATE = rb"[0-9]{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_TIME = rb"(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]{0,9})?"
_DATE_RE = re.compile(_DATE)
_TIME_RE = re.compile(_TIME)
_TIMESTAMP_RE = re.compile(_DATE + b"-" + _TIME)


def _int32(v: bytes) -> bool:
    if _SHORT_INT_RE.fullmatch(v) is not None:
        return True
    return _INT_RE.fullmatch(v) is not None and -(2**31) <= int(v) < 2**31


def _uint64(v: bytes) -> bool:
    if _SHORT_UINT_RE.fullmatch(v) is not None:
        return True
    return _UINT_RE.fullmatch(v) is not None and int(v) < 2**64


def _decimal(v: bytes) -> bool:
    return _DECIMAL_RE.fullmatch(v) is not None


def _char(v: bytes) -> bool:
    return len(v) == 1


def _boolean(v: bytes) -> bool:
    return v in (b"Y", b"N")


def _utc_date(v: bytes) -> bool:
    return _DATE_RE.fullmatch(v) is not None


def _utc_time_only(v: bytes) -> bool:
    return _TIME_RE.fullmatch(v) is not None


def _utc_timestamp(v: bytes) -> bool:
    return _TIMESTAMP_RE.fullmatch(v) is not None


Check = Callable[[bytes], bool]

#: Every field type a dictionary may use -> its format check (None: any bytes).
#: The names are QuickFIX's (FIX 4.0 to 5.0 SP2 and FIXT); types QuickFIX
#: treats as strings are strings here too.
FIELD_TYPES: Mapping[str, Check | None] = {
    "INT": _int32, "LENGTH": _int32, "NUMINGROUP": _int32, "SEQNUM": _uint64,
    "PRICE": _decimal, "AMT": _decimal, "QTY": _decimal, "FLOAT": _decimal,
    "PRICEOFFSET": _decimal, "PERCENTAGE": _decimal,
    "CHAR": _char, "BOOLEAN": _boolean,
    "UTCTIMESTAMP": _utc_timestamp, "TIME": _utc_timestamp,
    "UTCTIMEONLY": _utc_time_only, "UTCDATE": _utc_date, "UTCDATEONLY": _utc_date,
    **dict.fromkeys(
        ("STRING", "MULTIPLEVALUESTRING", "MULTIPLESTRINGVALUE", "MULTIPLECHARVALUE",
         "CURRENCY", "EXCHANGE", "COUNTRY", "LANGUAGE", "LOCALMKTDATE", "LOCALMKTTIME",
         "MONTHYEAR", "DAYOFMONTH", "DATE", "TZTIMEONLY", "TZTIMESTAMP", "DATA", "XMLDATA",
         "XID", "XIDREF", "TAGNUM", "TENOR", "PATTERN", "RESERVED100PLUS",
         "RESERVED1000PLUS", "RESERVED4000PLUS"),
        None),
}

# Quick checks for the straight path (see DataDictionary._all_valid): single
# C calls that are truthy only for good non-empty values, and may be falsy
# when unsure (a 10-digit INT), since the full checks then decide.
Quick = Callable[[bytes], object]
_QUICK_FORMAT: Mapping[str, Quick] = {
    "INT": _SHORT_INT_RE.fullmatch, "LENGTH": _SHORT_INT_RE.fullmatch,
    "NUMINGROUP": _SHORT_INT_RE.fullmatch, "SEQNUM": _SHORT_UINT_RE.fullmatch,
    **dict.fromkeys(("PRICE", "AMT", "QTY", "FLOAT", "PRICEOFFSET", "PERCENTAGE"),
                    _DECIMAL_RE.fullmatch),
    "CHAR": re.compile(rb".", re.DOTALL).fullmatch, "BOOLEAN": frozenset((b"Y", b"N")).__contains__,
    "UTCTIMESTAMP": _TIMESTAMP_RE.fullmatch, "TIME": _TIMESTAMP_RE.fullmatch,
    "UTCTIMEONLY": _TIME_RE.fullmatch, "UTCDATE": _DATE_RE.fullmatch,
    "UTCDATEONLY": _DATE_RE.fullmatch,
}

#: The value formats of the straight path's tables (``straight_tables``),
#: each the same as the quick check above (anything else: non-empty).
STRAIGHT_KINDS = ("string", "int", "uint", "decimal", "timestamp", "time", "date", "char",
                  "boolean")
_STRAIGHT_KIND: Mapping[str, str] = {
    "INT": "int", "LENGTH": "int", "NUMINGROUP": "int", "SEQNUM": "uint",
    **dict.fromkeys(("PRICE", "AMT", "QTY", "FLOAT", "PRICEOFFSET", "PERCENTAGE"), "decimal"),
    "CHAR": "char", "BOOLEAN": "boolean", "UTCTIMESTAMP": "timestamp", "TIME": "timestamp",
    "UTCTIMEONLY": "time", "UTCDATE": "date", "UTCDATEONLY": "date",
}

# Enumerated values of these types are lists separated by single spaces.
_MULTI_VALUE_TYPES = frozenset({"MULTIPLEVALUESTRING", "MULTIPLESTRINGVALUE", "MULTIPLECHARVALUE"})
# A NumInGroup field must hold a count.
_COUNT_TYPES = frozenset({"NUMINGROUP", "INT"})

_HEADER_FIRST = (8, 9, 35)  # BeginString, BodyLength, MsgType: always first, in this order
_TRAILER_ORDER = (93, 89, 10)  # SignatureLength, Signature, CheckSum


# --------------------------------------------------------------------------
# Compiled tables
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    tag: int
    name: str
    type: str
    check: Check | None
    values: frozenset[bytes] | None  # enumerated values; None: any
    multi: bool  # values are space-separated lists
    quick: Quick  # format and values at once, conservatively (see _QUICK_FORMAT)

    def value_ok(self, value: bytes) -> bool:
        assert self.values is not None
        if self.multi:
            return all(v in self.values for v in value.split(b" "))
        return value in self.values


@dataclass(frozen=True, slots=True)
class _Group:
    tag: int  # the NumInGroup field
    delimiter: int  # the first field of every instance
    scope: _Scope


@dataclass(frozen=True, slots=True)
class _Scope:
    """Where fields can stand: header, trailer, a message body or a group instance."""

    tags: frozenset[int]  # allowed directly here (group contents are in the groups)
    required: tuple[int, ...]  # ascending, as QuickFIX reports the lowest missing one
    groups: Mapping[int, _Group]
    # Sort position of tags that do not sort by number (header's 8, 9, 35;
    # trailer's 93, 89, 10; every field of a group instance).  Negative, so
    # they come before any tag that sorts by its number.
    rank: Mapping[int, int]
    quick: Mapping[int, Quick]  # the quick check of each of ``tags``
    nested_required: bool  # some group in here (at any depth) has required fields

    def sort_key(self, tag: int) -> int:
        return self.rank.get(tag, tag)


_EMPTY_SCOPE = _Scope(frozenset(), (), {}, {}, {}, False)


# --------------------------------------------------------------------------
# A parsed message: the wire fields, sorted into maps
# --------------------------------------------------------------------------


class _Map:
    """The fields of the header, the trailer, the body or one group instance.

    ``fields`` are the caller's own (tag, value) tuples in wire order (no
    copies); ``groups`` maps the index of a NumInGroup field in ``fields``
    to the instances that followed it."""

    __slots__ = ("_tags", "fields", "groups")

    def __init__(self) -> None:
        self.fields: list[tuple[int, bytes]] = []
        self.groups: dict[int, list[_Map]] = {}
        self._tags: set[int] | None = None

    def tags(self) -> set[int]:
        """The distinct tags (once parsing is over)."""
        if self._tags is None:
            self._tags = {tag for tag, _ in self.fields}
        return self._tags

    def add(self, field: tuple[int, bytes], fields: Sequence[tuple[int, bytes]], i: int,
            group: _Group | None) -> int:
        """Append ``field``; if it opens ``group``, take its instances from
        ``fields[i:]``.  Returns where the next field is."""
        self.fields.append(field)
        if group is not None:
            self.groups[len(self.fields) - 1], i = _take_group(fields, i, group)
        return i

    def instances(self) -> list[tuple[int, list[_Map]]]:
        """(NumInGroup tag, instances), in ascending tag order (QuickFIX's order)."""
        return sorted(((self.fields[k][0], v) for k, v in self.groups.items()),
                      key=lambda item: item[0])

    def count(self, tag: int) -> int:
        return sum(len(v) for k, v in self.groups.items() if self.fields[k][0] == tag)


def _take_group(fields: Sequence[tuple[int, bytes]], i: int,
                group: _Group) -> tuple[list[_Map], int]:
    """The instances of ``group`` starting at ``fields[i]``, and where they end."""
    scope = group.scope
    tags, nested = scope.tags, scope.groups
    instances: list[_Map] = []
    current: _Map | None = None
    seen: set[int] = set()
    n = len(fields)
    while i < n:
        field = fields[i]
        tag = field[0]
        if tag not in tags:
            break  # the first field foreign to the group ends it
        if current is None or tag == group.delimiter or tag in seen:
            # A field the instance already has starts the next one even
            # without the delimiter (as in QuickFIX); the missing delimiter
            # is reported when the instance is checked.
            current = _Map()
            instances.append(current)
            seen = set()
        seen.add(tag)
        i = current.add(field, fields, i + 1, nested.get(tag))
    return instances, i


def _take_fields(fields: Sequence[tuple[int, bytes]], scope: _Scope) -> _Map:
    """``fields`` as one map of ``scope``, group instances gathered."""
    m = _Map()
    i, n, groups = 0, len(fields), scope.groups
    while i < n:
        field = fields[i]
        i = m.add(field, fields, i + 1, groups.get(field[0]))
    return m


def _emit(m: _Map, scope: _Scope, out: list[tuple[int, bytes]]) -> None:
    fields = m.fields
    for k in sorted(range(len(fields)), key=lambda k: scope.sort_key(fields[k][0])):
        tag, value = fields[k]
        out.append((tag, value))
        instances = m.groups.get(k)
        if instances:
            group_scope = scope.groups[tag].scope
            for instance in instances:
                _emit(instance, group_scope, out)


def _first_missing(m: _Map, scope: _Scope) -> int | None:
    if scope.required:
        present = m.tags()
        for tag in scope.required:
            if tag not in present:
                return tag
    return None


def _first_missing_in_groups(m: _Map, scope: _Scope) -> int | None:
    """Depth first, groups in ascending tag order, instances in order."""
    for tag, instances in m.instances():
        group_scope = scope.groups[tag].scope
        for instance in instances:
            missing = _first_missing(instance, group_scope)
            if missing is None:
                missing = _first_missing_in_groups(instance, group_scope)
            if missing is not None:
                return missing
    return None


class _Parsed(NamedTuple):
    header: _Map
    body: _Map
    trailer: _Map
    msg_type: bytes | None
    out_of_order: int | None  # the first tag out of header/body/trailer order


class DataDictionary:
    """A compiled FIX data dictionary; build it with :func:`load` or :func:`builtin`."""

    def __init__(self, *, begin_string: str, fields: Mapping[int, _Field],
                 header: _Scope, trailer: _Scope, bodies: Mapping[bytes, _Scope],
                 admin: frozenset[bytes], source: str) -> None:
        self.begin_string = begin_string
        self.source = source  # the file it came from, for messages
        self.header_tags = header.tags
        self.trailer_tags = trailer.tags
        self._fields = fields
        self._header = header
        self._trailer = trailer
        self._bodies = bodies
        self._admin = admin
        # For the straight path (``_plainly_valid``): per message type,
        # every top-level tag it must carry, header and trailer too.
        self._flat_required = {
            mt: frozenset(header.required) | frozenset(trailer.required) | frozenset(b.required)
            for mt, b in bodies.items()}

    def __repr__(self) -> str:
        return f"<DataDictionary {self.begin_string} from {self.source}>"

    # -- lookups -----------------------------------------------------------

    def has_msg_type(self, msg_type: str) -> bool:
        return msg_type.encode() in self._bodies

    def is_admin(self, msg_type: str) -> bool:
        """True for session-level (msgcat="admin") types; False for others and unknown ones."""
        return msg_type.encode() in self._admin

    def field_name(self, tag: int) -> str | None:
        f = self._fields.get(tag)
        return f.name if f else None

    def field_type(self, tag: int) -> str | None:
        f = self._fields.get(tag)
        return f.type if f else None

    def straight_tables(self) -> tuple[list[tuple[int, str, list[bytes], bool]],
                                       dict[bytes, list[tuple[int, int]]]]:
        """The straight path (``_plainly_valid``) as plain data, for a
        faster implementation of it (the C one in ``native/src/fixdict.c``):
        fields as (tag, kind, enumerated values, multi) with kind one of
        ``STRAIGHT_KINDS``; per message type (tag, where) with where 0
        header, 1 body, 2 trailer, | 4 required, | 8 opens a group."""
        fields = [(t, _STRAIGHT_KIND.get(f.type, "string"), sorted(f.values or ()), f.multi)
                  for t, f in self._fields.items()]
        messages: dict[bytes, list[tuple[int, int]]] = {}
        for mt, body in self._bodies.items():
            where: dict[int, int] = {}
            for code, scope in ((1, body), (2, self._trailer), (0, self._header)):
                for tag in scope.quick:
                    where[tag] = code | (8 if tag in scope.groups else 0)
            for tag in self._flat_required[mt]:
                if tag in where:
                    where[tag] |= 4
            messages[mt] = sorted(where.items())
        return fields, messages

    # -- validation ----------------------------------------------------------

    def validate(self, fields: Sequence[tuple[int, bytes]]) -> Rejection | None:
        """The first reason to reject the whole message ``fields`` (in wire
        order, 8, 9 and 35 first, 10 last), or None when it is valid."""
        return None if self._plainly_valid(fields) else self._validate_fully(fields)

    def _validate_fully(self, fields: Sequence[tuple[int, bytes]]) -> Rejection | None:
        parsed = self._parse(fields)
        if parsed.out_of_order is not None:
            return _reject(TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER, parsed.out_of_order)
        if parsed.msg_type is None:
            return _reject(REQUIRED_TAG_MISSING, 35)
        body = self._bodies.get(parsed.msg_type)
        if body is None:
            return _NO_MSGTYPE
        sections = ((parsed.header, self._header), (parsed.trailer, self._trailer),
                    (parsed.body, body))
        for m, scope in sections:
            missing = _first_missing(m, scope)
            if missing is not None:
                return _reject(REQUIRED_TAG_MISSING, missing)
        for m, scope in sections:
            if m.groups and scope.nested_required:
                missing = _first_missing_in_groups(m, scope)
                if missing is not None:
                    return _reject(REQUIRED_TAG_MISSING, missing)
        for m, scope in sections:
            rejection = self._check_map(m, scope)
            if rejection is not None:
                return rejection
        return None

    def _plainly_valid(self, fields: Sequence[tuple[int, bytes]]) -> bool:
        """One pass for the common case -- no group present, sections in order,
        every field passing its quick check, no repeats, nothing required
        missing -- where the full checks would find nothing either.  False
        only means "look closer" (the full path decides)."""
        if len(fields) < 4 or fields[0][0] != 8 or fields[1][0] != 9 or fields[2][0] != 35:
            return False
        mt = fields[2][1]
        required = self._flat_required.get(mt)
        if required is None or self._trailer.groups:
            return False
        body = self._bodies[mt]
        hq, tq, bq = self._header.quick, self._trailer.quick, body.quick
        hgroups, bgroups = self._header.groups, body.groups
        section = 0
        for tag, value in fields:
            check = hq.get(tag)
            if check is not None:
                if section or tag in hgroups:
                    return False
            else:
                check = tq.get(tag)
                if check is not None:
                    section = 2
                else:
                    if section == 2:
                        return False
                    section = 1
                    check = bq.get(tag)
                    if check is None or tag in bgroups:
                        return False
            if not check(value):
                return False
        tags = {tag for tag, _ in fields}
        return len(tags) == len(fields) and required <= tags

    def _parse(self, fields: Sequence[tuple[int, bytes]]) -> _Parsed:
        header, body, trailer = _Map(), _Map(), _Map()
        msg_type: bytes | None = None
        out_of_order: int | None = None
        # Framing puts 8, 9, 35 first; if it did not, that is the first
        # structure error (QuickFIX drops such a message as garbled, so the
        # session should not have asked).
        for expected, (tag, _) in zip(_HEADER_FIRST, fields, strict=False):
            if tag != expected:
                out_of_order = tag
                break
        header_tags, trailer_tags = self._header.tags, self._trailer.tags
        header_groups, trailer_groups = self._header.groups, self._trailer.groups
        body_groups = _EMPTY_SCOPE.groups  # known once MsgType is (as in QuickFIX)
        section = 0  # 0 header, 1 body, 2 trailer
        i, n = 0, len(fields)
        while i < n:
            field = fields[i]
            tag = field[0]
            i += 1
            # "not out_of_order": QuickFIX keeps the first misplaced tag in a
            # field where 0 means none, so after a misplaced tag 0 a later
            # one is named instead; do the same, to name the same tag.
            if tag in header_tags:
                if section != 0 and not out_of_order:
                    out_of_order = tag
                if tag == 35 and msg_type is None:
                    msg_type = field[1]
                    found = self._bodies.get(msg_type)
                    body_groups = found.groups if found is not None else body_groups
                target, groups = header, header_groups
            elif tag in trailer_tags:
                section = 2
                target, groups = trailer, trailer_groups
            else:
                if section == 2 and not out_of_order:
                    out_of_order = tag
                section = 1
                target, groups = body, body_groups
            if tag in groups:
                i = target.add(field, fields, i, groups[tag])
            else:
                target.fields.append(field)
        return _Parsed(header, body, trailer, msg_type, out_of_order)

    def _check_map(self, m: _Map, scope: _Scope) -> Rejection | None:
        """Step d of the module docstring for one map, then its group instances."""
        if not self._all_valid(m, scope):
            rejection = self._first_field_failure(m, scope)
            if rejection is not None:
                return rejection
        return self._check_instances(m, scope)

    def _first_field_failure(self, m: _Map, scope: _Scope) -> Rejection | None:
        """QuickFIX sorts the map and stops at the first failing field; the
        same answer is the failure with the smallest sort key (ties in wire
        order), so fields are checked in wire order and keys are compared
        only for failures."""
        worst: tuple[int, int, Rejection] | None = None
        seen: set[int] = set()
        for k, (tag, value) in enumerate(m.fields):
            if tag in seen:
                # Sorted, a repeat follows its first occurrence, whose own
                # failure (same key, earlier index) wins over this one.
                rejection: Rejection | None = _reject(TAG_APPEARS_MORE_THAN_ONCE, tag)
            else:
                seen.add(tag)
                rejection = self._check_field(tag, value, scope, m)
            if rejection is not None:
                candidate = (scope.sort_key(tag), k, rejection)
                if worst is None or candidate[:2] < worst[:2]:
                    worst = candidate
        return None if worst is None else worst[2]

    def _all_valid(self, m: _Map, scope: _Scope) -> bool:
        """True when every field passes _check_field's checks and no tag
        repeats: the straight path for the common, valid case.  It may say
        False when unsure; _first_field_failure then decides."""
        fields = m.fields
        if len(m.tags()) != len(fields):
            return False  # a repeated tag
        quick = scope.quick  # only the tags allowed here
        for tag, value in fields:
            check = quick.get(tag)
            if check is None or not check(value):
                return False
        # Tags do not repeat, so each count stands alone (and passed its INT check).
        return all(int(fields[k][1]) == len(v) for k, v in m.groups.items())

    def _check_instances(self, m: _Map, scope: _Scope) -> Rejection | None:
        if not m.groups:
            return None
        for tag, instances in m.instances():
            group = scope.groups[tag]
            for instance in instances:
                first = instance.fields[0][0]
                if first != group.delimiter:
                    return _reject(REPEATING_GROUP_FIELDS_OUT_OF_ORDER, first)
                rejection = self._check_map(instance, group.scope)
                if rejection is not None:
                    return rejection
        return None

    def _check_field(self, tag: int, value: bytes, scope: _Scope, m: _Map) -> Rejection | None:
        if not value:
            return _reject(TAG_SPECIFIED_WITHOUT_A_VALUE, tag)
        f = self._fields.get(tag)
        if f is None:
            return _reject(INVALID_TAG_NUMBER, tag)
        if f.check is not None and not f.check(value):
            return _reject(INCORRECT_DATA_FORMAT, tag)
        if f.values is not None and not f.value_ok(value):
            return _reject(VALUE_IS_INCORRECT, tag)
        if tag not in scope.tags:
            return _reject(TAG_NOT_DEFINED_FOR_MESSAGE_TYPE, tag)
        if tag in scope.groups and int(value) != m.count(tag):
            return _reject(INCORRECT_NUMINGROUP_COUNT, tag)
        return None

    # -- writing ---------------------------------------------------------------

    def canonical_body(self, msg_type: str,
                       body: Sequence[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """``body`` (no header or trailer fields) in the order QuickFIX writes
        it: top-level fields by ascending tag, each group's instances right
        after its NumInGroup field, an instance's fields in the group
        definition's order (delimiter first).  Repeated tags keep their
        relative order.  An unknown MsgType sorts everything by tag."""
        scope = self._bodies.get(msg_type.encode(), _EMPTY_SCOPE)
        out: list[tuple[int, bytes]] = []
        _emit(_take_fields(body, scope), scope, out)
        return out


# --------------------------------------------------------------------------
# Loading: a minimal element tree that remembers line numbers (for errors),
# then compilation into the tables above.
# --------------------------------------------------------------------------


@dataclass
class _El:
    name: str
    attrs: dict[str, str]
    line: int
    children: list[_El] = field(default_factory=list)


def _read_tree(data: bytes, where: str) -> _El:
    parser = xml.parsers.expat.ParserCreate()
    stack: list[_El] = []
    roots: list[_El] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        el = _El(name, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(el)
        stack.append(el)

    def end(_name: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as e:
        raise DictionaryError(f"{where}:{e.lineno}: not well-formed XML: "
                              f"{xml.parsers.expat.ErrorString(e.code)}") from None
    return roots[0]


class _Compiler:
    """Turns the element tree of one file into a :class:`DataDictionary`."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.fields: dict[int, _Field] = {}
        self.by_name: dict[str, _Field] = {}
        self.components: dict[str, _El] = {}
        self.begin_string = ""
        self.version = (0, 0)

    def error(self, el: _El, what: str) -> DictionaryError:
        return DictionaryError(f"{self.where}:{el.line}: {what}")

    def attr(self, el: _El, name: str) -> str:
        value = el.attrs.get(name, "").strip()
        if not value:
            raise self.error(el, f"<{el.name}> needs a non-empty {name}=\"...\" attribute")
        return value

    def sections(self, root: _El, allowed: tuple[str, ...],
                 needed: tuple[str, ...]) -> dict[str, _El]:
        found: dict[str, _El] = {}
        for el in root.children:
            if el.name not in allowed:
                raise self.error(el, f"unexpected <{el.name}> in <{root.name}>; "
                                     f"allowed: {', '.join(f'<{a}>' for a in allowed)}")
            if el.name in found:
                raise self.error(el, f"<{el.name}> appears twice in <{root.name}>")
            found[el.name] = el
        for name in needed:
            if name not in found:
                raise self.error(root, f"<{root.name}> has no <{name}> section")
        return found

    def compile(self, root: _El) -> DataDictionary:
        self.read_root(root)
        parts = self.sections(root, ("header", "trailer", "messages", "components", "fields"),
                              ("header", "trailer", "messages", "fields"))
        self.read_fields(parts["fields"])
        self.read_components(parts.get("components"))
        header = self.scope(parts["header"], "the header", rank=_HEADER_FIRST)
        trailer = self.scope(parts["trailer"], "the trailer", rank=_TRAILER_ORDER)
        for tag, scope, section in ((8, header, "header"), (9, header, "header"),
                                    (35, header, "header"), (10, trailer, "trailer")):
            if tag not in scope.tags:
                raise self.error(parts[section], f"<{section}> lacks field {tag} "
                                 f"({self.fields[tag].name if tag in self.fields else 'undefined'}); "
                                 "the header needs 8, 9 and 35, the trailer 10")
        bodies, admin = self.read_messages(parts["messages"])
        return DataDictionary(begin_string=self.begin_string, fields=self.fields,
                              header=header, trailer=trailer, bodies=bodies,
                              admin=frozenset(admin), source=self.where)

    def read_root(self, root: _El) -> None:
        if root.name != "fix":
            raise self.error(root, f"the root element is <{root.name}>; expected <fix>")
        numbers = []
        for name in ("major", "minor"):
            text = self.attr(root, name)
            if not text.isdigit():
                raise self.error(root, f"<fix {name}=\"{text}\">: expected a number")
            numbers.append(int(text))
        kind = root.attrs.get("type", "FIX")
        if kind not in ("FIX", "FIXT"):
            raise self.error(root, f"<fix type=\"{kind}\">: allowed: FIX, FIXT")
        sp = root.attrs.get("servicepack", "0")
        if not sp.isdigit():
            raise self.error(root, f"<fix servicepack=\"{sp}\">: expected a number")
        self.version = (numbers[0], numbers[1])
        self.begin_string = f"{kind}.{numbers[0]}.{numbers[1]}"

    def read_fields(self, section: _El) -> None:
        for el in section.children:
            if el.name != "field":
                raise self.error(el, f"unexpected <{el.name}> in <fields>; allowed: <field>")
            f = self.read_field(el)
            if f.tag in self.fields:
                raise self.error(el, f"field number {f.tag} defined twice "
                                     f"({self.fields[f.tag].name} and {f.name})")
            if f.name in self.by_name:
                raise self.error(el, f"field name {f.name} defined twice")
            self.fields[f.tag] = f
            self.by_name[f.name] = f

    def read_field(self, el: _El) -> _Field:
        number = self.attr(el, "number")
        if not number.isdigit() or int(number) == 0:
            raise self.error(el, f"<field number=\"{number}\">: expected a positive integer")
        name = self.attr(el, "name")
        kind = self.attr(el, "type").upper()
        if kind not in FIELD_TYPES:
            raise self.error(el, f"<field name=\"{name}\" type=\"{kind}\">: unknown type; "
                                 f"allowed: {', '.join(sorted(FIELD_TYPES))}")
        values: set[bytes] = set()
        for v in el.children:
            if v.name != "value":
                raise self.error(v, f"unexpected <{v.name}> in <field name=\"{name}\">; "
                                    "allowed: <value enum=... description=...>")
            text = v.attrs.get("enum", "")
            if not text:
                raise self.error(v, f"<value> of field {name} needs a non-empty enum=\"...\"")
            if text.encode() in values:
                raise self.error(v, f"field {name} lists enum=\"{text}\" twice")
            values.add(text.encode())
        check = FIELD_TYPES[kind]
        if kind == "CHAR" and self.version < (4, 2):
            check = None  # before FIX 4.2, CHAR fields could hold several characters
        enum = frozenset(values) if values else None
        multi = kind in _MULTI_VALUE_TYPES
        quick = _quick(_QUICK_FORMAT.get(kind, len) if check else len, check, enum, multi)
        return _Field(int(number), name, kind, check, enum, multi, quick)

    def read_components(self, section: _El | None) -> None:
        if section is None:
            return
        for el in section.children:
            if el.name != "component":
                raise self.error(el, f"unexpected <{el.name}> in <components>; "
                                     "allowed: <component>")
            name = self.attr(el, "name")
            if name in self.components:
                raise self.error(el, f"component {name} defined twice")
            self.components[name] = el
        # Compile each once on its own, so that a fault in an unused
        # component is still reported.
        for name, el in self.components.items():
            self.scope(el, f"component {name}", chain=(name,))

    def read_messages(self, section: _El) -> tuple[dict[bytes, _Scope], set[bytes]]:
        bodies: dict[bytes, _Scope] = {}
        admin: set[bytes] = set()
        for el in section.children:
            if el.name != "message":
                raise self.error(el, f"unexpected <{el.name}> in <messages>; allowed: <message>")
            name = self.attr(el, "name")
            msg_type = self.attr(el, "msgtype")
            if not msg_type.isascii():
                raise self.error(el, f"message {name}: msgtype=\"{msg_type}\" is not ASCII")
            category = el.attrs.get("msgcat", "")
            if category not in ("admin", "app"):
                raise self.error(el, f"message {name}: msgcat=\"{category}\"; allowed: admin, app")
            key = msg_type.encode()
            if key in bodies:
                raise self.error(el, f"msgtype=\"{msg_type}\" defined twice")
            bodies[key] = self.scope(el, f"message {name}")
            if category == "admin":
                admin.add(key)
        return bodies, admin

    # -- scopes ----------------------------------------------------------------

    def scope(self, el: _El, context: str, rank: Sequence[int] = (),
              in_group: bool = False, chain: tuple[str, ...] = ()) -> _Scope:
        """The tables of one scope; ``chain`` is the components being expanded."""
        order: list[int] = []
        required: set[int] = set()
        groups: dict[int, _Group] = {}
        self.expand(el, context, True, order, required, groups, chain)
        if in_group:
            # Every field of an instance sorts by the group definition.
            rank = order
        ranks = {tag: i - len(rank) for i, tag in enumerate(rank)}
        nested = any(g.scope.required or g.scope.nested_required for g in groups.values())
        return _Scope(frozenset(order), tuple(sorted(required)), groups, ranks,
                      {tag: self.fields[tag].quick for tag in order}, nested)

    def expand(self, el: _El, context: str, required_here: bool, order: list[int],
               required: set[int], groups: dict[int, _Group],
               components: tuple[str, ...]) -> None:
        """Add the children of ``el`` to one scope's tables."""
        for child in el.children:
            if child.name == "component":
                self.expand_component(child, context, required_here, order, required,
                                      groups, components)
                continue
            if child.name not in ("field", "group"):
                raise self.error(child, f"unexpected <{child.name}> in {context}; "
                                        "allowed: <field>, <group>, <component>")
            f = self.reference(child, context)
            if child.name == "group":
                if f.tag in groups:
                    raise self.error(child, f"group {f.name} appears twice in {context}")
                groups[f.tag] = self.group(child, f, context, components)
            elif f.tag in groups:
                raise self.error(child, f"{f.name} is both a field and a group in {context}")
            if f.tag not in order:  # a field listed twice is tolerated, as QuickFIX does
                order.append(f.tag)
            if required_here and self.required(child, context):
                required.add(f.tag)

    def expand_component(self, el: _El, context: str, required_here: bool, order: list[int],
                         required: set[int], groups: dict[int, _Group],
                         components: tuple[str, ...]) -> None:
        name = self.attr(el, "name")
        target = self.components.get(name)
        if target is None:
            raise self.error(el, f"{context} uses component {name}, which <components> "
                                 "does not define")
        if name in components:
            raise self.error(el, f"component {name} contains itself "
                                 f"({' -> '.join((*components, name))})")
        # A component's required fields are required only where the
        # component itself is.
        self.expand(target, f"component {name}", required_here and self.required(el, context),
                    order, required, groups, (*components, name))

    def group(self, el: _El, f: _Field, context: str, chain: tuple[str, ...]) -> _Group:
        if f.type not in _COUNT_TYPES:
            raise self.error(el, f"group {f.name} in {context}: field {f.tag} has type {f.type}; "
                                 "a group's field must be NUMINGROUP or INT")
        if not el.children:
            raise self.error(el, f"group {f.name} in {context} has no fields")
        scope = self.scope(el, f"group {f.name}", in_group=True, chain=chain)
        first = self.first_tag(el.children[0], context)
        return _Group(f.tag, first, scope)

    def first_tag(self, el: _El, context: str) -> int:
        """The delimiter: the first field of a group, looking into components."""
        if el.name == "component":
            target = self.components.get(self.attr(el, "name"))
            if target is None or not target.children:
                raise self.error(el, f"group in {context} starts with an empty or "
                                     "undefined component")
            return self.first_tag(target.children[0], context)
        return self.reference(el, context).tag

    def reference(self, el: _El, context: str) -> _Field:
        name = self.attr(el, "name")
        f = self.by_name.get(name)
        if f is None:
            raise self.error(el, f"{context} uses <{el.name} name=\"{name}\">, "
                                 "which <fields> does not define")
        return f

    def required(self, el: _El, context: str) -> bool:
        flag = el.attrs.get("required", "N")
        if flag not in ("Y", "N", "y", "n"):
            raise self.error(el, f"<{el.name} name=\"{el.attrs.get('name', '')}\" "
                                 f"required=\"{flag}\"> in {context}; allowed: Y, N")
        return flag in ("Y", "y")


def _quick(fmt: Quick, check: Check | None, enum: frozenset[bytes] | None,
           multi: bool) -> Quick:
    """One conservative call for a field's format and values (``len``: non-empty)."""
    if enum is None:
        return fmt
    if multi:
        return lambda v: fmt(v) and all(x in enum for x in v.split(b" "))
    if check is None or all(check(e) for e in enum):
        return enum.__contains__  # every listed value is well formed (and non-empty)
    return lambda v: fmt(v) and v in enum


def load(path: str | Path) -> DataDictionary:
    """Read and compile a QuickFIX-format dictionary; :class:`DictionaryError` if unusable."""
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DictionaryError(f"{where}: cannot read: {e.strerror or e}") from None
    return _Compiler(where).compile(_read_tree(data, where))


_BUILTIN = {"FIX.4.2": "FIX42.xml", "FIX.4.4": "FIX44.xml"}


@functools.cache
def builtin(begin_string: str) -> DataDictionary:
    """The dictionary shipped for ``begin_string`` ("FIX.4.2" or "FIX.4.4"), loaded once."""
    name = _BUILTIN.get(begin_string)
    if name is None:
        raise ValueError(f"no built-in dictionary for {begin_string!r}; "
                         f"built in: {', '.join(_BUILTIN)}")
    return load(Path(__file__).parent / "dicts" / name)
