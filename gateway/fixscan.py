"""The C FIX scanner's Python face: frame and index a byte stream in one
call, the result as numpy views (no object per field).

``FixScanner.scan(data)`` frames the complete messages at the front of
``data`` and returns them with every field's (tag, offset, length) as
structured arrays over C memory, and how many bytes were consumed; the
session layer keeps the rest for the next read.  Offsets point into
``data``, which must stay alive while the views are used.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway._native import ffi, lib

FIELD_DTYPE = np.dtype([("tag", "<i4"), ("off", "<u4"), ("len", "<u4")])
MSG_DTYPE = np.dtype([("off", "<u4"), ("len", "<u4"), ("first", "<u4"), ("nfields", "<u4"),
                      ("body_length", "<u4"), ("type_off", "<u4"), ("type_len", "<u2"),
                      ("checksum", "<u2"), ("error", "<i4")])

ERRORS = {
    0: "",
    lib.GW_FIX_E_GARBAGE: "garbage",
    lib.GW_FIX_E_BODY_LENGTH: "body_length",
    lib.GW_FIX_E_CHECKSUM: "checksum",
    lib.GW_FIX_E_FIELD: "field",
    lib.GW_FIX_E_TOO_MANY_FIELDS: "too_many_fields",
    lib.GW_FIX_E_TOO_LONG: "too_long",
}


@dataclass
class Scan:
    messages: np.ndarray  # MSG_DTYPE
    fields: np.ndarray    # FIELD_DTYPE, messages index into it
    consumed: int
    checked: np.ndarray | None = None  # bool per message: the dictionary's straight path passed it


class FixScanner:
    def __init__(self, max_messages: int = 4096, max_fields: int = 1 << 16,
                 max_body: int = 1 << 20) -> None:
        self._msgs = ffi.new("struct gw_fix_msg[]", max_messages)
        self._fields = ffi.new("struct gw_fix_field[]", max_fields)
        self._consumed = ffi.new("uint32_t *")
        self.max_messages, self.max_fields, self.max_body = max_messages, max_fields, max_body
        self._mview = np.frombuffer(ffi.buffer(self._msgs), MSG_DTYPE)
        self._fview = np.frombuffer(ffi.buffer(self._fields), FIELD_DTYPE)
        # The same memory as flat 32-bit words, for the session's path
        # (``frames``): a slice and tolist() beat numpy field access at
        # the few messages a socket read brings.
        self._mwords = memoryview(ffi.buffer(self._msgs)).cast("i")
        self._fwords = memoryview(ffi.buffer(self._fields)).cast("i")
        self._mstride = MSG_DTYPE.itemsize // 4

    def scan(self, data: bytes | bytearray | memoryview, check: DictCheck | None = None) -> Scan:
        """Views valid until the next scan.  With ``check``, each message is
        also run through the dictionary's straight path in C (``checked``)."""
        buf: Any = ffi.from_buffer(data)
        n = lib.gw_fix_scan(buf, len(data), self._msgs, self.max_messages, self._fields,
                            self.max_fields, self.max_body, self._consumed)
        msgs = self._mview[:n]
        # Errors index nothing (first 0): the furthest end is the count.
        nf = int((msgs["first"] + msgs["nfields"]).max()) if n else 0
        checked = None
        if check is not None:
            ok = check.run(buf, self._msgs, n, self._fields) if n else bytearray()
            checked = np.frombuffer(ok, np.bool_, n)
        return Scan(msgs, self._fview[:nf], int(self._consumed[0]), checked)

    def frames(self, data: bytes, check: DictCheck | None = None
               ) -> tuple[list[tuple[str, bytes, list[tuple[int, bytes]], bool]], int]:
        """(error, message bytes, [(tag, value), ...], checked) per framed
        message or skipped run, and how many bytes were consumed: what the
        session takes (``protocols.fixsession.Framer``).  ``checked``: the
        dictionary's straight path (in C, ``check``) passed it."""
        buf: Any = ffi.from_buffer(data)
        n = lib.gw_fix_scan(buf, len(data), self._msgs, self.max_messages, self._fields,
                            self.max_fields, self.max_body, self._consumed)
        out: list[tuple[str, bytes, list[tuple[int, bytes]], bool]] = []
        ok = check.run(buf, self._msgs, n, self._fields) if check is not None and n else None
        if n:
            k = self._mstride
            m = self._mwords[: n * k].tolist()
            nf = 0  # fields are indexed in message order; errors index none
            for i in range(n):
                nf = max(nf, m[i * k + 2] + m[i * k + 3])
            f = self._fwords[: nf * 3].tolist()
            for i in range(n):
                off, ln, first, cnt = m[i * k: i * k + 4]
                err = m[i * k + k - 1]
                if err:
                    out.append((ERRORS[err], data[off:off + ln], [], False))
                    continue
                fields = [(f[j], data[f[j + 1]:f[j + 1] + f[j + 2]])
                          for j in range(3 * first, 3 * (first + cnt), 3)]
                out.append(("", data[off:off + ln], fields, bool(ok and ok[i])))
        return out, int(self._consumed[0])


class DictCheck:
    """A data dictionary's straight path in C (``gw_fix_dict_check``), built
    from ``protocols.fixdict.DataDictionary.straight_tables``."""

    def __init__(self, dictionary: Any) -> None:
        from protocols.fixdict import STRAIGHT_KINDS

        out = ffi.new("struct gw_fix_dict **")
        _check(lib.gw_fix_dict_open(out), "gw_fix_dict_open")
        self._d = ffi.gc(out[0], lib.gw_fix_dict_close)
        fields, messages = dictionary.straight_tables()
        for tag, kind, values, multi in fields:
            if 0 < tag < lib.GW_FIX_DICT_MAX_TAG:
                pool = b"".join(v + b"\x01" for v in values)
                _check(lib.gw_fix_dict_field(self._d, tag, STRAIGHT_KINDS.index(kind), pool,
                                             len(pool), int(multi)), "gw_fix_dict_field")
        for mt, where in messages.items():
            tags = ffi.new("int32_t[]", [t for t, _ in where] or [0])
            codes = ffi.new("uint8_t[]", [w for _, w in where] or [0])
            _check(lib.gw_fix_dict_message(self._d, mt, tags, codes, len(where)),
                   "gw_fix_dict_message")
        self._ok = bytearray(4096)

    def run(self, buf: Any, msgs: Any, n: int, fields: Any) -> bytearray:
        if n > len(self._ok):
            self._ok = bytearray(n)
        lib.gw_fix_dict_check(self._d, buf, msgs, n, fields, ffi.from_buffer(self._ok))
        return self._ok


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise ValueError(f"{what}: error {rc}")


class FixEncoder:
    """Messages of one type from a precomputed template, a batch per call.

    ``encode(seqs, sending_time, columns)``: ``columns`` holds one numpy
    fixed-width bytes array (dtype ``S<n>``) per template tag, a row per
    message (an empty value leaves its field out).  Returns the messages
    back to back and where each ends."""

    def __init__(self, begin_string: str, msg_type: str, sender: str, target: str,
                 tags: list[int]) -> None:
        from gateway.errors import ConfigError

        arr = ffi.new("uint32_t[]", max(1, len(tags)))
        for i, t in enumerate(tags):
            arr[i] = t
        out = ffi.new("struct gw_fix_template **")
        rc = lib.gw_fix_template_open(out, begin_string.encode(), msg_type.encode(),
                                      sender.encode(), target.encode(), arr, len(tags))
        if rc < 0:
            raise ConfigError("template", f"cannot build a template for {msg_type!r} with tags "
                                          f"{tags}: at most {lib.GW_FIX_MAX_TEMPLATE_FIELDS} "
                                          "tags in 1..999999999, and the header (MsgType, "
                                          "SenderCompID, TargetCompID) under 500 bytes")
        self._t = ffi.gc(out[0], lib.gw_fix_template_close)
        self.tags = list(tags)
        # Everything of a message but its values: 8=, 9= (up to 10 digits),
        # 35=, 49=, 56=, 34= (up to 20 digits), 52=, each "|tag=" and 10=.
        self._out1 = bytearray(4096)
        self._fixed = (len(begin_string) + len(msg_type) + len(sender) + len(target)
                       + 2 + 1 + 2 + 10 + 1 + 4 * 4 + 20 + 4 + 1 + 7
                       + sum(len(str(t)) + 2 for t in tags))

    def encode(self, seqs: np.ndarray, sending_time: str,
               columns: list[np.ndarray]) -> tuple[bytes, np.ndarray]:
        n = len(seqs)
        if len(columns) != len(self.tags) or any(len(c) != n for c in columns):
            raise ValueError("one column per template tag, one row per message")
        seqs = np.ascontiguousarray(seqs, np.uint64)
        cols = ffi.new("struct gw_fix_column[]", max(1, len(columns)))
        keep = []
        for i, c in enumerate(columns):
            c = np.ascontiguousarray(c)
            if c.dtype.kind != "S":
                raise ValueError(f"column {self.tags[i]}: fixed-width bytes (dtype S<n>)")
            keep.append(c)
            cols[i].base = ffi.from_buffer("uint8_t[]", c)
            cols[i].stride = c.dtype.itemsize
            cols[i].width = c.dtype.itemsize
        cap = n * (self._fixed + len(sending_time) + sum(c.dtype.itemsize for c in keep)) + 64
        out = bytearray(cap)
        ends = np.empty(n, np.uint32)
        done = lib.gw_fix_encode_columns(
            self._t, ffi.from_buffer("uint64_t[]", seqs), n, sending_time.encode(), cols,
            ffi.from_buffer(out), cap, ffi.from_buffer("uint32_t[]", ends))
        assert done == n  # the capacity above is an upper bound
        return bytes(out[: int(ends[-1]) if n else 0]), ends

    def encode_one(self, seq: int, sending_time: str, values: list[bytes]) -> bytes:
        """One message, a value per template tag (b"" leaves the field
        out): the order-entry path, one C call and nothing built per field."""
        if len(values) != len(self.tags):
            raise ValueError("one value per template tag")
        lens = [len(v) for v in values]
        if max(lens, default=0) > 0xFFFF:
            raise ValueError("a value longer than 65535 bytes")
        packed = b"".join(values)
        cap = self._fixed + len(sending_time) + len(packed) + 64
        if cap > len(self._out1):
            self._out1 = bytearray(cap)
        n = lib.gw_fix_encode_packed(self._t, seq, sending_time.encode(),
                                     ffi.from_buffer("uint8_t[]", packed),
                                     ffi.from_buffer("uint16_t[]", array("H", lens)),
                                     ffi.from_buffer(self._out1), cap)
        assert n > 0  # the capacity above is an upper bound
        return bytes(self._out1[:n])
