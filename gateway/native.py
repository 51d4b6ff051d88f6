"""The Python face of the C core (``gateway._native``).

Theory of operation
-------------------
Python owns every C handle through ``ffi.gc`` (closed when the object dies,
or at once with ``close()``), turns negative return codes into exceptions in
one place (``check``), and sees per-message data only as numpy views over C
memory: ``RECORD_DTYPE`` mirrors ``struct gw_itch_record`` and
``EVENT_DTYPE`` mirrors ``struct gw_event`` field for field, and
``tests/native/test_layout_mirror.py`` proves sizes and offsets agree.

One C call moves a whole burst: ``Source`` fills frame descriptors,
``Decoder.frames`` decodes them, ``Decoder.pump`` does both in a single call
when nobody needs the records.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gateway._native import ffi, lib
from gateway.errors import ConfigError, InputError, LocalError
from protocols import itch50

BURST = 256

REASONS: tuple[str, ...] = tuple(
    ffi.string(lib.gw_reason_name(i)).decode() for i in range(lib.GW_R__COUNT)
)

RECORD_DTYPE = np.dtype(
    [
        ("seq", "<u8"),
        ("rx_ns", "<i8"),
        ("session", "<u2"),
        ("length", "<u2"),
        ("type", "u1"),
        ("nfields", "u1"),
        ("line", "<u2"),
        ("frame", "<u8"),
        ("v", "<u8", (lib.GW_ITCH_MAX_FIELDS,)),
    ]
)

EVENT_DTYPE = np.dtype(
    [
        ("kind", "u1"),
        ("version", "u1"),
        ("side", "u1"),
        ("flags", "u1"),
        ("feed", "<u2"),
        ("session", "<u2"),
        ("instrument", "<u4"),
        ("order_count", "<u4"),
        ("seq", "<u8"),
        ("exch_ns", "<i8"),
        ("rx_ns", "<i8"),
        ("price", "<i8"),
        ("size", "<i8"),
        ("aux", "<u8"),
    ]
)

NO_SESSION = 0xFFFF


def strerror(code: int) -> str:
    return str(ffi.string(lib.gw_strerror(code)).decode())


def check(rc: int, what: str, detail: str = "") -> int:
    """Return ``rc`` if it is not an error, else raise the matching exception."""
    if rc >= 0:
        return rc
    msg = f"{what}: {detail or strerror(rc)}"
    if rc in (lib.GW_EFORMAT, lib.GW_ETRUNC, lib.GW_EGZIP):
        raise InputError(msg)
    if rc in (lib.GW_EFILTER, lib.GW_ECONFIG):
        raise ConfigError(what, detail or strerror(rc))
    if rc in (-2, -21, -20):  # ENOENT, EISDIR, ENOTDIR: the path the user gave
        raise InputError(msg)
    raise LocalError(msg)


# ---- input formats --------------------------------------------------------

_PCAP_MAGICS = {
    bytes.fromhex(m) for m in ("a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1")
}
_PCAPNG_MAGIC = bytes.fromhex("0a0d0d0a")
_GZIP_MAGIC = b"\x1f\x8b"


def _gunzip_head(p: Path, n: int) -> bytes:
    """Up to ``n`` decompressed bytes from the start of a gzip file ("" if none)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        with p.open("rb") as fh:
            return d.decompress(fh.read(64 * 1024), n)
    except zlib.error:
        return b""


def sniff(path: str | os.PathLike[str]) -> str:
    """Which reader a file needs: ``pcap``, ``pcapng`` or ``binaryfile``.

    Raises InputError for a file that is none of them.
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(4)
    except OSError as e:
        raise InputError(f"{p}: {e.strerror}") from None
    if not head:
        raise InputError(f"{p}: empty file")
    if head in _PCAP_MAGICS:
        return "pcap"
    if head == _PCAPNG_MAGIC:
        return "pcapng"
    if head[:2] == _GZIP_MAGIC:
        # NASDAQ ships BinaryFILEs gzipped; libpcap does not read gzip, so a
        # gzipped capture is named as such rather than misframed as ITCH.
        # Only the first bytes are looked at: a damaged or cut stream is left
        # to the C reader, which keeps every whole message and counts the rest.
        inner = _gunzip_head(p, 4)
        if inner in _PCAP_MAGICS or inner == _PCAPNG_MAGIC:
            raise InputError(f"{p}: a gzipped pcap/pcapng capture; decompress it first "
                             f"(gunzip -k {p})")
        return "binaryfile"
    if len(head) >= 3 and bytes(head[2:3]) in itch50.MESSAGES:
        prefix = int.from_bytes(head[:2], "big")
        spec = itch50.MESSAGES[bytes(head[2:3])].size
        if prefix in (0, spec):
            return "binaryfile"
    raise InputError(
        f"{p}: not a capture: expected pcap, pcapng or a NASDAQ ITCH BinaryFILE "
        f"(plain or gzip); first bytes are {head.hex()}"
    )


# ---- sources ---------------------------------------------------------------


@dataclass
class SourceInfo:
    kind: str
    link: int
    frames: int
    bytes: int
    bytes_read: int
    bytes_total: int
    reasons: dict[str, int]
    error: str
    kernel_drops: int = 0
    nic_drops: int = 0
    polls: int = 0


def source_info(handle: Any) -> SourceInfo:
    i = lib.gw_source_info(handle)
    return SourceInfo(
        kind=ffi.string(i.kind).decode(),
        link=i.link,
        frames=i.frames,
        bytes=i.bytes,
        bytes_read=i.bytes_read,
        bytes_total=i.bytes_total,
        reasons={REASONS[r]: i.reasons[r] for r in range(len(REASONS)) if i.reasons[r]},
        error=ffi.string(i.error).decode(),
        kernel_drops=i.kernel_drops,
        nic_drops=i.nic_drops,
        polls=i.polls,
    )


class BurstSource:
    """What every source's Python face shares: the ``struct gw_source *``
    it owns (of this module's ffi), one burst per ``next``, its counters."""

    path: str
    _h: Any = None

    @property
    def handle(self) -> Any:
        if self._h is None:
            raise LocalError("source is closed")
        return self._h

    def next(self, frames: Any, max_frames: int) -> int:
        return check(lib.gw_source_next(self.handle, frames, max_frames), self.path)

    def info(self) -> SourceInfo:
        return source_info(self.handle)

    def close(self) -> None:
        if self._h is not None:
            ffi.release(self._h)
            self._h = None

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Source(BurstSource):
    """A capture file as a burst source (pcap, pcapng, BinaryFILE, gzip)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        filter: str | None = None,
        force_libpcap: bool = False,
    ) -> None:
        self.path = str(path)
        self.format = sniff(path)
        err = ffi.new("char[]", 512)
        out = ffi.new("struct gw_source **")
        if self.format == "binaryfile":
            if filter:
                raise ConfigError("--filter", "a BPF filter needs pcap or pcapng input")
            rc = lib.gw_source_open_binfile(out, self.path.encode(), 0, err, 512)
        else:
            flags = lib.GW_SRC_FORCE_LIBPCAP if force_libpcap else 0
            rc = lib.gw_source_open_pcap(
                out, self.path.encode(), (filter or "").encode(), flags, err, 512
            )
        if rc == lib.GW_EFILTER:
            raise ConfigError("--filter", ffi.string(err).decode())
        check(rc, self.path, ffi.string(err).decode())
        self._h = ffi.gc(out[0], lib.gw_source_close)


# ---- decoder ---------------------------------------------------------------


@dataclass
class SessionStats:
    name: str
    index: int
    first_seq: int
    next_seq: int
    packets: int
    messages: int
    heartbeats: int
    gaps: int
    gap_messages: int
    dup_packets: int
    dup_messages: int
    ended: bool
    known_end: int = 0
    held: int = 0
    filled: int = 0
    lost: int = 0
    gap_since_ns: int = 0


@dataclass
class LineStats:
    line: int
    packets: int
    bytes: int
    messages: int
    first: int
    lost: int
    next_seq: int
    last_rx_ns: int


@dataclass
class Missing:
    """Sequences [first, first + count) of a session are missing now."""
    session: int
    first: int
    count: int
    since_ns: int


@dataclass
class Gap:
    session: str
    first: int
    count: int
    rx_ns: int
    line: int


@dataclass
class DecoderStats:
    frames: int = 0
    frame_bytes: int = 0
    udp_packets: int = 0
    mold_packets: int = 0
    heartbeats: int = 0
    end_of_session: int = 0
    messages: int = 0
    message_bytes: int = 0
    digest: int = 0
    gaps: int = 0
    gap_messages: int = 0
    dup_messages: int = 0
    first_rx_ns: int = 0
    last_rx_ns: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)


_SCALARS = [f for f in DecoderStats.__dataclass_fields__ if f not in ("by_type", "reasons")]


class Decoder:
    """Frames -> MoldUDP64 -> ITCH 5.0, in C, a burst per call."""

    def __init__(
        self,
        records: bool = False,
        verify_checksums: bool = False,
        types: str | None = None,
        record_capacity: int = 8192,
        books: Any = None,
        hold: bool = False,
        hold_messages: int = 0,
        hold_bytes: int = 0,
        join_gap: int = 0,
    ) -> None:
        """``hold``: the live feed's mode -- messages behind a gap wait in a
        bounded buffer (``hold_messages`` sequences, ``hold_bytes``) until
        the gap is filled or given up; a first packet within ``join_gap`` of
        sequence 1 opens a gap from 1, one further in joins late."""
        cfg = ffi.new("struct gw_decoder_config *")
        cfg.flags = (
            (lib.GW_DEC_RECORDS if records else 0)
            | (lib.GW_DEC_VERIFY_CHECKSUMS if verify_checksums else 0)
            | (lib.GW_DEC_HOLD_GAPS if hold else 0)
        )
        cfg.record_capacity = record_capacity
        cfg.hold_messages = hold_messages
        cfg.hold_bytes = hold_bytes
        cfg.join_gap = join_gap
        if hold and records:
            raise ConfigError("records", "records cannot be kept in hold (live feed) mode")
        out = ffi.new("struct gw_decoder **")
        check(lib.gw_decoder_open(out, cfg), "decoder")
        self._h: Any = ffi.gc(out[0], lib.gw_decoder_close)
        self.records_enabled = records
        if types:
            self.set_types(types)
        self.books = books  # keeps the books alive while the decoder feeds them
        if books is not None:
            check(lib.gw_decoder_attach_books(self._h, books.handle), "decoder")
        self._frames = ffi.new("struct gw_frame[]", BURST)
        self._nrec = ffi.new("uint32_t *")
        self._missing = ffi.new("struct gw_missing[]", 64)

    @property
    def handle(self) -> Any:
        return self._h

    @property
    def frame_buffer(self) -> Any:
        """Scratch frame descriptors (BURST of them) for pump calls."""
        return self._frames

    def set_types(self, types: str) -> None:
        codes = types.replace(",", "").strip()
        unknown = sorted({c for c in codes if c.encode() not in itch50.MESSAGES})
        if unknown:
            raise ConfigError(
                "--types",
                f"unknown ITCH 5.0 type(s) {','.join(unknown)}; allowed: "
                + ",".join(m.decode() for m in itch50.MESSAGES),
            )
        check(lib.gw_decoder_set_types(self._h, codes.encode()), "--types")

    def stop_after(self, seq: int = 0, exch_ns: int = -1) -> None:
        """Apply nothing after sequence ``seq`` or exchange time ``exch_ns``
        (ns since midnight): the books then show that point of the session."""
        lib.gw_decoder_stop_after(self._h, seq, exch_ns)

    def frames(self, frames: Any, n: int) -> int:
        return int(lib.gw_decoder_frames(self._h, frames, n))

    def records(self) -> np.ndarray:
        """The records decoded since the last drain, as a view (no copy)."""
        ptr = lib.gw_decoder_records(self._h, self._nrec)
        n = self._nrec[0]
        if n == 0:
            return np.empty(0, RECORD_DTYPE)
        buf = ffi.buffer(ptr, n * RECORD_DTYPE.itemsize)
        return np.frombuffer(buf, RECORD_DTYPE, count=n)

    def drain(self) -> None:
        lib.gw_decoder_drain(self._h)

    def pump(self, source: Source, burst: int = BURST) -> int:
        """Decode one burst straight from ``source`` in one C call; 0 at end."""
        return check(
            lib.gw_decoder_pump(self._h, source.handle, self._frames, min(burst, BURST)),
            source.path,
        )

    def iter_records(self, source: Source, burst: int = BURST) -> Iterator[np.ndarray]:
        """Yield record arrays burst by burst; each view is valid until the next."""
        frames = self._frames
        burst = min(burst, BURST)
        while True:
            n = source.next(frames, burst)
            if n == 0:
                return
            done = 0
            while done < n:
                done += self.frames(frames + done, n - done)
                recs = self.records()
                if len(recs):
                    yield recs
                self.drain()

    def run(self, source: Source, burst: int = BURST) -> None:
        """Decode all of ``source`` without keeping records."""
        while self.pump(source, burst):
            pass

    def stats(self) -> DecoderStats:
        st = lib.gw_decoder_stats(self._h)
        out = DecoderStats()
        for k in _SCALARS:
            setattr(out, k, int(getattr(st, k)))
        by_type = ffi.unpack(st.by_type, 256)
        out.by_type = {chr(t): int(c) for t, c in enumerate(by_type) if c}
        out.reasons = {REASONS[r]: int(st.reasons[r]) for r in range(len(REASONS)) if st.reasons[r]}
        return out

    def sessions(self) -> list[SessionStats]:
        n = ffi.new("uint32_t *")
        arr = lib.gw_decoder_sessions(self._h, n)
        out = []
        for i in range(n[0]):
            s = arr[i]
            out.append(
                SessionStats(
                    name=bytes(ffi.buffer(s.name, 10)).decode("latin-1").rstrip(" "),
                    index=i,
                    first_seq=s.first_seq,
                    next_seq=s.next_seq,
                    packets=s.packets,
                    messages=s.messages,
                    heartbeats=s.heartbeats,
                    gaps=s.gaps,
                    gap_messages=s.gap_messages,
                    dup_packets=s.dup_packets,
                    dup_messages=s.dup_messages,
                    ended=bool(s.ended),
                    known_end=s.known_end,
                    held=s.held,
                    filled=s.filled,
                    lost=s.lost,
                    gap_since_ns=s.gap_since_ns,
                )
            )
        return out

    def lines(self) -> list[LineStats]:
        """Per-line health, for the lines that carried anything."""
        n = ffi.new("uint32_t *")
        arr = lib.gw_decoder_lines(self._h, n)
        return [
            LineStats(i, arr[i].packets, arr[i].bytes, arr[i].messages, arr[i].first,
                      arr[i].lost, arr[i].next_seq, arr[i].last_rx_ns)
            for i in range(n[0]) if arr[i].packets
        ]

    def missing(self, max_ranges: int = 64) -> list[Missing]:
        """Hold mode: the sequence ranges missing now, oldest first."""
        buf = self._missing if max_ranges <= 64 else ffi.new("struct gw_missing[]", max_ranges)
        n = lib.gw_decoder_missing(self._h, buf, max_ranges)
        return [Missing(buf[i].session, buf[i].first, buf[i].count, buf[i].since_ns)
                for i in range(n)]

    def set_destinations(self, dests: list[tuple[str, int]]) -> None:
        """Decode only UDP to these (address, port) pairs; [] takes all."""
        import socket

        arr = ffi.new("struct gw_destination[]", max(1, len(dests)))
        for i, (addr, port) in enumerate(dests):
            arr[i].addr = int.from_bytes(socket.inet_aton(addr), "little")
            arr[i].port = port
        check(lib.gw_decoder_set_destinations(self._h, arr, len(dests)), "--group")

    def give_up(self, session: int, upto: int = 0, now_ns: int = 0) -> int:
        """Hold mode: declare what session ``session`` misses below ``upto``
        (0: all it knows of) lost; the books are marked stale and held
        messages behind it applied.  Returns messages lost."""
        return check(lib.gw_decoder_give_up(self._h, session, upto, now_ns), "give_up")

    def session_names(self) -> list[str]:
        return [s.name for s in self.sessions()]

    def gaps(self) -> list[Gap]:
        n = ffi.new("uint32_t *")
        arr = lib.gw_decoder_gaps(self._h, n)
        names = self.session_names()
        return [
            Gap(names[arr[i].session], arr[i].first, arr[i].count, arr[i].rx_ns, arr[i].line)
            for i in range(n[0])
        ]

    def close(self) -> None:
        if self._h is not None:
            ffi.release(self._h)
            self._h = None


def digest_of(message: bytes) -> int:
    """The per-message digest the C decoder sums (for cross-checks)."""
    ts = int.from_bytes(message[5:11], "big")
    locate = int.from_bytes(message[1:3], "big")
    return (ts ^ (locate << 48) ^ (message[0] << 56)) & 0xFFFFFFFFFFFFFFFF
