"""FIX tag=value: encoding and a reference framer (pure Python, no I/O).

A message is ``8=BeginString|9=BodyLength|...|10=CheckSum|`` (| is SOH):
BodyLength counts the bytes after the 9= field up to and including the SOH
before 10=; CheckSum is the byte sum of everything before 10=, modulo 256,
as three digits.  ``encode`` builds messages; ``frame`` is the reference
for the C scanner (``native/src/fix.c``): the same rules, written plainly,
so that tests can hold one against the other on any input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

SOH = b"\x01"

#: Length field -> the data field it measures (values that may hold SOH).
DATA_FIELDS = {90: 91, 93: 89, 95: 96, 212: 213, 348: 349, 350: 351, 352: 353, 354: 355,
               356: 357, 358: 359, 360: 361, 362: 363, 364: 365, 445: 446, 618: 619,
               621: 622}

# Error names, as the C scanner's GW_FIX_E_* codes.
GARBAGE = "garbage"
BODY_LENGTH = "body_length"
CHECKSUM = "checksum"
FIELD = "field"
TOO_LONG = "too_long"


def checksum(data: bytes) -> int:
    return sum(data) % 256


def encode(begin_string: str, fields: Sequence[tuple[int, bytes | str | int]]) -> bytes:
    """A whole message: 8, 9 and 10 computed around ``fields`` (in order)."""
    body = b"".join(f"{tag}=".encode() + (v if isinstance(v, bytes) else str(v).encode()) + SOH
                    for tag, v in fields)
    head = f"8={begin_string}".encode() + SOH + f"9={len(body)}".encode() + SOH
    msg = head + body
    return msg + f"10={checksum(msg):03d}".encode() + SOH


@dataclass
class Framed:
    off: int
    length: int
    error: str = ""
    fields: list[tuple[int, bytes]] = field(default_factory=list)


def _skip_to(buf: bytes, frm: int) -> int:
    """The next "8=FIX" at or after ``frm`` (any: framing again must not
    depend on the byte before), or the end of ``buf`` minus a tail that may
    start one."""
    i = buf.find(b"8=FIX", frm)
    if i >= 0:
        return i
    for keep in range(min(4, len(buf) - frm), 0, -1):
        if b"8=FIX".startswith(buf[len(buf) - keep:]):
            return len(buf) - keep
    return len(buf)


def _fields(msg: bytes) -> list[tuple[int, bytes]] | None:
    out: list[tuple[int, bytes]] = []
    i, data_tag, data_len = 0, 0, 0
    while i < len(msg):
        eq = msg.find(b"=", i)
        tag_text = msg[i:eq] if eq >= 0 else b""
        digits = tag_text[1:] if tag_text.startswith(b"-") else tag_text
        # Tag 0, negative tags and empty values are indexed (the session
        # rejects them by tag); only what is not tag=value at all is not.
        if eq < 0 or not digits.isdigit() or len(digits) > 9:
            return None
        tag = int(tag_text)
        if data_tag and tag == data_tag:
            value = msg[eq + 1 : eq + 1 + data_len]
            if len(value) != data_len or msg[eq + 1 + data_len : eq + 2 + data_len] != SOH:
                return None
        else:
            soh = msg.find(SOH, eq + 1)
            if soh < 0:
                return None
            value = msg[eq + 1 : soh]
        out.append((tag, value))
        data_tag = DATA_FIELDS.get(tag, 0) if tag > 0 else 0
        if data_tag:  # a length: at most 10 digits and 32 bits
            if not value.isdigit() or len(value) > 10 or int(value) > 0xFFFFFFFF:
                return None
            data_len = int(value)
        i = eq + 1 + len(value) + 1
    return out


def frame(buf: bytes, max_body: int = 1 << 20) -> tuple[list[Framed], int]:
    """Every complete message (or skipped run) at the front of ``buf``, and
    how many bytes that was; what follows is incomplete."""
    out: list[Framed] = []
    pos = 0
    while pos < len(buf):
        rest = buf[pos:]
        if not rest.startswith(b"8=FIX"[: len(rest)]) or (len(rest) >= 5 and
                                                          not rest.startswith(b"8=FIX")):
            nxt = _skip_to(buf, pos + 1)
            out.append(Framed(pos, nxt - pos, GARBAGE))
            pos = nxt
            continue
        soh = buf.find(SOH, pos, pos + 64)
        if soh < 0:
            if len(buf) - pos < 64:
                break
            nxt = _skip_to(buf, pos + 1)
            out.append(Framed(pos, nxt - pos, BODY_LENGTH))
            pos = nxt
            continue
        i = soh + 1
        if len(buf) - i < 2 or (buf[i:i + 1] == b"9" and len(buf) - i < 12
                                and SOH not in buf[i:]):
            break
        end9 = buf.find(SOH, i + 2, i + 2 + 10)
        digits = buf[i + 2 : end9] if end9 >= 0 else b""
        if buf[i:i + 2] != b"9=" or not digits.isdigit() or len(digits) > 9:
            nxt = _skip_to(buf, pos + 1)
            out.append(Framed(pos, nxt - pos, BODY_LENGTH))
            pos = nxt
            continue
        body = int(digits)
        if body > max_body:
            nxt = _skip_to(buf, pos + 1)
            out.append(Framed(pos, nxt - pos, TOO_LONG))
            pos = nxt
            continue
        trailer = end9 + 1 + body
        if trailer + 7 > len(buf):
            break
        t = buf[trailer : trailer + 7]
        if (not t.startswith(b"10=") or not t[3:6].isdigit() or t[6:7] != SOH
                or (body and buf[trailer - 1 : trailer] != SOH)):
            # Like the reference engine: the message runs to the first
            # "|10=...|" from the SOH before where BodyLength points.
            k = buf.find(SOH + b"10=", trailer - 1)
            e = buf.find(SOH, k + 4) if k >= 0 else -1
            if e < 0:
                if len(buf) - pos < max_body + 64:
                    break
                nxt = _skip_to(buf, pos + 1)
                out.append(Framed(pos, nxt - pos, BODY_LENGTH))
                pos = nxt
                continue
            out.append(Framed(pos, e + 1 - pos, CHECKSUM if k == trailer - 1 else BODY_LENGTH))
            pos = e + 1
            continue
        end = trailer + 7
        if checksum(buf[pos:trailer]) != int(t[3:6]):
            out.append(Framed(pos, end - pos, CHECKSUM))
        else:
            fields = _fields(buf[pos:end])
            out.append(Framed(pos, end - pos, FIELD) if fields is None
                       else Framed(pos, end - pos, "", fields))
        pos = end
    return out, pos
