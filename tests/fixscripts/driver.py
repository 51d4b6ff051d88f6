"""Play the FIX session acceptance scripts against an acceptor, as its counterparty.

The scripts (QuickFIX's acceptance tests, ``fix42/*.def`` and ``fix44/*.def``)
are one action per line:

``iCONNECT`` / ``iDISCONNECT``
    the harness (this driver) opens / closes a TCP connection to the engine;
``eCONNECT`` / ``eDISCONNECT``
    the engine must connect to the harness / drop the connection, within the
    step timeout (10 s);
``I<message>``
    the harness sends the message;
``E<message>``
    the next message the engine sends must be this one;
``I1,`` / ``E2,`` / ``i2,CONNECT`` ...
    a one-digit connection number (default 1), for scripts that hold two
    connections at once (a duplicate logon, for instance).

Before an ``I`` or ``E`` message is used it is *completed*, as QuickFIX's own
harness did (``Reflector.rb``): ``<TIME>``, ``<TIME+n>`` and ``<TIME-n>``
become the current UTC time (plus or minus n seconds) as a FIX UTCTimestamp
in whole seconds, ``YYYYMMDD-HH:MM:SS``; a message that starts with ``8=``
and has no BodyLength gets one right after BeginString, and one with no
trailing CheckSum gets one.  Given values are kept: some scripts send a wrong
BodyLength or CheckSum on purpose.  Whole seconds, not milliseconds, because
the garbled-message scripts (2d, 3c) give a BodyLength that only counts out
with a 17-character SendingTime.

Received messages are framed the way a FIX engine frames them: up to
``<SOH>9=``, the BodyLength value, that many body bytes, then the CheckSum
field up to its SOH.  They are compared with the expected message field by
field, in order, with the same number of fields: tag for tag, and value for
value literally, except for the tags in ``fields.fmt`` (CheckSum, SendingTime,
OrigSendingTime, ...), whose value must match that file's regular expression
at its start (``re.match``: a prefix; an expected ``52=...000`` stands for
any timestamp, with or without milliseconds).  Because CheckSum is only
pattern-matched there, the driver also checks that every received message
really is well formed (the CheckSum field follows the body BodyLength
announced, and its value is the byte sum): an engine that sends broken
frames fails even where the pattern would let it through.

A connection the engine drops when the script does not expect it
(``eDISCONNECT``) is a failure that says so: found before sending on it,
while waiting for a message on it, or when the harness comes to close it.

An acceptor holds one session per FIX version (ISLD-TW42, ISLD-TW44), so
scripts of one version cannot overlap against one acceptor.  ``run_scripts``
runs in parallel across several acceptor processes instead: one worker per
port, each taking the next script from a shared list and running it to the
end before the next one.  After a script the harness closes its connections
by half-closing and waiting (briefly) for the engine to close too, so the
engine has finished with the session before the next script logs on.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

SOH = b"\x01"
ROOT = Path(__file__).resolve().parents[2]
#: The scripts, outside the project (never copied into it).
SCRIPTS_DIR = ROOT.parent / "shared" / "data" / "fix-session-tests"
VERSIONS = ("fix42", "fix44")
#: How long an ``E``, ``eCONNECT``, ``eDISCONNECT`` or ``iCONNECT`` step may wait.
STEP_TIMEOUT = 10.0
#: How long closing a connection waits for the engine to close its side.
CLOSE_GRACE = 2.0
TIME_FORMAT = "%Y%m%d-%H:%M:%S"
#: Used when a script has no ``fields.fmt`` beside it (QuickFIX's Runner.rb defaults).
DEFAULT_PATTERNS = {b"10": re.compile(rb"\d{1,3}"), b"52": re.compile(rb"\d{8}-\d{2}:\d{2}:\d{2}")}

Patterns = dict[bytes, re.Pattern[bytes]]
Clock = Callable[[], datetime]

_LINE = re.compile(rb"([IEie])(?:(\d),)?(.*)", re.DOTALL)
_TIME = re.compile(rb"<TIME(?:([+-])(\d+))?>")


def utc_now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- parsing


class Action(StrEnum):
    SEND = "I"
    EXPECT = "E"
    CONNECT = "iCONNECT"
    DISCONNECT = "iDISCONNECT"
    EXPECT_CONNECT = "eCONNECT"
    EXPECT_DISCONNECT = "eDISCONNECT"


class ScriptError(ValueError):
    """A line the script format does not allow."""


@dataclass(frozen=True)
class Step:
    number: int  # 1-based, counting action lines only
    line: int  # 1-based line number in the file
    action: Action
    conn: int
    payload: bytes = b""  # the message text of I and E steps, as written

    @property
    def source(self) -> str:
        """The step as a script line (printable)."""
        prefix = f"{self.action}{self.conn}," if self.conn != 1 else str(self.action)
        return printable(prefix.encode() + self.payload)


def parse_script(text: bytes) -> list[Step]:
    steps: list[Step] = []
    for lineno, raw in enumerate(text.split(b"\n"), start=1):
        line = raw.rstrip(b"\r")
        if not line.strip() or line.startswith(b"#"):
            continue
        steps.append(_parse_line(line, lineno, len(steps) + 1))
    return steps


def _parse_line(line: bytes, lineno: int, number: int) -> Step:
    m = _LINE.fullmatch(line)
    if m is None:
        raise ScriptError(f"line {lineno}: not an action: {printable(line)}")
    kind, conn, rest = m[1].decode(), int(m[2] or 1), m[3]
    if kind in "IE":
        return Step(number, lineno, Action(kind), conn, rest)
    action = {b"CONNECT": kind + "CONNECT", b"DISCONNECT": kind + "DISCONNECT"}.get(rest)
    if action is None:
        raise ScriptError(f"line {lineno}: {kind} takes CONNECT or DISCONNECT: {printable(line)}")
    return Step(number, lineno, Action(action), conn)


def load_script(path: Path) -> list[Step]:
    return parse_script(path.read_bytes())


def parse_patterns(text: str) -> Patterns:
    """``fields.fmt``: one ``tag=regex`` a line."""
    patterns: Patterns = {}
    for line in text.splitlines():
        tag, sep, regex = line.strip().partition("=")
        if sep:
            patterns[tag.encode()] = re.compile(regex.encode())
    return patterns


@functools.cache
def patterns_for(script_dir: Path) -> Patterns:
    """The ``fields.fmt`` beside the scripts or one folder up (the layout of
    QuickFIX's ``definitions/`` and of the shared data)."""
    for folder in (script_dir, script_dir.parent):
        fmt = folder / "fields.fmt"
        if fmt.is_file():
            return parse_patterns(fmt.read_text())
    return dict(DEFAULT_PATTERNS)


# ------------------------------------------------------- message handling


def printable(data: bytes) -> str:
    """Bytes as one readable line: SOH as ``|``, other control bytes escaped."""
    text = data.decode("latin-1").replace("\x01", "|")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def substitute_time(msg: bytes, now: datetime) -> bytes:
    def stamp(m: re.Match[bytes]) -> bytes:
        offset = int(m[2]) if m[2] else 0
        when = now + timedelta(seconds=-offset if m[1] == b"-" else offset)
        return when.strftime(TIME_FORMAT).encode()

    return _TIME.sub(stamp, msg)


def checksum(data: bytes) -> bytes:
    return b"%03d" % (sum(data) % 256)


def complete(msg: bytes) -> bytes:
    """Add BodyLength (after BeginString) and CheckSum (at the end) where the
    script left them out; keep them where it wrote them, right or wrong.  A
    message that does not start with ``8=`` (deliberately out of order) is
    left as written."""
    if not msg.startswith(b"8=") or SOH not in msg:
        return msg
    head, rest = msg.split(SOH, 1)
    head += SOH
    fields = rest.split(SOH)
    # ``rest`` ends with SOH, so the last element is empty; the one before
    # it is the CheckSum field when the script gave one.
    has_checksum = len(fields) >= 2 and fields[-2].startswith(b"10=")
    body = SOH.join(fields[:-2]) + SOH if has_checksum else rest
    if not any(f.startswith(b"9=") for f in fields):
        head += b"9=%d" % len(body) + SOH
    if has_checksum:
        return head + rest
    out = head + body
    return out + b"10=" + checksum(out) + SOH


def prepare(payload: bytes, now: datetime) -> bytes:
    return complete(substitute_time(payload, now))


def _fields(msg: bytes) -> list[bytes]:
    fields = msg.split(SOH)
    if fields and fields[-1] == b"":
        fields.pop()
    return fields


def compare(expected: bytes, received: bytes, patterns: Patterns) -> str | None:
    """None when ``received`` matches ``expected``, else the first difference.
    A wrong BodyLength is reported together with the difference that explains
    it (a missing or extra field, a longer value), which says more."""
    exp, got = _fields(expected), _fields(received)
    length: str | None = None
    for i, (e, g) in enumerate(zip(exp, got, strict=False), start=1):
        problem = _field_problem(i, e, g, patterns)
        if problem is None:
            continue
        if e.startswith(b"9=") and g.startswith(b"9=") and length is None:
            length = problem
            continue
        return f"{problem} ({length})" if length else problem
    if len(exp) != len(got):
        problem = f"expected {len(exp)} fields, received {len(got)}"
        return f"{problem} ({length})" if length else problem
    return length


def _field_problem(i: int, e: bytes, g: bytes, patterns: Patterns) -> str | None:
    e_tag, _, e_val = e.partition(b"=")
    g_tag, _, g_val = g.partition(b"=")
    if e_tag != g_tag:
        return f"field {i}: expected tag {printable(e_tag)}, received tag {printable(g_tag)}"
    pattern = patterns.get(e_tag)
    if pattern is not None:
        if pattern.match(g_val) is None:
            return (f"field {i}: {printable(g)} does not match the pattern "
                    f"{printable(pattern.pattern)}")
    elif e_val != g_val:
        return f"field {i}: expected {printable(e)}, received {printable(g)}"
    return None


def frame_problem(msg: bytes) -> str | None:
    """None when a framed message is well formed: the CheckSum field starts
    where BodyLength says the body ends, and holds the byte sum."""
    length_at = msg.find(SOH + b"9=") + 1
    body_at = msg.index(SOH, length_at) + 1
    body_end = body_at + int(msg[length_at + 2 : body_at - 1])
    if not msg.startswith(b"10=", body_end):
        return "BodyLength does not end the body where the CheckSum field starts"
    value = msg[body_end + 3 : -1]
    if value != checksum(msg[:body_end]):
        return (f"CheckSum is {printable(value)} but the bytes sum to "
                f"{checksum(msg[:body_end]).decode()}")
    return None


# ------------------------------------------------------------ connections


class Dropped(Exception):
    """The engine closed the connection."""


class Garbled(Exception):
    """The engine sent bytes that cannot be framed as a FIX message."""


def frame_end(buf: bytes | bytearray) -> int | None:
    """End of the first whole message in ``buf`` (None: not all here yet)."""
    tag = buf.find(SOH + b"9=")
    if tag < 0:
        return None
    value_end = buf.find(SOH, tag + 3)
    if value_end < 0:
        return None
    value = bytes(buf[tag + 3 : value_end])
    if not value.isdigit():
        raise Garbled(f"BodyLength is not a number: {printable(value)}")
    body_end = value_end + 1 + int(value)
    trailer_end = buf.find(SOH, body_end)
    return None if trailer_end < 0 else trailer_end + 1


class Connection:
    """One TCP connection with a receive buffer, read with deadlines."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    @classmethod
    def open(cls, host: str, port: int, timeout: float) -> Connection:
        # Retry a refused connect for a while: an acceptor that is still
        # starting (or restarting its listener) is not yet a failure.
        deadline = time.monotonic() + timeout
        while True:
            try:
                return cls(socket.create_connection((host, port), timeout=timeout))
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.eof = True
            raise Dropped from exc

    def _recv(self, wait: float) -> bool:
        """Take in what has arrived, waiting up to ``wait`` seconds (0: do
        not wait).  False when nothing came in time."""
        self.sock.settimeout(max(wait, 0.0))
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, TimeoutError):
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
        self.buf += data
        return True

    def poll(self) -> None:
        """Take in whatever has arrived, without waiting (notices a drop)."""
        while not self.eof and self._recv(0):
            pass

    def read_message(self, deadline: float) -> bytes:
        """The next whole message; TimeoutError, or Dropped when the engine
        closes first (unframed bytes left over go in ``buf``)."""
        while (end := frame_end(self.buf)) is None:
            if self.eof:
                raise Dropped
            if not self._recv(deadline - time.monotonic()) and time.monotonic() >= deadline:
                raise TimeoutError
        msg = bytes(self.buf[:end])
        del self.buf[:end]
        return msg

    def wait_closed(self, deadline: float) -> bytes:
        """Wait for the engine to close: b"" when it did, or the bytes it sent
        instead; TimeoutError when it neither closed nor sent anything."""
        while not self.buf and not self.eof:
            if not self._recv(deadline - time.monotonic()) and time.monotonic() >= deadline:
                raise TimeoutError
        return bytes(self.buf)

    def close(self, grace: float = CLOSE_GRACE) -> None:
        """Half-close, then wait (up to ``grace``) for the engine to close its
        side, so that it is done with the session when this returns."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + grace
            while not self.eof and time.monotonic() < deadline:
                self.buf.clear()
                self._recv(deadline - time.monotonic())
        self.sock.close()


# ----------------------------------------------------------------- running


@dataclass
class Result:
    script: str
    passed: bool
    seconds: float = 0.0
    step: int | None = None
    line: int | None = None
    source: str = ""  # the failing step as written
    reason: str = ""
    expected: bytes | None = None
    received: bytes | None = None

    def summary(self) -> str:
        if self.passed:
            return f"PASS {self.script} ({self.seconds:.1f} s)"
        where = f" step {self.step} (line {self.line})" if self.step is not None else ""
        return f"FAIL {self.script}{where}: {self.reason}"

    def details(self) -> str:
        lines = [self.summary()]
        if not self.passed and self.source:
            lines.append(f"    step:     {self.source}")
        if self.expected is not None:
            lines.append(f"    expected: {printable(self.expected)}")
        if self.received is not None:
            lines.append(f"    received: {printable(self.received)}")
        return "\n".join(lines)


class StepFailed(Exception):
    def __init__(self, reason: str, expected: bytes | None = None,
                 received: bytes | None = None) -> None:
        super().__init__(reason)
        self.reason, self.expected, self.received = reason, expected, received


@dataclass
class ScriptRun:
    """The state of one script's run: its connections, by number."""

    host: str
    port: int
    patterns: Patterns
    timeout: float = STEP_TIMEOUT
    clock: Clock = utc_now
    listen: tuple[str, int] | None = None  # where eCONNECT waits for the engine
    conns: dict[int, Connection] = field(default_factory=dict)
    listener: socket.socket | None = None

    def do(self, step: Step) -> None:
        handler = {
            Action.SEND: self._send,
            Action.EXPECT: self._expect,
            Action.CONNECT: self._connect,
            Action.DISCONNECT: self._disconnect,
            Action.EXPECT_CONNECT: self._expect_connect,
            Action.EXPECT_DISCONNECT: self._expect_disconnect,
        }[step.action]
        handler(step)

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()
        if self.listener is not None:
            self.listener.close()

    def _open(self, step: Step) -> Connection:
        conn = self.conns.get(step.conn)
        if conn is None:
            raise StepFailed(f"connection {step.conn} is not open")
        return conn

    def _alive(self, step: Step, when: str) -> Connection:
        conn = self._open(step)
        conn.poll()
        if conn.eof:
            raise StepFailed(f"the engine dropped connection {step.conn} {when}",
                             received=bytes(conn.buf) or None)
        return conn

    def _send(self, step: Step) -> None:
        conn = self._alive(step, "before this message was sent")
        msg = prepare(step.payload, self.clock())
        try:
            conn.send(msg)
        except Dropped:
            raise StepFailed(f"the engine dropped connection {step.conn} while this "
                             "message was sent") from None

    def _expect(self, step: Step) -> None:
        conn = self._open(step)
        expected = prepare(step.payload, self.clock())
        try:
            received = conn.read_message(time.monotonic() + self.timeout)
        except TimeoutError:
            raise StepFailed(f"no message from the engine within {self.timeout:g} s",
                             expected, bytes(conn.buf) or None) from None
        except Dropped:
            raise StepFailed(f"the engine dropped connection {step.conn} instead of sending "
                             "the expected message", expected, bytes(conn.buf) or None) from None
        except Garbled as exc:
            raise StepFailed(f"unframeable data from the engine: {exc}", expected,
                             bytes(conn.buf)) from None
        problem = compare(expected, received, self.patterns) or frame_problem(received)
        if problem:
            raise StepFailed(problem, expected, received)

    def _connect(self, step: Step) -> None:
        if step.conn in self.conns:
            raise StepFailed(f"connection {step.conn} is already open")
        try:
            self.conns[step.conn] = Connection.open(self.host, self.port, self.timeout)
        except OSError as exc:
            raise StepFailed(f"cannot connect to {self.host}:{self.port}: {exc}") from None

    def _disconnect(self, step: Step) -> None:
        self._alive(step, "before the harness closed it")
        self.conns.pop(step.conn).close()

    def _expect_disconnect(self, step: Step) -> None:
        conn = self._open(step)
        try:
            extra = conn.wait_closed(time.monotonic() + self.timeout)
        except TimeoutError:
            raise StepFailed(f"the engine did not drop connection {step.conn} within "
                             f"{self.timeout:g} s") from None
        if extra:
            raise StepFailed("expected the engine to disconnect, but it sent data",
                             received=extra)
        self.conns.pop(step.conn).close(grace=0)

    def _expect_connect(self, step: Step) -> None:
        if self.listen is None:
            raise StepFailed("eCONNECT needs a listening address for the engine to connect to")
        if step.conn in self.conns:
            raise StepFailed(f"connection {step.conn} is already open")
        if self.listener is None:
            self.listener = socket.create_server(self.listen)
        self.listener.settimeout(self.timeout)
        try:
            sock, _ = self.listener.accept()
        except TimeoutError:
            raise StepFailed(f"the engine did not connect within {self.timeout:g} s") from None
        self.conns[step.conn] = Connection(sock)


def script_name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def run_script(path: Path | str, host: str, port: int, *, timeout: float = STEP_TIMEOUT,
               clock: Clock = utc_now, listen: tuple[str, int] | None = None) -> Result:
    path = Path(path)
    name = script_name(path)
    started = time.monotonic()
    try:
        steps = load_script(path)
    except (OSError, ScriptError) as exc:
        return Result(name, False, reason=f"cannot read the script: {exc}")
    run = ScriptRun(host, port, patterns_for(path.parent.resolve()), timeout, clock, listen)
    step: Step | None = None
    try:
        for step in steps:
            run.do(step)
    except StepFailed as exc:
        assert step is not None
        return Result(name, False, time.monotonic() - started, step.number, step.line,
                      step.source, exc.reason, exc.expected, exc.received)
    finally:
        run.close()
    return Result(name, True, time.monotonic() - started)


def expand_scripts(paths: Iterable[Path | str]) -> list[Path]:
    """Files as given; folders as their ``*.def`` files, recursively, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.rglob("*.def")) if p.is_dir() else [p])
    return out


_MSG_TYPE = re.compile(rb"\x0135=([^\x01]*)\x01")
_HEARTBEAT_INTERVAL = re.compile(rb"\x01108=(\d+)\x01")


def timer_wait(steps: Sequence[Step]) -> int:
    """Roughly how many seconds a script waits on the engine's timers: the
    heartbeat interval (from its logon) for each TestRequest, and each
    Heartbeat that answers no TestRequest (has no TestReqID), it expects."""
    interval, total = 30, 0
    for step in steps:
        if step.action is Action.SEND and (m := _HEARTBEAT_INTERVAL.search(step.payload)):
            interval = int(m[1])
        kind = _MSG_TYPE.search(step.payload)
        if step.action is Action.EXPECT and kind and (
                kind[1] == b"1" or (kind[1] == b"0" and b"\x01112=" not in step.payload)):
            total += interval
    return total


def _longest_first(paths: Sequence[Path]) -> list[int]:
    """Indexes of ``paths``, the scripts that wait longest first, so that
    parallel workers finish together (the 35 s TestRequest scripts must not
    start last)."""
    def cost(i: int) -> int:
        try:
            return timer_wait(load_script(paths[i]))
        except (OSError, ScriptError):
            return 0
    return sorted(range(len(paths)), key=cost, reverse=True)


def run_scripts(scripts: Iterable[Path | str], ports: Sequence[int], host: str = "127.0.0.1",
                *, timeout: float = STEP_TIMEOUT,
                on_result: Callable[[Result], None] | None = None) -> list[Result]:
    """Run ``scripts`` (files or folders), one worker per acceptor port, each
    running one script at a time; results in the order of the scripts.
    ``on_result`` is called (serially) as each script finishes."""
    if not ports:
        raise ValueError("run_scripts needs at least one port")
    paths = expand_scripts(scripts)
    todo: queue.SimpleQueue[tuple[int, Path]] = queue.SimpleQueue()
    for index in _longest_first(paths):
        todo.put((index, paths[index]))
    results: list[Result | None] = [None] * len(paths)
    report_lock = threading.Lock()

    def worker(port: int) -> None:
        while True:
            try:
                index, path = todo.get_nowait()
            except queue.Empty:
                return
            result = run_script(path, host, port, timeout=timeout)
            results[index] = result
            if on_result is not None:
                with report_lock:
                    on_result(result)

    workers = [threading.Thread(target=worker, args=(p,), daemon=True) for p in ports]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return [r for r in results if r is not None]


# ------------------------------------------------ scripts and acceptors


def session_scripts(root: Path = SCRIPTS_DIR) -> list[Path]:
    """The FIX.4.2 and FIX.4.4 scripts ([] when the shared data is absent)."""
    return [p for v in VERSIONS if (root / v).is_dir() for p in sorted((root / v).glob("*.def"))]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes],
                  timeout: float = 30.0) -> None:
    """Until something accepts on ``port``; RuntimeError if ``proc`` exits
    first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode} "
                               "before listening")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:g} s")


@contextlib.contextmanager
def acceptor_processes(command: Callable[[int, Path], list[str]], count: int, workdir: Path,
                       host: str = "127.0.0.1") -> Iterator[list[int]]:
    """Start ``count`` acceptors (``command(port, store_dir)``, run from the
    repository root) on free ports; yield the ports once all listen; stop
    them (by their process ids) at the end."""
    procs: list[subprocess.Popen[bytes]] = []
    ports = [free_port(host) for _ in range(count)]
    cmds = [command(port, workdir / f"acceptor{i}") for i, port in enumerate(ports)]
    logs = [workdir / f"acceptor{i}.out" for i in range(count)]
    try:
        for cmd, log_path in zip(cmds, logs, strict=True):
            with log_path.open("wb") as log:  # the child keeps its own handle
                procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log,
                                              stderr=subprocess.STDOUT))
        for port, proc, cmd, log_path in zip(ports, procs, cmds, logs, strict=True):
            try:
                wait_for_port(host, port, proc)
            except RuntimeError as exc:
                raise RuntimeError(f"{' '.join(cmd)}: {exc}; its output:\n"
                                   f"{log_path.read_text(errors='replace')}") from None
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ------------------------------------------------------------ command line


def _ports(args: argparse.Namespace) -> list[int]:
    ports = [int(p) for p in args.ports.split(",")] if args.ports else [args.port]
    if args.jobs is not None:
        if args.jobs > len(ports):
            raise SystemExit(f"--jobs {args.jobs} needs as many ports, got {len(ports)}")
        ports = ports[: args.jobs]
    return ports


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.fixscripts.driver",
        description="Run FIX session acceptance scripts (.def) against an acceptor.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, help="the acceptor's port (one worker)")
    ap.add_argument("--ports", help="comma-separated ports of several acceptor processes, "
                    "one worker each (scripts of one session must not overlap on one acceptor)")
    ap.add_argument("--jobs", type=int, help="use only the first N of --ports")
    ap.add_argument("--timeout", type=float, default=STEP_TIMEOUT,
                    help="seconds a step may wait (default %(default)s)")
    ap.add_argument("scripts", nargs="+", metavar="SCRIPT_OR_DIR")
    args = ap.parse_args(argv)
    if args.port is None and not args.ports:
        ap.error("give --port or --ports")

    def report(r: Result) -> None:
        print(r.details(), flush=True)  # a line; a failure adds expected/received

    started = time.monotonic()
    results = run_scripts(args.scripts, _ports(args), args.host, timeout=args.timeout,
                          on_result=report)
    failed = [r for r in results if not r.passed]
    print(f"{len(results)} scripts: {len(results) - len(failed)} passed, {len(failed)} failed "
          f"in {time.monotonic() - started:.1f} s")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
