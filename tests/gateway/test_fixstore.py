"""The persistent FIX store (gateway/fixstore.py): round trips, durability
modes, generations, torn tails at every byte, corruption, and real kill -9.

Nothing here is timed: kills happen after a seeded number of acknowledged
messages, and the one background-thread check waits for an event.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from gateway import fixstore
from gateway.errors import ConfigError, LocalError
from gateway.fixstore import (
    OVERHEAD,
    FileStore,
    Kind,
    StoreCorruptError,
    encode_record,
    generations,
    replay,
)
from protocols.fixstore import SessionStore

SID = "GW-EXCH-FIX.4.4"
T0 = 1_700_000_000_000_000_000
CHILD = Path(__file__).with_name("fixstore_child.py")


def _load_child() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fixstore_child", CHILD)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


message_for: Callable[[int], bytes] = _load_child().message_for


def msg(seq: int, tag: str = "") -> bytes:
    return f"8=FIX.4.4\x0135=D\x0134={seq}\x0111=ord{seq}{tag}\x0110=000\x01".encode()


def journal(root: Path, sid: str = SID) -> Path:
    return generations(root / sid)[-1][2]


def state(store: FileStore) -> tuple[int, int, int, list[tuple[int, bytes]]]:
    return (store.next_sender_seq, store.next_target_seq, store.creation_time_ns,
            list(store.sent(1, 0)))


@pytest.fixture
def datasyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every fdatasync the store makes, by fd (and still made for real)."""
    calls: list[int] = []
    real = fixstore._datasync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(fixstore, "_datasync", counting)
    return calls


# --------------------------------------------------------------------------
# Round trips and the SessionStore behaviour


def test_is_a_session_store(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID, now_ns=T0) as store:
        s: SessionStore = store
        assert (s.next_sender_seq, s.next_target_seq, s.creation_time_ns) == (1, 1, T0)
        assert list(s.sent(1, 0)) == []


def test_round_trip_across_reopen(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID, now_ns=T0) as store:
        for seq in range(1, 51):
            store.save_sent(seq, msg(seq))
            store.set_next_target(seq + 1)
        before = state(store)
    assert before[:3] == (51, 51, T0)
    with FileStore(tmp_path, SID, now_ns=T0 + 99) as store:
        assert state(store) == before
        assert store.torn_tail is None
        assert (tmp_path / SID).is_dir()


def test_set_next_sender_and_target_persist(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID) as store:
        store.save_sent(1, msg(1))
        store.set_next_sender(100)
        store.set_next_target(42)
    with FileStore(tmp_path, SID) as store:
        assert (store.next_sender_seq, store.next_target_seq) == (100, 42)
        store.save_sent(100, msg(100))
        assert store.next_sender_seq == 101
        assert [s for s, _ in store.sent(1, 0)] == [1, 100]


def test_unchanged_next_target_writes_nothing(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID) as store:
        store.set_next_target(5)
        size = journal(tmp_path).stat().st_size
        store.set_next_target(5)
        store.set_next_sender(1)
        assert journal(tmp_path).stat().st_size == size
        store.set_next_target(6)
        assert journal(tmp_path).stat().st_size == size + OVERHEAD


def test_sent_ranges(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID) as store:
        for seq in (1, 2, 4, 7, 8):  # 3, 5, 6: admin messages not kept
            store.save_sent(seq, msg(seq))
        assert store.next_sender_seq == 9

        def seqs(lo: int, hi: int) -> list[int]:
            return [s for s, _ in store.sent(lo, hi)]

        assert seqs(1, 0) == [1, 2, 4, 7, 8]
        assert seqs(3, 0) == [4, 7, 8]
        assert seqs(2, 7) == [2, 4, 7]
        assert seqs(3, 3) == []
        assert seqs(5, 6) == []
        assert seqs(9, 0) == []
        assert seqs(7, 4) == []
        assert seqs(4, 999_999) == [4, 7, 8]  # FIX 4.2's "infinity"
        assert dict(store.sent(1, 0)) == {s: msg(s) for s in (1, 2, 4, 7, 8)}


def test_sent_again_under_same_seq_replaces(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID) as store:
        store.save_sent(1, msg(1))
        store.save_sent(2, msg(2, "first"))
    with FileStore(tmp_path, SID) as store:
        store.set_next_sender(2)
        store.save_sent(2, msg(2, "again"))
        assert list(store.sent(2, 2)) == [(2, msg(2, "again"))]
    with FileStore(tmp_path, SID) as store:
        assert list(store.sent(1, 0)) == [(1, msg(1)), (2, msg(2, "again"))]
        assert store.describe()["messages"] == 2


def test_bad_arguments(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID) as store:
        with pytest.raises(ValueError):
            store.save_sent(0, b"x")
        with pytest.raises(ValueError):
            store.set_next_target(0)
        with pytest.raises(ValueError):
            store.set_next_sender(1 << 64)
        assert store.next_sender_seq == 1


@pytest.mark.parametrize("sid", ["", ".", "..", "a/b", "x\0y"])
def test_bad_session_id(tmp_path: Path, sid: str) -> None:
    with pytest.raises(ConfigError, match=r"fix\.session_id"):
        FileStore(tmp_path, sid)


def test_session_dir_name() -> None:
    assert fixstore.session_dir_name("GW", "EXCH", "FIX.4.4") == SID


def test_one_process_at_a_time(tmp_path: Path) -> None:
    store = FileStore(tmp_path, SID)
    with pytest.raises(LocalError, match="in use"):
        FileStore(tmp_path, SID)
    store.close()
    store.close()  # twice is harmless
    with pytest.raises(LocalError, match="closed"):
        store.save_sent(1, b"x")
    FileStore(tmp_path, SID).close()


def test_describe(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID, durability="batch", batch_ms=7, now_ns=T0) as store:
        store.save_sent(1, msg(1))
        store.set_next_target(3)
        d = store.describe()
    assert d["path"] == str(journal(tmp_path))
    assert (d["mode"], d["batch_ms"], d["generation"]) == ("batch", 7, 1)
    assert (d["next_sender_seq"], d["next_target_seq"], d["messages"]) == (2, 3, 1)
    assert d["creation_time_ns"] == T0
    assert d["journal_bytes"] == journal(tmp_path).stat().st_size
    assert d["torn_tail"] is None and d["failed"] is None
    json.dumps(d)  # fit for a log line or the CLI


# --------------------------------------------------------------------------
# Durability modes


@pytest.mark.parametrize("mode", ["write", "none"])
def test_write_mode_never_syncs(tmp_path: Path, datasyncs: list[int], mode: str) -> None:
    with FileStore(tmp_path, SID, durability=mode) as store:
        assert store.mode == "write"
        opened = len(datasyncs)  # the new generation's RESET is synced once
        for seq in range(1, 11):
            store.save_sent(seq, msg(seq))
            store.set_next_target(seq + 1)
        store.flush()
        assert len(datasyncs) == opened
    assert len(datasyncs) == opened
    with FileStore(tmp_path, SID) as store:
        assert store.next_sender_seq == 11


def test_fsync_mode_syncs_every_record(tmp_path: Path, datasyncs: list[int]) -> None:
    with FileStore(tmp_path, SID, durability="fsync") as store:
        opened = len(datasyncs)
        for seq in range(1, 11):
            store.save_sent(seq, msg(seq))
            assert len(datasyncs) == opened + 2 * seq - 1  # before save_sent returned
            store.set_next_target(seq + 1)
        store.flush()
        assert len(datasyncs) == opened + 20
    with FileStore(tmp_path, SID) as store:
        assert (store.next_sender_seq, store.next_target_seq) == (11, 11)


def test_batch_mode_syncs_on_flush_and_close(tmp_path: Path, datasyncs: list[int]) -> None:
    # batch_ms so long that the background thread never wakes during the test
    store = FileStore(tmp_path, SID, durability="batch", batch_ms=3_600_000)
    opened = len(datasyncs)
    for seq in range(1, 11):
        store.save_sent(seq, msg(seq))
    assert len(datasyncs) == opened
    store.flush()
    assert len(datasyncs) == opened + 1
    store.flush()  # nothing new: nothing to sync
    assert len(datasyncs) == opened + 1
    store.set_next_target(2)
    store.close()
    assert len(datasyncs) == opened + 2
    with FileStore(tmp_path, SID) as again:
        assert (again.next_sender_seq, again.next_target_seq) == (11, 2)


def test_batch_mode_background_thread_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = threading.Event()
    real = fixstore._datasync

    def noting(fd: int) -> None:
        real(fd)
        if threading.current_thread() is not threading.main_thread():
            synced.set()

    monkeypatch.setattr(fixstore, "_datasync", noting)
    with FileStore(tmp_path, SID, durability="batch", batch_ms=1) as store:
        store.save_sent(1, msg(1))
        assert synced.wait(60), "the batch thread never synced"
        assert store.describe()["failed"] is None


@pytest.mark.parametrize("bad", ["fsync-ish", "", "FSYNC", "always"])
def test_bad_durability_names_key_and_choices(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError) as e:
        FileStore(tmp_path, SID, durability=bad)
    assert e.value.key == "fix.store.durability"
    for allowed in ("'write'", "'batch'", "'fsync'", "'none'"):
        assert allowed in str(e.value)
    assert not (tmp_path / SID).exists()


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_bad_batch_ms(tmp_path: Path, bad: float) -> None:
    with pytest.raises(ConfigError, match=r"fix\.store\.batch_ms"):
        FileStore(tmp_path, SID, durability="batch", batch_ms=bad)


def test_failed_fsync_poisons_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FileStore(tmp_path, SID, durability="fsync") as store:
        store.save_sent(1, msg(1))

        def eio(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(fixstore, "_datasync", eio)
        with pytest.raises(LocalError, match="fdatasync failed"):
            store.save_sent(2, msg(2))
        assert store.next_sender_seq == 2  # not taken: the caller must not send
        monkeypatch.undo()
        with pytest.raises(LocalError, match="failed earlier"):
            store.set_next_target(2)
        assert store.describe()["failed"]


def test_batch_close_reports_a_failed_last_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path, SID, durability="batch", batch_ms=3_600_000)
    store.save_sent(1, msg(1))

    def eio(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fixstore, "_datasync", eio)
    with pytest.raises(LocalError, match="fdatasync failed"):
        store.close()
    monkeypatch.undo()
    FileStore(tmp_path, SID).close()  # closed all the same: the lock is free


def test_short_write_leaves_no_partial_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FileStore(tmp_path, SID) as store:
        store.save_sent(1, msg(1))
        size = journal(tmp_path).stat().st_size
        real_write = os.write
        fd = store._fd

        def half(f: int, data: bytes) -> int:  # disk full part-way
            return real_write(f, data[: len(data) // 2]) if f == fd else real_write(f, data)

        monkeypatch.setattr(fixstore.os, "write", half)
        with pytest.raises(LocalError, match="short write"):
            store.save_sent(2, msg(2))
        monkeypatch.undo()
        assert journal(tmp_path).stat().st_size == size
        assert store.next_sender_seq == 2
        store.save_sent(2, msg(2))
    with FileStore(tmp_path, SID) as store:
        assert store.torn_tail is None
        assert list(store.sent(1, 0)) == [(1, msg(1)), (2, msg(2))]


# --------------------------------------------------------------------------
# Generations


def test_reset_starts_a_new_generation(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID, now_ns=T0) as store:
        for seq in range(1, 6):
            store.save_sent(seq, msg(seq))
        store.set_next_target(9)
        store.reset(T0 + 1)
        assert state(store) == (1, 1, T0 + 1, [])
        assert store.generation == 2
        store.save_sent(1, msg(1, "day2"))
        store.reset(T0 + 2)
        store.save_sent(1, msg(1, "day3"))
        store.set_next_target(4)
    gens = generations(tmp_path / SID)
    assert [(g, created) for g, created, _ in gens] == [(1, T0), (2, T0 + 1), (3, T0 + 2)]
    # The old generations stay readable, for audits.
    old, torn = replay(gens[0][2], memoryview(gens[0][2].read_bytes()))
    assert torn is None
    assert (old.next_sender, old.next_target, old.creation_ns, len(old.index)) == (6, 9, T0, 5)
    with FileStore(tmp_path, SID) as store:
        assert state(store) == (2, 4, T0 + 2, [(1, msg(1, "day3"))])
        assert store.generation == 3


def test_reset_that_died_before_its_rename_is_ignored(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID, now_ns=T0) as store:
        store.save_sent(1, msg(1))
    half_made = tmp_path / SID / "journal.tmp"
    half_made.write_bytes(encode_record(Kind.RESET, T0 + 5)[:7])
    with FileStore(tmp_path, SID) as store:
        assert state(store) == (2, 1, T0, [(1, msg(1))])
    assert not half_made.exists()


def test_sent_iterator_stops_at_reset(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID) as store:
        for seq in (1, 2):
            store.save_sent(seq, msg(seq))
        it = store.sent(1, 0)
        assert next(it) == (1, msg(1))
        store.reset(T0)
        with pytest.raises(LocalError, match="reset or closed"):
            next(it)


# --------------------------------------------------------------------------
# Torn tails and corruption


def _build(root: Path, last: str) -> tuple[Path, tuple[int, int, int, list[tuple[int, bytes]]], int]:
    """A journal whose last record is of kind ``last``; the state before it
    and the offset it starts at."""
    with FileStore(root, SID, now_ns=T0) as store:
        store.save_sent(1, msg(1))
        store.set_next_target(2)
        store.save_sent(2, msg(2))
        before = state(store)
        start = journal(root).stat().st_size
        if last == "SENT":
            store.save_sent(3, msg(3, "x" * 40))
        elif last == "NEXT_TARGET":
            store.set_next_target(7)
        else:
            store.set_next_sender(9)
    return journal(root), before, start


def _copy_cut(src: Path, root: Path, data: bytes) -> Path:
    dst = root / SID / src.name
    dst.parent.mkdir(parents=True)
    dst.write_bytes(data)
    return dst


@pytest.mark.parametrize("last", ["SENT", "NEXT_TARGET", "NEXT_SENDER"])
def test_torn_tail_at_every_byte(tmp_path: Path, last: str) -> None:
    src, before, start = _build(tmp_path / "orig", last)
    whole = src.read_bytes()
    assert start < len(whole)
    for cut in range(start + 1, len(whole)):
        root = tmp_path / f"cut{cut}"
        path = _copy_cut(src, root, whole[:cut])
        with FileStore(root, SID) as store:
            assert state(store) == before, cut
            torn = store.torn_tail
            assert torn is not None
            assert (torn.path, torn.offset, torn.dropped) == (path, start, cut - start)
            described = store.describe()["torn_tail"]
            assert (described["path"], described["dropped"]) == (str(path), cut - start)
            assert path.stat().st_size == start
            assert path.with_name(f"{path.name}.torn-{start}").read_bytes() == whole[start:cut]
            nxt = store.next_sender_seq
            store.save_sent(nxt, msg(nxt, "after"))
        with FileStore(root, SID) as store:
            assert store.torn_tail is None
            assert state(store)[3] == [*before[3], (nxt, msg(nxt, "after"))]
        shutil.rmtree(root)


def test_torn_tail_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src, _, start = _build(tmp_path / "orig", "SENT")
    _copy_cut(src, tmp_path, src.read_bytes()[:-3])
    with caplog.at_level(logging.WARNING, logger="gateway.fixstore"), FileStore(tmp_path, SID):
        pass
    assert f"torn tail at offset {start}" in caplog.text


def test_second_torn_tail_at_the_same_offset_is_kept_apart(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID) as store:
        store.save_sent(1, msg(1))
        end = journal(tmp_path).stat().st_size
    for garbage in (b"\xc5\xf1first", b"\xc5\xf1second"):
        with journal(tmp_path).open("ab") as f:
            f.write(garbage)
        with FileStore(tmp_path, SID) as store:
            assert store.torn_tail is not None and store.torn_tail.offset == end
    kept = sorted(p.name for p in (tmp_path / SID).glob("*.torn-*"))
    name = journal(tmp_path).name
    assert kept == [f"{name}.torn-{end}", f"{name}.torn-{end}.2"]


def test_crc_bad_last_record_is_a_torn_tail(tmp_path: Path) -> None:
    src, before, start = _build(tmp_path / "orig", "SENT")
    data = bytearray(src.read_bytes())
    data[start + 30] ^= 0x01  # inside the payload; the record is whole
    _copy_cut(src, tmp_path, bytes(data))
    with FileStore(tmp_path, SID) as store:
        assert state(store) == before
        assert store.torn_tail is not None
        assert store.torn_tail.offset == start
        assert "CRC mismatch" in store.torn_tail.why


def test_zero_filled_tail_is_a_torn_tail(tmp_path: Path) -> None:
    # What a power loss can leave: the size grew, the data never landed.
    src, _, _ = _build(tmp_path / "orig", "SENT")
    whole = src.read_bytes()
    _copy_cut(src, tmp_path, whole + bytes(4096))
    with FileStore(tmp_path, SID) as store:
        assert store.torn_tail is not None
        assert (store.torn_tail.offset, store.torn_tail.dropped) == (len(whole), 4096)
        assert store.next_sender_seq == 4


def test_flipped_byte_in_the_middle_is_corruption(tmp_path: Path) -> None:
    src, _, _ = _build(tmp_path / "orig", "SENT")
    whole = src.read_bytes()
    # The middle record: NEXT_TARGET 2, between SENT 1 and SENT 2.
    mid = OVERHEAD + OVERHEAD + len(msg(1))
    assert whole[mid + 2] == Kind.NEXT_TARGET
    for i in range(mid, mid + OVERHEAD):
        data = bytearray(whole)
        data[i] ^= 0x40
        root = tmp_path / f"flip{i}"
        path = _copy_cut(src, root, bytes(data))
        with pytest.raises(StoreCorruptError) as e:
            FileStore(root, SID)
        assert (e.value.path, e.value.offset) == (path, mid), i
        assert str(path) in str(e.value) and f"offset {mid}" in str(e.value)
        assert path.read_bytes() == bytes(data)  # nothing truncated or rewritten
        _assert_unlocked(root / SID)


def _assert_unlocked(directory: Path) -> None:
    """The failed open let go of the store (the operator's tools may open it)."""
    fd = os.open(directory / "LOCK", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_flipped_byte_in_a_middle_message_is_corruption(tmp_path: Path) -> None:
    src, _, _ = _build(tmp_path / "orig", "NEXT_TARGET")
    data = bytearray(src.read_bytes())
    data[OVERHEAD + 20] ^= 0x01  # inside SENT 1's message
    _copy_cut(src, tmp_path, bytes(data))
    with pytest.raises(StoreCorruptError, match=r"CRC mismatch.*valid record follows") as e:
        FileStore(tmp_path, SID)
    assert e.value.offset == OVERHEAD


def test_whole_but_impossible_record_is_corruption(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID, now_ns=T0) as store:
        store.save_sent(1, msg(1))
    with journal(tmp_path).open("ab") as f:
        f.write(encode_record(Kind.RESET, T0 + 1))
    with pytest.raises(StoreCorruptError, match="RESET must be the first"):
        FileStore(tmp_path, SID)


@pytest.mark.parametrize("data", [b"", b"\xc5\xf1\x01", b"junk" * 10])
def test_journal_without_reset_is_corruption(tmp_path: Path, data: bytes) -> None:
    (tmp_path / SID).mkdir()
    (tmp_path / SID / f"journal-000001-{T0}.log").write_bytes(data)
    with pytest.raises(StoreCorruptError) as e:
        FileStore(tmp_path, SID)
    assert e.value.offset == 0


def test_disk_changed_under_an_open_store(tmp_path: Path) -> None:
    with FileStore(tmp_path, SID) as store:
        store.save_sent(1, msg(1))
        store.save_sent(2, msg(2))
        path = journal(tmp_path)
        data = bytearray(path.read_bytes())
        data[OVERHEAD + 20] ^= 0x01
        path.write_bytes(bytes(data))
        assert list(store.sent(2, 2)) == [(2, msg(2))]
        with pytest.raises(StoreCorruptError, match="CRC mismatch"):
            list(store.sent(1, 1))


def test_docstring_table_is_the_layout() -> None:
    doc = fixstore.__doc__ or ""
    rows = re.findall(r"^(\d+|16\+length)\s+(\d+|length)\s+(\w+)\s", doc, re.M)
    offset, fields = 0, []
    for name, code in fixstore.RECORD_HEADER:
        fields.append((str(offset), str(fixstore.struct.calcsize("<" + code)), name))
        offset += fixstore.struct.calcsize("<" + code)
    fields.append((str(offset), "length", "payload"))
    for name, code in fixstore.RECORD_TRAILER:
        fields.append((f"{offset}+length", str(fixstore.struct.calcsize("<" + code)), name))
    assert rows == fields
    assert fixstore.MAGIC == b"\xc5\xf1" and "\\xc5\\xf1" in doc


# --------------------------------------------------------------------------
# Real kill -9


class Child:
    """fixstore_child.py in its own process, its stdout read line by line."""

    def __init__(self, root: Path, mode: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(root), SID, mode, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        first = self.line()
        assert first.startswith("open "), first + self.proc.communicate()[1]
        self.opened = tuple(int(x) for x in first.split()[1:])

    def line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def acks(self, n: int) -> Iterator[int]:
        for _ in range(n):
            text = self.line()
            assert text.isdigit(), text + self.proc.communicate()[1]
            yield int(text)

    def kill(self) -> list[int]:
        """SIGKILL now; the seqs it acknowledged that were not read yet."""
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait() == -signal.SIGKILL
        # From the same buffered reader as line(): communicate() would read
        # the pipe underneath it and miss what the reader already holds.
        assert self.proc.stdout is not None and self.proc.stderr is not None
        out = self.proc.stdout.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return [int(x) for x in out.split()]


def _check_after_kill(root: Path, acked: list[int], got: list[int], start: int,
                      prev_target: int) -> tuple[int, int, bool]:
    """Reopen after a kill: every acknowledged message is there byte for byte
    and the sequence numbers are those of the last whole record.  ``got``:
    this round's acks; ``start``, ``prev_target``: the store before it.
    Returns next sender, next target, torn tail?"""
    with FileStore(root, SID) as store:
        nxt, tgt = store.next_sender_seq, store.next_target_seq
        last = got[-1] if got else start - 1
        # The child saves s, acks s, sets target s + 1, saves s + 1, ...: the
        # save after the last ack may or may not have made it whole, and so
        # may the target record after it.
        assert nxt in (last + 1, last + 2), (last, nxt)
        if not got:
            assert tgt == prev_target
        else:
            before = got[-2] + 1 if len(got) > 1 else prev_target
            assert tgt in (before, last + 1), (before, last, tgt)
            if nxt == last + 2:
                assert tgt == last + 1  # it was written before that save
        stored = dict(store.sent(1, 0))
        assert set(acked) <= set(stored)
        assert set(stored) <= set(range(1, nxt))
        for seq in stored:
            assert stored[seq] == message_for(seq), seq
        return nxt, tgt, store.torn_tail is not None


def test_kill_9_in_a_save_loop_loses_and_repeats_nothing(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    acked: list[int] = []
    torn_seen = 0
    nxt, tgt = 1, 1
    rounds = 16
    for _ in range(rounds):
        mode = rng.choice(["write", "write", "batch", "fsync"])
        child = Child(tmp_path, mode, "loop")
        assert child.opened == (nxt, tgt)  # starts where the last store ended
        got = list(child.acks(rng.randint(0, 120)))
        got += child.kill()
        assert got == list(range(nxt, nxt + len(got)))  # never a repeated seq
        acked += got
        nxt, tgt, torn = _check_after_kill(tmp_path, acked, got, nxt, tgt)
        torn_seen += torn
    # A new process carries on, no seq repeated.
    out = subprocess.run(
        [sys.executable, str(CHILD), str(tmp_path), SID, "write", "loop", "5"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert out[:3] == ["open", str(nxt), str(tgt)]
    assert [int(x) for x in out[3:]] == list(range(nxt, nxt + 5))
    with FileStore(tmp_path, SID) as store:
        assert store.torn_tail is None
        assert set(acked) < {s for s, _ in store.sent(1, 0)}
        assert store.next_sender_seq == nxt + 5
    print(f"{len(acked)} acknowledged over {rounds} kills, {torn_seen} torn tails repaired")


@pytest.mark.parametrize("mode", ["write", "fsync"])
def test_kill_9_between_store_and_send(tmp_path: Path, mode: str) -> None:
    with FileStore(tmp_path, SID) as store:
        for seq in range(1, 4):
            store.save_sent(seq, message_for(seq))
    child = Child(tmp_path, mode, "save-then-block")
    assert child.opened == (4, 1)
    assert list(child.acks(1)) == [4]
    assert child.kill() == []
    with FileStore(tmp_path, SID) as store:
        assert store.next_sender_seq == 5  # 4 is never used again
        assert store.torn_tail is None
        # The peer may have got 4 or not; a ResendRequest for it is answered.
        assert list(store.sent(4, 0)) == [(4, message_for(4))]
