"""The C FIX scanner's Python face: frame and index a byte stream in one
call, the result as numpy views (no object per field).

``FixScanner.scan(data)`` frames the complete messages at the front of
``data`` and returns them with every field's (tag, offset, length) as
structured arrays over C memory, and how many bytes were consumed; the
session layer keeps the rest for the next read.  Offsets point into
``data``, which must stay alive while the views are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway._native import ffi, lib

FIELD_DTYPE = np.dtype([("tag", "<u4"), ("off", "<u4"), ("len", "<u4")])
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


class FixScanner:
    def __init__(self, max_messages: int = 4096, max_fields: int = 1 << 16,
                 max_body: int = 1 << 20) -> None:
        self._msgs = ffi.new("struct gw_fix_msg[]", max_messages)
        self._fields = ffi.new("struct gw_fix_field[]", max_fields)
        self._consumed = ffi.new("uint32_t *")
        self.max_messages, self.max_fields, self.max_body = max_messages, max_fields, max_body
        self._mview = np.frombuffer(ffi.buffer(self._msgs), MSG_DTYPE)
        self._fview = np.frombuffer(ffi.buffer(self._fields), FIELD_DTYPE)

    def scan(self, data: bytes | bytearray | memoryview) -> Scan:
        """Views valid until the next scan."""
        buf: Any = ffi.from_buffer(data)
        n = lib.gw_fix_scan(buf, len(data), self._msgs, self.max_messages, self._fields,
                            self.max_fields, self.max_body, self._consumed)
        msgs = self._mview[:n]
        # Errors index nothing (first 0): the furthest end is the count.
        nf = int((msgs["first"] + msgs["nfields"]).max()) if n else 0
        return Scan(msgs, self._fview[:nf], int(self._consumed[0]))
