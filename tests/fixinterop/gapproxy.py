"""A TCP proxy that drops chosen messages -- the Nth of a MsgType -- on their
way from the acceptor to the client, to open a sequence gap the client must
close with a ResendRequest.

It is ``tests.fixscripts.proxy.DroppingProxy`` (relaying, closing passed
through both ways, the client's bytes forwarded untouched) with a different
choice of what to drop: ``drop_nth={"8": {2}}`` drops the second
ExecutionReport the acceptor sends (counted over all connections), and
nothing else -- in particular not its resent copy.  ``dropped_seqs`` lists
the MsgSeqNum of every message dropped.

In tests: ``with NthDropProxy(("127.0.0.1", port), {"8": {2}}) as proxy:``
and point the client at ``proxy.port``.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Mapping

from tests.fixscripts.driver import Garbled, frame_end
from tests.fixscripts.proxy import DroppingProxy, msg_type

_SEQ = re.compile(rb"\x0134=(\d+)\x01")


class NthDropProxy(DroppingProxy):
    def __init__(self, target: tuple[str, int], drop_nth: Mapping[str, Iterable[int]],
                 listen: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        super().__init__(target, (), listen)
        self.drop_nth = {k: frozenset(v) for k, v in drop_nth.items()}
        self.seen: collections.Counter[str] = collections.Counter()
        self.dropped_seqs: list[int] = []

    def __enter__(self) -> NthDropProxy:
        self.start()
        return self

    def _pass(self, buf: bytearray) -> bytes:
        """Take the whole messages off ``buf``; return those to forward."""
        out = bytearray()
        while True:
            try:
                end = frame_end(buf)
            except Garbled:
                end = len(buf)
            if not end:
                return bytes(out)
            msg = bytes(buf[:end])
            del buf[:end]
            kind = msg_type(msg) or ""
            with self._lock:
                self.seen[kind] += 1
                drop = self.seen[kind] in self.drop_nth.get(kind, ())
                if drop:
                    self.dropped[kind] += 1
                    m = _SEQ.search(msg)
                    self.dropped_seqs.append(int(m[1]) if m else -1)
            if not drop:
                out += msg
