"""The C structs and their numpy mirrors agree field for field, and the
generated C layout header is the one the Python table produces."""

from __future__ import annotations

import numpy as np
import pytest

from gateway._native import ffi, lib
from gateway.book import INTEGRITY_DTYPE, LEVEL_DTYPE, ORDER_DTYPE
from gateway.native import EVENT_DTYPE, REASONS, RECORD_DTYPE
from native import gen_layout
from protocols import itch50


def _c_fields(ctype: str) -> dict[str, tuple[int, int]]:
    """name -> (offset, size) of a C struct, as the compiler laid it out."""
    t = ffi.typeof(ctype)
    return {name: (f.offset, ffi.sizeof(f.type)) for name, f in t.fields}


@pytest.mark.parametrize(
    ("ctype", "dtype"),
    [
        ("struct gw_itch_record", RECORD_DTYPE),
        ("struct gw_event", EVENT_DTYPE),
        ("struct gw_level_view", LEVEL_DTYPE),
        ("struct gw_order_view", ORDER_DTYPE),
        ("struct gw_integrity_record", INTEGRITY_DTYPE),
    ],
)
def test_dtype_mirrors_struct(ctype: str, dtype: np.dtype) -> None:
    assert dtype.itemsize == ffi.sizeof(ctype)
    c = _c_fields(ctype)
    assert set(c) == set(dtype.names or ())
    for name in dtype.names or ():
        sub, off = dtype.fields[name][:2]
        assert (off, sub.itemsize) == c[name], name


def test_event_record_is_one_cache_line() -> None:
    assert ffi.sizeof("struct gw_event") == 64
    assert lib.GW_EVENT_VERSION == 1


def test_record_holds_the_widest_message() -> None:
    assert lib.GW_ITCH_MAX_FIELDS == itch50.MAX_FIELDS
    assert RECORD_DTYPE["v"].shape == (itch50.MAX_FIELDS,)
    # alpha fields are kept raw in one 8-byte slot each
    assert max(f.size for m in itch50.MESSAGES.values() for f in m.fields if f.is_alpha) <= 8


def test_generated_header_is_fresh() -> None:
    assert gen_layout.stale() == [], "run: python -m native.gen_layout"


def test_generated_offsets_match_table() -> None:
    text = gen_layout.HEADER_PATH.read_text()
    for lay in itch50.MESSAGES.values():
        assert f"#define GW_ITCH_{lay.name.upper()}_LEN {lay.size}\n" in text
        for f in lay.fields:
            assert f"#define GW_ITCH_{lay.name.upper()}_{f.name.upper()}_OFF {f.offset}\n" in text


def test_reason_names_are_unique_snake_case() -> None:
    assert len(REASONS) == lib.GW_R__COUNT
    assert len(set(REASONS)) == len(REASONS)
    assert all(r.replace("_", "").isalnum() and r == r.lower() for r in REASONS)
    assert "unknown_reason" not in REASONS
