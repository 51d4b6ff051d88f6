"""The send-time side file: when the simulator sent each packet, per line.

Theory of operation
-------------------
Latency through the gateway is measured by joining what the receiver
stamped (``rx_ns``) with what the sender stamped, per line and sequence.
The publisher reads the one clock (``gateway.clock.realtime_ns``, the clock
receive timestamps use) immediately before each ``sendto`` and, if the
datagram left, records one fixed-size record: line index (A=0, B=1, ...),
the packet's first sequence, its MoldUDP64 count (0 heartbeat, 0xFFFF end
of session) and the send time.  Every datagram sent gets a record,
duplicates and heartbeats included.

File layout: 16 bytes of header -- the magic ``GWSTAMP1`` and the record
size as a little-endian uint32, then four zero bytes -- followed by packed
little-endian records of :data:`STAMP_DTYPE` (19 bytes).  The dtype is the
single declaration of the layout; readers in other languages follow it.
Records are gathered in a preallocated numpy array and written a block at
a time, so recording costs one array store; :meth:`StampWriter.close`
writes the rest.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

from gateway.errors import InputError

STAMP_DTYPE = np.dtype(
    [("line", "u1"), ("first_seq", "<u8"), ("count", "<u2"), ("send_ns", "<i8")]
)
STAMP_MAGIC = b"GWSTAMP1"
HEADER_SIZE = 16


def _header() -> bytes:
    return STAMP_MAGIC + STAMP_DTYPE.itemsize.to_bytes(4, "little") + bytes(4)


class StampWriter:
    """Buffered writer of send stamps to ``path`` (created or truncated)."""

    def __init__(self, path: str | os.PathLike[str], buffer_records: int = 8192) -> None:
        self.path = Path(path)
        self._fh: BinaryIO | None = self.path.open("wb")
        self._fh.write(_header())
        self._buf = np.zeros(buffer_records, STAMP_DTYPE)
        self._n = 0
        self.records = 0

    def record(self, line: int, first_seq: int, count: int, send_ns: int) -> None:
        self._buf[self._n] = (line, first_seq, count, send_ns)
        self._n += 1
        self.records += 1
        if self._n == len(self._buf):
            self.flush()

    def flush(self) -> None:
        if self._fh is None:
            raise ValueError(f"{self.path}: stamp file is closed")
        self._fh.write(self._buf[: self._n].tobytes())
        self._fh.flush()
        self._n = 0

    def close(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None

    def __enter__(self) -> StampWriter:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_stamps(path: str | os.PathLike[str]) -> np.ndarray:
    """Every record of a stamp file, as an array of :data:`STAMP_DTYPE`."""
    raw = Path(path).read_bytes()
    if raw[:8] != STAMP_MAGIC or len(raw) < HEADER_SIZE:
        raise InputError(f"{path}: not a send-stamp file (starts {raw[:8].hex() or 'empty'}, "
                         f"expected {STAMP_MAGIC!r})")
    size = int.from_bytes(raw[8:12], "little")
    body = len(raw) - HEADER_SIZE
    if size != STAMP_DTYPE.itemsize or body % size:
        raise InputError(f"{path}: records of {size} bytes over {body} bytes; this reader "
                         f"knows {STAMP_DTYPE.itemsize}-byte records")
    return np.frombuffer(raw, STAMP_DTYPE, offset=HEADER_SIZE)
