"""What a FIX session needs from its message store, and an in-memory one.

The session (``protocols/fixsession.py``) keeps no sequence numbers or sent
messages of its own: it asks its store.  A message is saved (``save_sent``)
*before* its bytes are handed out for the socket, so whatever the peer may
have received can be resent, and a restarted process never reuses a
sequence number.  ``set_next_target`` is called after an incoming message
has been accepted and processed.

``MemoryStore`` is for tests and for sessions that need no persistence; the
file store that survives a crash lives in ``gateway/fixstore.py`` (files
are I/O, and ``protocols/`` does none).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class SessionStore(Protocol):
    @property
    def next_sender_seq(self) -> int: ...

    @property
    def next_target_seq(self) -> int: ...

    @property
    def creation_time_ns(self) -> int:
        """When the current sequence (since the last reset) began."""
        ...

    def save_sent(self, seq: int, msg: bytes) -> None:
        """Record ``msg`` as sent with ``seq``; next_sender_seq becomes seq + 1."""
        ...

    def set_next_target(self, seq: int) -> None: ...

    def set_next_sender(self, seq: int) -> None: ...

    def sent(self, lo: int, hi: int) -> Iterator[tuple[int, bytes]]:
        """Stored messages with lo <= seq <= hi (hi 0: to the end), in order.
        Sequence numbers with nothing stored (admin messages that were not
        kept, or never sent) are simply absent."""
        ...

    def reset(self, now_ns: int) -> None:
        """Both sequence numbers back to 1 and the sent messages dropped."""
        ...

    def flush(self) -> None:
        """Make what was saved as durable as the store's mode promises."""
        ...


class MemoryStore:
    """A store in memory: nothing survives the process."""

    def __init__(self, now_ns: int = 0) -> None:
        self._sender = 1
        self._target = 1
        self._created = now_ns
        self._msgs: dict[int, bytes] = {}

    @property
    def next_sender_seq(self) -> int:
        return self._sender

    @property
    def next_target_seq(self) -> int:
        return self._target

    @property
    def creation_time_ns(self) -> int:
        return self._created

    def save_sent(self, seq: int, msg: bytes) -> None:
        self._msgs[seq] = msg
        self._sender = seq + 1

    def set_next_target(self, seq: int) -> None:
        self._target = seq

    def set_next_sender(self, seq: int) -> None:
        self._sender = seq

    def sent(self, lo: int, hi: int) -> Iterator[tuple[int, bytes]]:
        top = hi if hi else self._sender - 1
        for seq in range(lo, top + 1):
            msg = self._msgs.get(seq)
            if msg is not None:
                yield seq, msg

    def reset(self, now_ns: int) -> None:
        self._sender = self._target = 1
        self._created = now_ns
        self._msgs.clear()

    def flush(self) -> None:
        pass
