"""A FIX session's use of the store, to be killed with SIGKILL by
``test_fixstore.py``.

    python fixstore_child.py ROOT SESSION DURABILITY loop [COUNT]
    python fixstore_child.py ROOT SESSION DURABILITY save-then-block

Prints ``open <next_sender_seq> <next_target_seq>`` once the store is open.
``loop`` then, from next_sender_seq on (COUNT messages, or until killed):
save_sent(seq, message_for(seq)), print ``<seq>`` (the message is now
acknowledged: it may go to the socket), set_next_target(seq + 1).
``save-then-block`` saves one message, prints its seq and then blocks, as a
session stuck between the store write and the socket send.

Messages depend only on their seq, so the parent knows every byte; every
seventh is tens of kB, so that some kills land in the middle of a write.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from gateway.fixstore import FileStore


def message_for(seq: int) -> bytes:
    size = 30_000 + seq % 13 * 1000 if seq % 7 == 0 else 80 + seq * 37 % 400
    head = f"8=FIX.4.4\x0135=D\x0134={seq}\x0158=".encode()
    fill = bytes(0x21 + (seq + i) % 90 for i in range(90))
    body = (fill * (size // len(fill) + 1))[:size]
    return head + body + b"\x0110=000\x01"


def say(line: str) -> None:
    # One write to the pipe: once it returns, the parent will read it even
    # if this process dies the next instant.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def loop(store: FileStore, count: int | None) -> None:
    done = 0
    while count is None or done < count:
        seq = store.next_sender_seq
        store.save_sent(seq, message_for(seq))
        say(str(seq))
        store.set_next_target(seq + 1)
        done += 1


def main(argv: list[str]) -> int:
    root, session, durability, action = argv[:4]
    with FileStore(Path(root), session, durability) as store:
        say(f"open {store.next_sender_seq} {store.next_target_seq}")
        if action == "loop":
            loop(store, int(argv[4]) if len(argv) > 4 else None)
        elif action == "save-then-block":
            seq = store.next_sender_seq
            store.save_sent(seq, message_for(seq))
            say(str(seq))
            signal.pause()  # "sending": the parent kills us here
        else:
            raise SystemExit(f"unknown action {action!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
