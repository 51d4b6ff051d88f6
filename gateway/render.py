"""Turn decoded record bursts into lines of JSON or text (``gateway decode``).

This is a display path, not the hot path: the C decoder has already read
every field into fixed 8-byte slots; here each burst is converted to Python
values with one ``tolist()`` per column and formatted.  Field names and order
come from the layout table in ``protocols.itch50``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from protocols import itch50
from protocols.layout import Kind, Layout

_Conv = Callable[[int], Any]


def _alpha(size: int) -> _Conv:
    def conv(v: int) -> str:
        return v.to_bytes(8, "little")[:size].rstrip(b" ").decode("latin-1")

    return conv


def _identity(v: int) -> int:
    return v


def _converters(lay: Layout) -> list[tuple[int, str, _Conv]]:
    # Slot 0 is the type byte itself; the record keeps fields in table order.
    return [
        (i, f.name, _alpha(f.size) if f.kind is Kind.ALPHA else _identity)
        for i, f in enumerate(lay.fields)
        if i > 0
    ]


_PLAN: dict[int, tuple[str, list[tuple[int, str, _Conv]]]] = {
    code[0]: (code.decode(), _converters(lay)) for code, lay in itch50.MESSAGES.items()
}


def records_to_dicts(
    recs: np.ndarray, sessions: Sequence[str], with_sequence: bool
) -> Iterator[dict[str, Any]]:
    """One dict per record: ``type``, every field, then ``session``/``sequence``."""
    types = recs["type"].tolist()
    values = recs["v"].tolist()
    seqs = recs["seq"].tolist()
    sess = recs["session"].tolist()
    for t, v, seq, si in zip(types, values, seqs, sess, strict=True):
        code, plan = _PLAN[t]
        d: dict[str, Any] = {"type": code}
        for i, name, conv in plan:
            d[name] = conv(v[i])
        if with_sequence and si < len(sessions):
            d["session"] = sessions[si]
            d["sequence"] = seq
        yield d


def jsonl_lines(recs: np.ndarray, sessions: Sequence[str], with_sequence: bool) -> Iterator[str]:
    for d in records_to_dicts(recs, sessions, with_sequence):
        yield json.dumps(d, separators=(",", ":"))


def format_time(ns: int) -> str:
    """Nanoseconds since midnight as HH:MM:SS.nnnnnnnnn."""
    s, frac = divmod(ns, 1_000_000_000)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{sec:02d}.{frac:09d}"


def _text_value(lay: Layout, name: str, value: Any) -> str:
    kind = lay.field(name).kind
    if kind is Kind.PRICE4:
        return f"{value / 10_000:.4f}"
    if kind is Kind.PRICE8:
        return f"{value / 100_000_000:.8f}"
    if kind is Kind.ALPHA:
        return repr(value) if (value == "" or " " in value) else str(value)
    return str(value)


def text_lines(recs: np.ndarray, sessions: Sequence[str], with_sequence: bool) -> Iterator[str]:
    for d in records_to_dicts(recs, sessions, with_sequence):
        lay = itch50.MESSAGES[d["type"].encode()]
        head = f"{format_time(d['timestamp'])} {d['type']} {lay.name:<26}"
        if with_sequence and "sequence" in d:
            head = f"{d['session']} {d['sequence']:>10} " + head
        body = " ".join(
            f"{k}={_text_value(lay, k, v)}"
            for k, v in d.items()
            if k not in ("type", "timestamp", "session", "sequence")
        )
        yield f"{head} {body}"
