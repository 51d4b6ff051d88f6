"""The persistent FIX message store: one directory per session, an
append-only journal of framed records, replayed on open.

Theory of operation
-------------------
A FIX session must never reuse a sequence number and must be able to resend
anything the peer may have received.  The session calls ``save_sent``
*before* the bytes go to the socket, and ``set_next_target`` after an
incoming message was processed (``protocols/fixstore.py``).  Every such
call appends one record to the session's journal with a single
``os.write`` of the whole record (header and payload), straight to the
kernel -- no userspace buffer -- so a process that dies (kill -9, a crash,
an OOM kill) leaves the file ending in either the whole record or, rarely,
a prefix of it (a *torn tail*).

On open the journal is replayed from the start: SENT records set
next_sender_seq to seq + 1 and index ``seq -> (offset, length)`` (the
bytes stay on disk: ``sent()`` preads them and checks their CRC again);
NEXT_TARGET and NEXT_SENDER records set the sequence numbers; a SENT record
for a seq seen before (a message sent again under that seq after a
restart) replaces the index entry.  The session then carries on from
exactly what was written.

Durability (``durability=``; key ``fix.store.durability``), by what it
survives:

=========  ==========================================  ================================
mode       what a save costs                           survives
=========  ==========================================  ================================
"write"    one os.write (default; "none" is an alias)  a process crash or kill -9;
                                                       not a power loss or kernel panic
"batch"    one os.write; a background thread           a power loss, except the records
           fdatasyncs every ``batch_ms`` when there    of the last ``batch_ms`` (plus
           is something new, and flush()/close()/      one fdatasync) before it
           reset() sync at once
"fsync"    os.write + fdatasync before returning       a power loss: what returned is on
           (every record kind, NEXT_TARGET included)   the disk
=========  ==========================================  ================================

Torn and corrupt data
---------------------
Nothing read back is used without its CRC32 checking out.  When a record
on replay is bad (short, bad magic, unknown version or kind, payload
running past the end of the file, CRC mismatch) the rest of the file is
searched for any valid record:

* none follows: it is a torn tail, what a kill or a power loss in the
  middle of a write leaves.  It is reported (``store.torn_tail``, a
  ``TornTail`` with offset, bytes dropped and why; a logging warning),
  the dropped bytes are kept beside the journal (``<journal>.torn-<offset>``)
  for whoever wants to look, and the file is truncated to the last good
  record before anything is appended.  The state is what the good records
  say: the torn record's save never returned, so its message was never
  sent.
* a valid record follows: the middle of the journal is damaged (disk,
  filesystem, someone's editor).  ``StoreCorruptError`` names the file,
  the offset and what is wrong, and the session must not start: guessing
  sequence numbers would risk reusing one.  The operator decides (restore,
  or move the directory aside and agree a reset with the venue).

Whole records that make no sense (a RESET that is not first, a sequence
number of 0, a payload on a record that has none) are corrupt wherever they
are: no kill produces them.  The first record of a journal is always a
whole RESET (the file is created under a temporary name, synced and
renamed), so a journal without one is corrupt too.

Generations and growth
----------------------
``reset()`` (daily, or on a Logon with ResetSeqNumFlag)
starts a new generation: a new journal file named
``journal-<generation>-<creation ns>.log`` whose first record is RESET with
the creation time.  It is built as ``journal.tmp``, fdatasynced, renamed
into place and the directory synced, so the switch is atomic: a crash
leaves either the old generation current or the new one.  The newest
generation is the current one; older ones are kept untouched, so audits
can read what was sent under each sequence (they are never deleted here:
pruning them is the operator's retention policy).

No compaction: a NEXT_TARGET record is 20 bytes with no payload (and only
written when the value changes), so the journal grows by the day's messages
plus 20 bytes a record -- a busy session's day is some tens of MB -- and
the daily reset starts a new file.  Replay costs about 3 us a record (a
million records, 3 s, on a small VM), once, at start-up; the index costs
about 100 bytes of RAM a sent message.

One process at a time: ``open`` takes an ``flock`` on ``<dir>/LOCK``
(released by the kernel when the holder dies, kill -9 included); a second
opener gets ``LocalError``.  A store is used from one thread (the
session's); only the batch-sync thread runs beside it, and it only syncs.

On-disk record
--------------
A record is a 16-byte header, ``length`` payload bytes and a 4-byte CRC
trailer; little-endian, no padding.  The CRC comes last so that it covers
one contiguous run (header and payload) and is the last byte a torn write
gets to.  The table below is ``RECORD_HEADER`` and ``RECORD_TRAILER`` (the
single source of truth the writer and the reader build their ``struct``
from; a test checks this text against them):

==========  ======  =======  ==================================================
offset      size    field    meaning
==========  ======  =======  ==================================================
0           2       magic    b"\\xc5\\xf1" (not ASCII: FIX text rarely holds it)
2           1       kind     1 RESET, 2 SENT, 3 NEXT_TARGET, 4 NEXT_SENDER
3           1       version  1
4           4       length   payload bytes (the FIX message for SENT, else 0)
8           8       value    seq (SENT, NEXT_TARGET, NEXT_SENDER); creation ns (RESET)
16          length  payload  the message as it goes to the socket
16+length   4       crc      CRC32 of every byte before it in the record
==========  ======  =======  ==================================================

A NEXT_TARGET record is 20 bytes; a SENT record is the message plus 20.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import mmap
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from gateway.clock import realtime_ns
from gateway.errors import ConfigError, LocalError

log = logging.getLogger(__name__)

# (field, struct code): the record layout (see the module doc's table).
RECORD_HEADER: Final = (
    ("magic", "2s"),
    ("kind", "B"),
    ("version", "B"),
    ("length", "I"),
    ("value", "Q"),
)
RECORD_TRAILER: Final = (("crc", "I"),)  # after the payload
_HEAD: Final = struct.Struct("<" + "".join(code for _, code in RECORD_HEADER))
_TRAIL: Final = struct.Struct("<" + "".join(code for _, code in RECORD_TRAILER))
HEADER_SIZE: Final = _HEAD.size
OVERHEAD: Final = _HEAD.size + _TRAIL.size  # a record's bytes beyond its payload

MAGIC: Final = b"\xc5\xf1"
VERSION: Final = 1
MAX_PAYLOAD: Final = (1 << 24) - 1  # a FIX message is far smaller; bounds a garbage length
MAX_SEQ: Final = (1 << 64) - 1

DURABILITY_KEY: Final = "fix.store.durability"
BATCH_MS_KEY: Final = "fix.store.batch_ms"
DURABILITY_MODES: Final = ("write", "batch", "fsync")
_ALIASES: Final = {"none": "write"}

_JOURNAL_RE: Final = re.compile(r"^journal-(\d+)-(\d+)\.log$")
_TMP_NAME: Final = "journal.tmp"
_LOCK_NAME: Final = "LOCK"

# fdatasync skips the metadata a later read does not need (mtime); where it
# does not exist, fsync does the same job.
_datasync = getattr(os, "fdatasync", os.fsync)


class Kind(IntEnum):
    RESET = 1
    SENT = 2
    NEXT_TARGET = 3
    NEXT_SENDER = 4


_KINDS: Final = frozenset(k.value for k in Kind)


class StoreCorruptError(LocalError):
    """The journal is damaged (not just torn at its end); the session must not
    start on it."""

    def __init__(self, path: Path, offset: int, problem: str) -> None:
        super().__init__(f"{path}: corrupt at offset {offset}: {problem}")
        self.path = path
        self.offset = offset
        self.problem = problem


@dataclass(frozen=True)
class TornTail:
    """A bad last record found on open and truncated away."""

    path: Path
    offset: int   # where the bad record began (the file's new length)
    dropped: int  # bytes cut off
    why: str


def _plain(torn: TornTail) -> dict[str, Any]:
    """For logs and JSON: the path as text."""
    return {**asdict(torn), "path": str(torn.path)}


def session_dir_name(sender_comp_id: str, target_comp_id: str, begin_string: str) -> str:
    """``<SenderCompID>-<TargetCompID>-<BeginString>``, the usual session_id."""
    return f"{sender_comp_id}-{target_comp_id}-{begin_string}"


def parse_durability(value: str) -> str:
    """The canonical mode name, or ConfigError naming the key and the choices."""
    mode = _ALIASES.get(value, value)
    if mode not in DURABILITY_MODES:
        allowed = ", ".join(repr(m) for m in (*DURABILITY_MODES, *_ALIASES))
        raise ConfigError(DURABILITY_KEY, f"{value!r}; allowed: {allowed}")
    return mode


# --------------------------------------------------------------------------
# Records: encoding and checking (the only code that knows the layout)

# Plain ints on the paths that run once per record (replay, the writers):
# an IntEnum member costs a lookup and an __index__ call each time.
_RESET, _SENT, _NEXT_TARGET, _NEXT_SENDER = (int(k) for k in Kind)


def encode_record(kind: int, value: int, payload: bytes = b"") -> bytes:
    body = _HEAD.pack(MAGIC, kind, VERSION, len(payload), value) + payload
    return body + _TRAIL.pack(zlib.crc32(body))


def check_record(buf: memoryview, off: int) -> tuple[int, int, int] | str:
    """(kind, value, payload length) of the record at ``off`` if it is whole
    and its CRC is right; else why not."""
    size = len(buf)
    if size - off < OVERHEAD:
        return f"short record ({size - off} bytes, less than the {OVERHEAD} of an empty one)"
    magic, kind, version, length, value = _HEAD.unpack_from(buf, off)
    if magic != MAGIC:
        return f"bad magic {bytes(magic).hex()}"
    if version != VERSION:
        return f"unknown version {version}"
    if kind not in _KINDS:
        return f"unknown record kind {kind}"
    if length > MAX_PAYLOAD:
        return f"payload length {length} over the limit {MAX_PAYLOAD}"
    end = off + HEADER_SIZE + length
    if end + _TRAIL.size > size:
        return f"record runs past the end of the file ({size - off} of {length + OVERHEAD} bytes)"
    (crc,) = _TRAIL.unpack_from(buf, end)
    crc_now = zlib.crc32(buf[off:end])
    if crc != crc_now:
        return f"CRC mismatch (stored {crc:08x}, computed {crc_now:08x})"
    return kind, value, length


def _record_sense(kind: int, value: int, length: int, off: int) -> str | None:
    """Why a whole, CRC-correct record cannot be in a journal we wrote."""
    if (kind == _RESET) != (off == 0):
        return "RESET must be the first record, and only the first"
    if kind != _SENT and length:
        return f"{Kind(kind).name} record with a {length}-byte payload"
    if kind != _RESET and value == 0:
        return f"{Kind(kind).name} record with sequence number 0"
    return None


def _next_valid(buf: memoryview, start: int) -> int | None:
    """Offset of the first whole, CRC-correct record at or after ``start``."""
    # bytes and mmap can search in C; a memoryview cannot.
    data = buf.obj
    if not isinstance(data, bytes | mmap.mmap) or len(data) != len(buf):
        data = bytes(buf)
    pos = start
    while True:
        pos = data.find(MAGIC, pos)
        if pos < 0:
            return None
        if not isinstance(check_record(buf, pos), str):
            return pos
        pos += 1


# --------------------------------------------------------------------------
# Replay


@dataclass
class _State:
    creation_ns: int = 0
    next_sender: int = 1
    next_target: int = 1
    # seq -> record offset << 24 | payload length: one int per message, not
    # a tuple (a day's index stays small); MAX_PAYLOAD fits the low 24 bits.
    index: dict[int, int] = field(default_factory=dict)
    end: int = 0  # offset after the last good record


def _loc(offset: int, length: int) -> int:
    return offset << 24 | length


def replay(path: Path, buf: memoryview) -> tuple[_State, TornTail | None]:
    """The state the journal's records give, and its torn tail if it has one.

    Raises StoreCorruptError for damage that is not a tail."""
    state = _State()
    index = state.index
    off, size = 0, len(buf)
    if size == 0:
        raise StoreCorruptError(path, 0, "empty journal (no RESET record)")
    while off < size:
        rec = check_record(buf, off)
        if isinstance(rec, str):
            return state, _torn_or_corrupt(path, buf, off, rec)
        kind, value, length = rec
        problem = _record_sense(kind, value, length, off)
        if problem is not None:
            raise StoreCorruptError(path, off, problem)
        if kind == _SENT:
            index[value] = off << 24 | length  # _loc, inlined: once per record
            state.next_sender = value + 1
        elif kind == _NEXT_TARGET:
            state.next_target = value
        elif kind == _NEXT_SENDER:
            state.next_sender = value
        else:
            state.creation_ns = value
        off += OVERHEAD + length
        state.end = off
    return state, None


def _torn_or_corrupt(path: Path, buf: memoryview, off: int, why: str) -> TornTail:
    if off == 0:
        # The RESET record is written whole before the file gets its name.
        raise StoreCorruptError(path, 0, f"no valid RESET record: {why}")
    later = _next_valid(buf, off + 1)
    if later is not None:
        raise StoreCorruptError(path, off, f"{why}; a valid record follows at offset {later}")
    return TornTail(path, off, len(buf) - off, why)


def _read_journal(path: Path, fd: int) -> tuple[_State, TornTail | None]:
    size = os.fstat(fd).st_size
    if size == 0:
        return replay(path, memoryview(b""))
    with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mm, memoryview(mm) as view:
        return replay(path, view)


# --------------------------------------------------------------------------
# Files and generations


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def generations(directory: Path) -> list[tuple[int, int, Path]]:
    """(generation, creation ns from the name, path) of each journal, oldest first."""
    found = []
    for p in directory.iterdir():
        m = _JOURNAL_RE.match(p.name)
        if m:
            found.append((int(m[1]), int(m[2]), p))
    return sorted(found)


def _create_generation(directory: Path, gen: int, creation_ns: int) -> Path:
    """A new journal holding only its RESET record, made atomically."""
    tmp = directory / _TMP_NAME
    final = directory / f"journal-{gen:06d}-{creation_ns}.log"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, encode_record(Kind.RESET, creation_ns))
        _datasync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, final)
    _fsync_dir(directory)
    return final


def _keep_aside(path: Path, data: bytes, offset: int) -> Path:
    """``<journal>.torn-<offset>[.n]``, never overwriting an earlier one."""
    name = f"{path.name}.torn-{offset}"
    for n in range(1, 1000):
        aside = path.with_name(name if n == 1 else f"{name}.{n}")
        try:
            with aside.open("xb") as f:
                f.write(data)
            return aside
        except FileExistsError:
            continue
    raise LocalError(f"{path}: too many torn tails kept at offset {offset}")


def _lock(directory: Path) -> int:
    fd = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LocalError(f"{directory}: FIX store in use by another process") from None
    return fd


def _check_session_id(session_id: str) -> None:
    if not session_id or session_id in (".", "..") or "/" in session_id or "\0" in session_id:
        raise ConfigError("fix.session_id", f"{session_id!r} cannot name a directory")


def _check_seq(seq: int) -> None:
    if not 1 <= seq <= MAX_SEQ:
        raise ValueError(f"sequence number {seq} out of range 1..{MAX_SEQ}")


# --------------------------------------------------------------------------
# The store


class FileStore:
    """A ``SessionStore`` whose state survives the process (see module doc).

    Opens (or creates) ``root / session_id``; ``now_ns`` is the creation
    time of a brand-new store (the clock's if None).  Raises ConfigError for
    a bad durability, batch_ms or session_id, LocalError if another process
    holds the store, StoreCorruptError if its journal is damaged."""

    def __init__(
        self,
        root: Path,
        session_id: str,
        durability: str = "write",
        batch_ms: float = 5.0,
        now_ns: int | None = None,
    ) -> None:
        self.mode = parse_durability(durability)
        if not (math.isfinite(batch_ms) and batch_ms > 0):
            raise ConfigError(BATCH_MS_KEY, f"{batch_ms!r}; allowed: a positive number of ms")
        _check_session_id(session_id)
        self.session_id = session_id
        self.batch_ms = batch_ms
        self.directory = Path(root) / session_id
        self.directory.mkdir(parents=True, exist_ok=True)
        self.torn_tail: TornTail | None = None
        self._fd = -1
        self._closed = False
        self._failed: str | None = None   # set when the disk state is unknown
        self._dirty = False               # batch mode: written since the last sync
        self._sync_lock = threading.Lock()
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        self._lock_fd = _lock(self.directory)
        try:
            self._open(now_ns)
        except BaseException:
            self._release()
            raise
        if self.mode == "batch":
            self._syncer = threading.Thread(
                target=self._sync_loop, name=f"fixstore-sync-{session_id}", daemon=True
            )
            self._syncer.start()

    def _open(self, now_ns: int | None) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / _TMP_NAME).unlink()  # a reset that died before its rename
        gens = generations(self.directory)
        if gens:
            self._gen, _, self.path = gens[-1]
        else:
            self._gen = 1
            created = realtime_ns() if now_ns is None else now_ns
            self.path = _create_generation(self.directory, self._gen, created)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        self._state, torn = _read_journal(self.path, self._fd)
        if torn is not None:
            self._cut_tail(torn)

    def _cut_tail(self, torn: TornTail) -> None:
        """Keep the torn bytes aside, then make the journal end at the last good record."""
        self.torn_tail = torn
        log.warning(
            "FIX store %s: torn tail at offset %d, %d bytes dropped (%s)",
            torn.path, torn.offset, torn.dropped, torn.why,
        )
        _keep_aside(torn.path, os.pread(self._fd, torn.dropped, torn.offset), torn.offset)
        os.ftruncate(self._fd, torn.offset)
        # Durably shorter, so that a power loss cannot bring the garbage back
        # in front of records appended after it.
        os.fsync(self._fd)

    # -- SessionStore --------------------------------------------------------

    @property
    def next_sender_seq(self) -> int:
        return self._state.next_sender

    @property
    def next_target_seq(self) -> int:
        return self._state.next_target

    @property
    def creation_time_ns(self) -> int:
        return self._state.creation_ns

    def save_sent(self, seq: int, msg: bytes) -> None:
        _check_seq(seq)
        if len(msg) > MAX_PAYLOAD:
            raise ValueError(f"message of {len(msg)} bytes over the limit {MAX_PAYLOAD}")
        off = self._append(encode_record(_SENT, seq, msg))
        self._state.index[seq] = _loc(off, len(msg))
        self._state.next_sender = seq + 1

    def set_next_target(self, seq: int) -> None:
        _check_seq(seq)
        if seq != self._state.next_target:  # nothing to say: no record
            self._append(encode_record(_NEXT_TARGET, seq))
            self._state.next_target = seq

    def set_next_sender(self, seq: int) -> None:
        _check_seq(seq)
        if seq != self._state.next_sender:
            self._append(encode_record(_NEXT_SENDER, seq))
            self._state.next_sender = seq

    def sent(self, lo: int, hi: int) -> Iterator[tuple[int, bytes]]:
        """Read lazily from the journal, each record's CRC checked again;
        StoreCorruptError if the disk changed under us."""
        self._check_usable()
        top = hi if hi else self._state.next_sender - 1
        index = self._state.index
        if top - lo + 1 <= len(index):
            wanted = [(s, index[s]) for s in range(lo, top + 1) if s in index]
        else:  # a wide range (FIX 4.2's 999999 "infinity"): walk what is there
            wanted = sorted((s, loc) for s, loc in index.items() if lo <= s <= top)
        return self._read_sent(wanted, self._fd)

    def reset(self, now_ns: int) -> None:
        self._check_usable()
        self.flush()  # the old generation ends as durable as the mode promises
        path = _create_generation(self.directory, self._gen + 1, now_ns)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        with self._sync_lock:
            old, self._fd = self._fd, fd
            self._dirty = False
        os.close(old)
        self._gen += 1
        self.path = path
        self._state = _State(creation_ns=now_ns, end=OVERHEAD)

    def flush(self) -> None:
        self._check_usable()
        if self.mode == "batch":
            self._sync_pending()
            self._check_usable()

    # -- the rest ------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self._gen

    def describe(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "path": str(self.path),
            "generation": self._gen,
            "mode": self.mode,
            "batch_ms": self.batch_ms if self.mode == "batch" else None,
            "creation_time_ns": self._state.creation_ns,
            "next_sender_seq": self._state.next_sender,
            "next_target_seq": self._state.next_target,
            "messages": len(self._state.index),
            "journal_bytes": self._state.end,
            "torn_tail": None if self.torn_tail is None else _plain(self.torn_tail),
            "failed": self._failed,
        }

    def close(self) -> None:
        """Sync (batch mode), let go of the files and the lock.  Raises
        LocalError if that last sync failed: the batch is not durable."""
        if self._closed:
            return
        failed_before = self._failed
        try:
            if failed_before is None and self.mode == "batch":
                self._sync_pending()
        finally:
            self._release()
        if self._failed is not failed_before:
            raise LocalError(f"FIX store {self.path}: {self._failed}")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals -----------------------------------------------------------

    def _release(self) -> None:
        self._closed = True
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join()
        with self._sync_lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        os.close(self._lock_fd)  # drops the flock

    def _check_usable(self) -> None:
        if self._closed:
            raise LocalError(f"FIX store {self.directory} is closed")
        if self._failed is not None:
            raise LocalError(f"FIX store {self.path} failed earlier: {self._failed}")

    def _append(self, record: bytes) -> int:
        """Write one record in one os.write; its offset.  Raises LocalError if it
        is not in the file as the mode promises (the caller must not send)."""
        self._check_usable()
        off = self._state.end
        try:
            n = os.write(self._fd, record)
        except OSError as e:
            self._undo_partial(off)
            raise LocalError(f"FIX store {self.path}: write failed: {e}") from e
        if n != len(record):  # disk full part-way: never leave half a record behind
            self._undo_partial(off)
            raise LocalError(f"FIX store {self.path}: short write ({n} of {len(record)} bytes)")
        self._state.end = off + n
        if self.mode == "fsync":
            self._sync_now()
        elif self.mode == "batch":
            self._dirty = True
        return off

    def _undo_partial(self, off: int) -> None:
        try:
            os.ftruncate(self._fd, off)
        except OSError as e:
            self._failed = f"cannot remove a partial record at {off}: {e}"

    def _sync_now(self) -> None:
        try:
            _datasync(self._fd)
        except OSError as e:
            # After a failed fsync the kernel may have dropped the dirty pages:
            # what is on the disk is unknown, so nothing more may be promised.
            self._failed = f"fdatasync failed: {e}"
            raise LocalError(f"FIX store {self.path}: {self._failed}") from e

    def _sync_pending(self) -> None:
        """Batch mode: fdatasync if anything was written since the last one."""
        with self._sync_lock:
            if not self._dirty or self._fd < 0:
                return
            # Cleared before the sync: a write landing during it sets it again
            # and is picked up next time.
            self._dirty = False
            try:
                _datasync(self._fd)
            except OSError as e:
                self._failed = f"fdatasync failed: {e}"
                log.error("FIX store %s: %s", self.path, self._failed)

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.batch_ms / 1000.0):
            self._sync_pending()

    def _read_sent(self, wanted: list[tuple[int, int]], fd: int) -> Iterator[tuple[int, bytes]]:
        gen = self._gen
        for seq, loc in wanted:
            if self._gen != gen or self._closed:
                raise LocalError(f"FIX store {self.directory}: reset or closed while resending")
            yield seq, self._pread_sent(fd, seq, loc >> 24, loc & MAX_PAYLOAD)

    def _pread_sent(self, fd: int, seq: int, off: int, length: int) -> bytes:
        """The payload of the SENT record at ``off``, checked again (the disk
        may have changed under us since the replay)."""
        raw = os.pread(fd, OVERHEAD + length, off)
        with memoryview(raw) as view:
            rec = check_record(view, 0)
        if isinstance(rec, str) or rec[:2] != (_SENT, seq):
            why = rec if isinstance(rec, str) else f"record {rec[:2]}, not SENT {seq}"
            raise StoreCorruptError(self.path, off, why)
        return raw[HEADER_SIZE : HEADER_SIZE + length]
