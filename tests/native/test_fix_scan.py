"""The C FIX scanner against the reference framer (``protocols/fix.py``):
the same messages, fields and errors on any input, whole or split at every
byte; and its numpy mirror against the C structs."""

from __future__ import annotations

from typing import Any

from _frames import hyp
from hypothesis import given
from hypothesis import strategies as st

from gateway._native import ffi
from gateway.fixscan import ERRORS, FIELD_DTYPE, MSG_DTYPE, FixScanner
from protocols import fix

Result = tuple[list[tuple[int, int, str, list[tuple[int, bytes]]]], int]


def c_frame(scanner: FixScanner, data: bytes, base: int = 0) -> Result:
    """(framed messages and errors, consumed) from the C scanner."""
    out = []
    s = scanner.scan(data)
    for m in s.messages:
        fields = [(int(f["tag"]), data[f["off"] : f["off"] + f["len"]])
                  for f in s.fields[m["first"] : m["first"] + m["nfields"]]]
        out.append((base + int(m["off"]), int(m["len"]), ERRORS[int(m["error"])], fields))
    return out, s.consumed


def ref_frame(data: bytes) -> Result:
    framed, used = fix.frame(data)
    return [(f.off, f.length, f.error, f.fields) for f in framed], used


def messages_only(rows: list[tuple[int, int, str, list[Any]]]) -> list[Any]:
    """What does not depend on where a read ended: framed messages (and
    their errors), and how many bytes were skipped as unframeable."""
    kept = [r for r in rows if r[2] not in ("garbage", "body_length", "too_long")]
    skipped = sum(r[1] for r in rows if r[2] in ("garbage", "body_length", "too_long"))
    return [kept, skipped]


def test_the_numpy_mirror_matches_the_c_structs() -> None:
    assert MSG_DTYPE.itemsize == ffi.sizeof("struct gw_fix_msg")
    assert FIELD_DTYPE.itemsize == ffi.sizeof("struct gw_fix_field")
    for name in MSG_DTYPE.names:
        assert MSG_DTYPE.fields[name][1] == ffi.offsetof("struct gw_fix_msg", name), name
    for name in FIELD_DTYPE.names:
        assert FIELD_DTYPE.fields[name][1] == ffi.offsetof("struct gw_fix_field", name), name


def test_a_message_is_framed_and_indexed_with_its_data_field() -> None:
    m = fix.encode("FIX.4.4", [(35, "D"), (49, "GW"), (56, "EX"), (34, 7), (95, 5),
                               (96, b"a\x01=\x01b"), (11, "ORD1")])
    rows, used = c_frame(FixScanner(), m + m[:20])
    assert used == len(m)
    ((off, length, err, fields),) = rows
    assert (off, length, err) == (0, len(m), "")
    assert fields[2] == (35, b"D") and (96, b"a\x01=\x01b") in fields
    assert fields[-1] == (10, f"{fix.checksum(m[:-7]):03d}".encode())


def _with_body(body: bytes) -> bytes:
    head = b"8=FIX.4.2\x019=%d\x01" % len(body)
    return head + body + b"10=%03d\x01" % fix.checksum(head + body)


def test_errors_are_named_and_the_scan_goes_on() -> None:
    good = fix.encode("FIX.4.2", [(35, "0"), (49, "A"), (56, "B"), (34, 2)])
    bad_sum = good[:-4] + b"%03d\x01" % ((int(good[-4:-1]) + 1) % 256)
    short_len = good.replace(b"9=20", b"9=19", 1)
    bad_field = _with_body(b"35=0\x01x5=1\x01")
    data = b"noise" + good + bad_sum + short_len + bad_field + good
    rows, used = c_frame(FixScanner(), data)
    assert used == len(data)
    assert [r[2] for r in rows] == ["garbage", "", "checksum", "body_length", "field", ""]
    assert (rows, used) == ref_frame(data)


def test_a_body_length_too_long_swallows_up_to_the_next_trailer() -> None:
    # As the reference engine frames it (FIX test case 2m): the message
    # runs to the first "|10=...|" after where BodyLength points, so the
    # next message goes down with it, and the one after frames cleanly.
    good = fix.encode("FIX.4.2", [(35, "0"), (49, "A"), (56, "B"), (34, 2)])
    long_len = good.replace(b"9=20", b"9=30", 1)
    data = long_len + good + good
    rows, used = c_frame(FixScanner(), data)
    assert [(r[0], r[1], r[2]) for r in rows] == [(0, 2 * len(good), "body_length"),
                                                   (2 * len(good), len(good), "")]
    assert (rows, used) == ref_frame(data)
    # Alone, it waits for the bytes that may hold its trailer.
    assert c_frame(FixScanner(), long_len) == ([], 0) == ref_frame(long_len)


def test_tag_zero_negative_tags_and_empty_values_are_indexed() -> None:
    # The session rejects these by tag (FIX test cases 14a, 14d), so the
    # scanner must frame them rather than call the message garbled.
    data = _with_body(b"35=0\x010=HI\x01-1=HI\x0156=\x01")
    rows, _ = c_frame(FixScanner(), data)
    assert rows[0][2] == ""
    assert rows[0][3][2:6] == [(35, b"0"), (0, b"HI"), (-1, b"HI"), (56, b"")]
    assert c_frame(FixScanner(), data) == ref_frame(data)


def test_a_checksum_that_is_not_three_digits_is_a_checksum_error() -> None:
    good = fix.encode("FIX.4.2", [(35, "0"), (49, "A"), (56, "B"), (34, 2)])
    bad = good[: good.rindex(b"10=")] + b"10=0\x01"
    rows, used = c_frame(FixScanner(), bad + good)
    assert [r[2] for r in rows] == ["checksum", ""] and used == len(bad + good)
    assert (rows, used) == ref_frame(bad + good)


MSGS = st.lists(st.tuples(st.sampled_from([35, 49, 56, 34, 11, 55, 44, 38, 95, 96, 1, 58]),
                          st.binary(min_size=0, max_size=12)), max_size=8)


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Valid messages with data fields, garbage, and corrupted messages."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["ok", "ok", "data", "garbage", "flip", "cut"]))
        fields = [(t, v.replace(b"\x01", b"x").replace(b"=", b"-")) for t, v in draw(MSGS)]
        if kind == "data":
            blob = draw(st.binary(min_size=0, max_size=10))
            fields += [(95, str(len(blob)).encode()), (96, blob or b"z")]
        m = fix.encode(draw(st.sampled_from(["FIX.4.2", "FIX.4.4"])), [(35, b"D"), *fields])
        if kind == "garbage":
            m = draw(st.binary(max_size=20))
        elif kind == "flip" and len(m) > 2:
            i = draw(st.integers(0, len(m) - 1))
            m = m[:i] + bytes([m[i] ^ draw(st.integers(1, 255))]) + m[i + 1 :]
        elif kind == "cut":
            m = m[: draw(st.integers(0, len(m)))]
        parts.append(m)
    return b"".join(parts)


@hyp(300)
@given(data=streams())
def test_c_and_reference_agree_on_any_stream(data: bytes) -> None:
    assert c_frame(FixScanner(), data) == ref_frame(data)


@hyp(150)
@given(data=streams(), raw=st.binary(max_size=60))
def test_any_split_gives_the_same_messages(data: bytes, raw: bytes) -> None:
    data += raw
    whole, used = c_frame(FixScanner(), data)
    scanner = FixScanner()
    for cut in range(len(data) + 1):
        rows: list[Any] = []
        pending, base = b"", 0
        for chunk in (data[:cut], data[cut:]):
            pending += chunk
            got, n = c_frame(scanner, pending, base)
            rows += got
            pending, base = pending[n:], base + n
        assert base == used, cut
        assert messages_only(rows) == messages_only(whole), cut
