"""A TCP proxy that makes a deliberately broken acceptor: it drops messages.

Put it in front of a working acceptor and it forwards everything, except
that messages of the chosen MsgTypes going from the acceptor to the client
never arrive.  ``--drop 2`` is an acceptor that never sends ResendRequest;
every script that expects one must then fail, which shows the scripts (and
the driver) can tell a correct engine from a broken one.

What the client sends goes through byte for byte (scripts send garbled
messages on purpose, so nothing may be reframed on the way in).  What the
acceptor sends is framed (8=/9=/10=, as the driver frames it) so that whole
messages can be held back; bytes that cannot be framed are passed on as
they are.  Closing is passed through in both directions: when one side
half-closes or closes, the proxy does the same to the other side, so a
disconnect by the engine is still a disconnect at the client.

In tests: ``with DroppingProxy(("127.0.0.1", port), {"2"}) as proxy:`` and
point the driver at ``proxy.port``.  From a shell:
``python -m tests.fixscripts.proxy --target 127.0.0.1:P --listen-port Q --drop 2``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from types import FrameType, TracebackType

from .driver import Garbled, frame_end

_MSG_TYPE = re.compile(rb"\x0135=([^\x01]*)\x01")


def msg_type(msg: bytes) -> str | None:
    m = _MSG_TYPE.search(msg)
    return m[1].decode("latin-1") if m else None


class DroppingProxy:
    """Listens on ``listen`` (port 0: any free port, see ``port``) and relays
    each connection to ``target``, dropping acceptor-to-client messages whose
    MsgType is in ``drop``.  ``dropped`` counts what was dropped, by MsgType."""

    def __init__(self, target: tuple[str, int], drop: Iterable[str],
                 listen: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.target = target
        self.drop = frozenset(drop)
        self.dropped: collections.Counter[str] = collections.Counter()
        self._listener = socket.create_server(listen)
        self._listener.settimeout(0.2)  # accept() wakes up to see stop()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> DroppingProxy:
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for t in list(self._threads):
            t.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> DroppingProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # no acceptor behind us: refuse, as it would
                continue
            self._relay(client, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        for sock in (client, upstream):
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sockets |= {client, upstream}
        done = threading.Barrier(2, action=lambda: self._close(client, upstream))
        self._spawn(self._pump_raw, client, upstream, done)
        self._spawn(self._pump_filtered, upstream, client, done)

    def _close(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._sockets.discard(sock)
                sock.close()

    @staticmethod
    def _end(dst: socket.socket) -> None:
        """The source is finished (closed, half-closed or reset): pass that on
        as a half-close, so the other side sees its peer go."""
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def _pump_raw(self, src: socket.socket, dst: socket.socket, done: threading.Barrier) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        self._end(dst)
        done.wait()

    def _pump_filtered(self, src: socket.socket, dst: socket.socket,
                       done: threading.Barrier) -> None:
        buf = bytearray()
        try:
            while data := src.recv(65536):
                buf += data
                dst.sendall(self._pass(buf))
            dst.sendall(bytes(buf))  # an unfinished tail, as it came
        except OSError:
            pass
        self._end(dst)
        done.wait()

    def _pass(self, buf: bytearray) -> bytes:
        """Take the whole messages off ``buf``; return those to forward."""
        out = bytearray()
        while True:
            try:
                end = frame_end(buf)
            except Garbled:
                end = len(buf)  # not FIX as we know it: do not hold it back
            if not end:
                return bytes(out)
            msg = bytes(buf[:end])
            del buf[:end]
            kind = msg_type(msg)
            if kind in self.drop:
                with self._lock:
                    self.dropped[kind] += 1
            else:
                out += msg


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fixscripts.proxy",
                                 description="TCP proxy that drops the acceptor's messages "
                                             "of the given MsgTypes")
    ap.add_argument("--target", required=True, help="HOST:PORT of the acceptor")
    ap.add_argument("--listen-port", type=int, required=True)
    ap.add_argument("--listen-host", default="127.0.0.1")
    ap.add_argument("--drop", action="append", default=[],
                    help="MsgType to drop (repeat, or comma-separate), e.g. --drop 2")
    args = ap.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    drop = {t for arg in args.drop for t in arg.split(",") if t}
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with DroppingProxy((host, int(port)), drop, (args.listen_host, args.listen_port)) as proxy:
        print(f"proxy {args.listen_host}:{proxy.port} -> {args.target}, dropping "
              f"MsgType {', '.join(sorted(drop)) or 'none'}", flush=True)
        stop.wait()
        print(f"dropped: {dict(proxy.dropped)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
