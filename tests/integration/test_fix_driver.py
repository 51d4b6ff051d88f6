"""The FIX session-script driver (``tests/fixscripts``), and QuickFIX under it.

Unit part, nothing timed and no QuickFIX: parsing, ``<TIME>`` substitution,
BodyLength/CheckSum completion (against the project's own encoder), the
comparison (literal, and ``fields.fmt`` patterns matching a prefix), framing,
and whole runs against a fake engine: a thread that accepts connections and
plays a fixed list of moves on each (send these bytes, read one message,
close), so that a pass, a mismatch, a drop and a disconnect are each made on
purpose.  The dropping proxy is checked the same way.

QuickFIX part (``-m quickfix``): the real scripts (read from
``../shared/data/fix-session-tests``, skipped when absent) against QuickFIX's
echo acceptor in two processes, directly and behind proxies that drop the
acceptor's ResendRequests.  The first says what a mature engine passes; the
second that the scripts catch an engine that never asks for a resend.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.fixscripts under a bare `pytest` too

from protocols import fix as codec  # noqa: E402
from tests.fixscripts import driver as d  # noqa: E402
from tests.fixscripts.proxy import DroppingProxy  # noqa: E402

NOW = datetime(2024, 3, 5, 14, 7, 9, 123_000, tzinfo=UTC)
STAMP = "20240305-14:07:09"
FIELDS_FMT = (
    "10=\\d{3}\n"
    "52=\\d{8}-\\d{2}:\\d{2}:\\d{2}|\\d{8}-\\d{2}:\\d{2}:\\d{2}[.]\\d{3}\n"
    "122=\\d{8}-\\d{2}:\\d{2}:\\d{2}\n"
)
PATTERNS = d.parse_patterns(FIELDS_FMT)

LOGON = "8=FIX.4.2|35=A|34=1|49=TW42|52=<TIME>|56=ISLD|98=0|108=30|"
LOGON_REPLY = ("8=FIX.4.2|9=63|35=A|34=1|49=ISLD|52=00000000-00:00:00.000|56=TW42|98=0|108=30|"
               "10=0|")
LOGOUT = "8=FIX.4.2|35=5|34=2|49=TW42|52=<TIME>|56=ISLD|"
LOGOUT_REPLY = "8=FIX.4.2|9=51|35=5|34=2|49=ISLD|52=00000000-00:00:00.000|56=TW42|10=0|"


def soh(text: str) -> bytes:
    return text.replace("|", "\x01").encode()


def engine_says(text: str) -> bytes:
    """A well-formed message as an engine sends it (BodyLength, CheckSum)."""
    return d.complete(soh(text))


GOOD_REPLY = engine_says("8=FIX.4.2|35=A|34=1|49=ISLD|52=20240305-14:07:09.123|56=TW42|98=0|"
                         "108=30|")
GOOD_LOGOUT = engine_says("8=FIX.4.2|35=5|34=2|49=ISLD|52=20240305-14:07:09.456|56=TW42|")


# ------------------------------------------------------------ fake engine


READ = "read one message"


@dataclass(frozen=True)
class Close:
    """Close the connection (then set ``done``, if given)."""

    done: threading.Event | None = None


@dataclass(frozen=True)
class Await:
    event: threading.Event


Move = bytes | str | Close | Await


class FakeEngine:
    """Accepts connections; the n-th plays ``connections[n]`` (the last list
    again for any further ones).  Moves: bytes are sent, ``READ`` reads one
    whole message into ``received``, ``Close()`` closes, ``Await(e)`` waits
    for ``e``.  After its moves a connection waits for the client to close."""

    def __init__(self, *connections: Sequence[Move]) -> None:
        self.connections = connections
        self.received: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> FakeEngine:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self.listener.close()
        for t in self._threads:
            t.join(timeout=5)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        for n in range(1_000):
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            moves = self.connections[min(n, len(self.connections) - 1)]
            self._spawn(self._play, d.Connection(sock), moves)

    def _play(self, conn: d.Connection, moves: Sequence[Move]) -> None:
        far = time.monotonic() + 30  # a safety net, never reached by a passing test
        for move in moves:
            if move == READ:
                try:
                    self.received.append(conn.read_message(far))
                except d.Dropped:  # the harness gave up first (a failing script)
                    conn.sock.close()
                    return
            elif isinstance(move, Close):
                conn.sock.close()
                if move.done:
                    move.done.set()
                return
            elif isinstance(move, Await):
                move.event.wait(30)
            else:
                assert isinstance(move, bytes)
                conn.send(move)
        while not conn.eof:
            conn.buf.clear()
            conn.wait_closed(far)
        conn.sock.close()


def write_script(folder: Path, name: str, text: str) -> Path:
    (folder / "fields.fmt").write_text(FIELDS_FMT)
    path = folder / name
    path.write_bytes(soh(text))
    return path


def run(path: Path, engine: FakeEngine, timeout: float = d.STEP_TIMEOUT) -> d.Result:
    return d.run_script(path, "127.0.0.1", engine.port, clock=lambda: NOW, timeout=timeout)


# ---------------------------------------------------------------- parsing


def test_parse_steps_numbers_lines_and_connections() -> None:
    text = soh("# a comment\n\niCONNECT\nI8=FIX.4.2|35=0|\r\nE2,8=FIX.4.2|35=0|\n"
               "i2,CONNECT\ne1,DISCONNECT\neCONNECT\n")
    steps = d.parse_script(text)
    A = d.Action
    assert [(s.number, s.line, s.action, s.conn) for s in steps] == [
        (1, 3, A.CONNECT, 1), (2, 4, A.SEND, 1), (3, 5, A.EXPECT, 2),
        (4, 6, A.CONNECT, 2), (5, 7, A.EXPECT_DISCONNECT, 1), (6, 8, A.EXPECT_CONNECT, 1)]
    assert steps[1].payload == soh("8=FIX.4.2|35=0|")  # CR of a CRLF line dropped
    assert steps[2].source == "E2,8=FIX.4.2|35=0|"


@pytest.mark.parametrize("line", ["xCONNECT", "iOPEN", "e3,RECONNECT", "8=FIX.4.2"])
def test_parse_rejects_unknown_lines(line: str) -> None:
    with pytest.raises(d.ScriptError, match="line 2"):
        d.parse_script(f"iCONNECT\n{line}\n".encode())


def test_every_shared_script_parses() -> None:
    scripts = d.session_scripts()
    if not scripts:
        pytest.skip(f"no FIX session scripts at {d.SCRIPTS_DIR}")
    for path in scripts:
        steps = d.load_script(path)
        assert steps[0].action in (d.Action.CONNECT, d.Action.EXPECT_CONNECT), path


# ------------------------------------------------------- building messages


def test_time_substitution() -> None:
    msg = soh("52=<TIME>|122=<TIME>|60=<TIME+10>|42=<TIME-121>|")
    assert d.substitute_time(msg, NOW) == soh(
        f"52={STAMP}|122={STAMP}|60=20240305-14:07:19|42=20240305-14:05:08|")


def test_time_is_whole_seconds_as_the_garbled_scripts_count_it() -> None:
    """The garbled-message scripts give BodyLength by hand; with whole-second
    timestamps it counts out exactly (with milliseconds it would be 4 short)."""
    path = d.SCRIPTS_DIR / "fix42" / "2d_GarbledMessage.def"
    if not path.is_file():
        pytest.skip(f"no {path}")
    given = [s for s in d.load_script(path)
             if s.action is d.Action.SEND and b"garbled" in s.payload]
    assert given
    for step in given:
        msg = d.prepare(step.payload, NOW)
        _, length, rest = msg.split(b"\x01", 2)
        body = rest[: rest.rindex(b"\x0110=") + 1]
        assert int(length[2:]) == len(body)


def test_complete_computes_length_and_checksum_like_the_encoder() -> None:
    msg = d.prepare(soh("8=FIX.4.2|35=0|34=2|49=TW42|52=<TIME>|56=ISLD|"), NOW)
    assert msg == codec.encode("FIX.4.2", [(35, "0"), (34, 2), (49, "TW42"), (52, STAMP),
                                           (56, "ISLD")])


def test_complete_inserts_length_after_begin_string_and_keeps_a_given_checksum() -> None:
    assert d.complete(soh("8=FIX.4.2|35=0|34=2|10=123|")) == soh("8=FIX.4.2|9=10|35=0|34=2|10=123|")


def test_complete_keeps_deliberately_wrong_values() -> None:
    wrong = soh("8=FIX.4.2|9=30|35=0|34=2|10=256|")
    assert d.complete(wrong) == wrong
    no_checksum = soh("8=FIX.4.2|9=5|35=0|34=2|")
    assert d.complete(no_checksum) == no_checksum + b"10=" + d.checksum(no_checksum) + b"\x01"


def test_complete_leaves_a_message_not_starting_with_begin_string() -> None:
    out_of_order = soh("35=0|8=FIX.4.2|34=2|")
    assert d.complete(out_of_order) == out_of_order


# ------------------------------------------------------------- comparing


EXPECTED = d.complete(soh("8=FIX.4.2|9=104|35=3|34=2|49=ISLD|52=00000000-00:00:00.000|56=TW42|"
                          "122=00000000-00:00:00.000|45=2|58=Invalid tag number|10=0|"))


def received(**changes: str) -> bytes:
    fields = {"35": "3", "34": "2", "49": "ISLD", "52": "20240305-14:07:09.123", "56": "TW42",
              "122": "20240305-14:07:08.001", "45": "2", "58": "Invalid tag number"}
    fields.update(changes)
    return codec.encode("FIX.4.2", [(int(t), v) for t, v in fields.items()])


def test_compare_matches_patterns_as_a_prefix() -> None:
    # 122 carries milliseconds its pattern does not mention: a prefix match.
    assert d.compare(EXPECTED, received(), PATTERNS) is None


def test_compare_reports_the_first_difference() -> None:
    assert d.compare(EXPECTED, received(**{"52": "2024030X-14:07:09.123"}), PATTERNS) == (
        "field 6: 52=2024030X-14:07:09.123 does not match the pattern "
        r"\d{8}-\d{2}:\d{2}:\d{2}|\d{8}-\d{2}:\d{2}:\d{2}[.]\d{3}")
    assert d.compare(EXPECTED, received(**{"58": "Invalid tag NUMBER"}), PATTERNS) == (
        "field 10: expected 58=Invalid tag number, received 58=Invalid tag NUMBER")
    # A BodyLength difference comes with the difference that explains it.
    assert d.compare(EXPECTED, received(**{"371": "999"}), PATTERNS) == (
        "field 11: expected tag 10, received tag 371 (field 2: expected 9=104, received 9=112)")
    assert d.compare(EXPECTED, received().replace(b"9=104", b"9=105"), PATTERNS) == (
        "field 2: expected 9=104, received 9=105")


def test_compare_counts_fields_and_checks_tags_in_order() -> None:
    extra = EXPECTED[: EXPECTED.rindex(b"10=")] + b"371=9\x01" + EXPECTED[EXPECTED.rindex(b"10="):]
    assert d.compare(EXPECTED, extra, PATTERNS) == "field 11: expected tag 10, received tag 371"
    assert d.compare(EXPECTED + b"1=x\x01", received(), PATTERNS) == (
        "expected 12 fields, received 11")


def test_frame_end_and_frame_problems() -> None:
    msg = GOOD_REPLY
    assert d.frame_end(msg[:-1]) is None
    assert d.frame_end(msg + msg[:5]) == len(msg)
    with pytest.raises(d.Garbled):
        d.frame_end(soh("8=FIX.4.2|9=6x|35=0|10=000|"))
    assert d.frame_problem(msg) is None
    bad_sum = msg[:-4] + b"000\x01" if not msg.endswith(b"=000\x01") else msg[:-4] + b"001\x01"
    assert "CheckSum is" in (d.frame_problem(bad_sum) or "")
    long_body = msg.replace(b"9=63\x01", b"9=62\x01")
    assert "BodyLength" in (d.frame_problem(long_body) or "")


def test_timer_wait_counts_the_engines_own_heartbeats_and_test_requests() -> None:
    steps = d.parse_script(soh(
        "iCONNECT\nI8=FIX.4.2|35=A|108=6|\nE8=FIX.4.2|35=A|108=6|\n"
        "E8=FIX.4.2|35=0|34=2|\nI8=FIX.4.2|35=1|112=X|\nE8=FIX.4.2|35=0|112=X|\n"
        "E8=FIX.4.2|35=1|112=TEST|\n"))
    assert d.timer_wait(steps) == 12


# ------------------------------------------------- runs against a fake engine


SESSION = f"iCONNECT\nI{LOGON}\nE{LOGON_REPLY}\nI{LOGOUT}\nE{LOGOUT_REPLY}\neDISCONNECT\n"


def test_a_passing_run(tmp_path: Path) -> None:
    path = write_script(tmp_path, "ok.def", "# logon and logout\n" + SESSION)
    with FakeEngine([READ, GOOD_REPLY, READ, GOOD_LOGOUT, Close()]) as engine:
        result = run(path, engine)
    assert result.passed, result.details()
    assert result.summary().startswith(f"PASS {tmp_path.name}/ok.def")
    assert engine.received == [d.complete(soh(LOGON.replace("<TIME>", STAMP))),
                               d.complete(soh(LOGOUT.replace("<TIME>", STAMP)))]


def test_a_mismatch_reports_step_line_expected_and_received(tmp_path: Path) -> None:
    path = write_script(tmp_path, "bad.def", "# comment\n" + SESSION)
    wrong = engine_says("8=FIX.4.2|35=A|34=1|49=ISLD|52=20240305-14:07:09.123|56=TW42|98=0|108=31|")
    with FakeEngine([READ, wrong]) as engine:
        result = run(path, engine)
    assert not result.passed
    assert (result.step, result.line) == (3, 4)
    assert result.reason == "field 9: expected 108=30, received 108=31"
    assert result.expected == d.complete(soh(LOGON_REPLY))
    assert result.received == wrong
    text = result.details()
    assert "FAIL" in text and "step 3 (line 4)" in text
    assert "expected: 8=FIX.4.2|9=63|35=A|" in text and "|108=31|10=" in text


def test_a_drop_instead_of_an_expected_message(tmp_path: Path) -> None:
    path = write_script(tmp_path, "drop.def", SESSION)
    with FakeEngine([READ, Close()]) as engine:
        result = run(path, engine)
    assert (result.passed, result.step) == (False, 3)
    assert "dropped connection 1" in result.reason


def test_a_drop_noticed_before_sending(tmp_path: Path) -> None:
    # The engine closes connection 1, then speaks on connection 2; by then
    # the drop of 1 has arrived, so the harness notices it before sending.
    closed = threading.Event()
    script = f"iCONNECT\ni2,CONNECT\nE2,{LOGON_REPLY}\nI{LOGON}\n"
    path = write_script(tmp_path, "drop2.def", script)
    with FakeEngine([Close(closed)], [Await(closed), GOOD_REPLY]) as engine:
        result = run(path, engine)
    assert (result.passed, result.step) == (False, 4)
    assert result.reason == "the engine dropped connection 1 before this message was sent"


def test_disconnect_expected_but_the_engine_talks(tmp_path: Path) -> None:
    path = write_script(tmp_path, "talks.def", f"iCONNECT\nI{LOGON}\neDISCONNECT\n")
    with FakeEngine([READ, GOOD_REPLY]) as engine:
        result = run(path, engine)
    assert (result.passed, result.step) == (False, 3)
    assert result.reason == "expected the engine to disconnect, but it sent data"
    assert result.received == GOOD_REPLY


def test_two_connections(tmp_path: Path) -> None:
    script = (f"i1,CONNECT\nI1,{LOGON}\nE1,{LOGON_REPLY}\ni2,CONNECT\nI2,{LOGON}\n"
              "e2,DISCONNECT\ni1,DISCONNECT\n")
    path = write_script(tmp_path, "dup.def", script)
    with FakeEngine([READ, GOOD_REPLY], [READ, Close()]) as engine:
        result = run(path, engine)
    assert result.passed, result.details()


def test_no_answer_times_out(tmp_path: Path) -> None:
    path = write_script(tmp_path, "quiet.def", SESSION)
    with FakeEngine([READ]) as engine:
        result = run(path, engine, timeout=0.1)
    assert (result.passed, result.step) == (False, 3)
    assert result.reason == "no message from the engine within 0.1 s"


def test_engine_connects_to_the_harness(tmp_path: Path) -> None:
    port = d.free_port()
    path = write_script(tmp_path, "initiator.def", f"eCONNECT\nE{LOGON_REPLY}\nI{LOGON}\n")

    def initiator() -> None:
        while True:
            try:
                conn = d.Connection(socket.create_connection(("127.0.0.1", port)))
                break
            except ConnectionRefusedError:
                time.sleep(0.01)
        conn.send(GOOD_REPLY)
        conn.read_message(time.monotonic() + 30)
        conn.close()

    t = threading.Thread(target=initiator, daemon=True)
    t.start()
    result = d.run_script(path, "127.0.0.1", 1, listen=("127.0.0.1", port), clock=lambda: NOW)
    t.join(timeout=30)
    assert result.passed, result.details()


def test_run_scripts_across_ports_keeps_the_order(tmp_path: Path) -> None:
    paths = [write_script(tmp_path, f"s{i}.def", SESSION) for i in range(5)]
    other_reply = LOGON_REPLY.replace("108=30", "108=31")
    paths.append(write_script(tmp_path, "s5.def", f"iCONNECT\nI{LOGON}\nE{other_reply}\n"))
    moves = [READ, GOOD_REPLY, READ, GOOD_LOGOUT, Close()]
    with FakeEngine(moves) as e1, FakeEngine(moves) as e2:
        seen: list[str] = []
        results = d.run_scripts(paths, [e1.port, e2.port],
                                on_result=lambda r: seen.append(r.script))
    assert [r.script for r in results] == [d.script_name(p) for p in paths]
    assert sorted(seen) == sorted(r.script for r in results)
    assert [r.passed for r in results] == [True] * 5 + [False]
    assert len(e1.received) + len(e2.received) == 11


def test_cli_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = write_script(tmp_path, "ok.def", SESSION)
    with FakeEngine([READ, GOOD_REPLY, READ, GOOD_LOGOUT, Close()]) as engine:
        assert d.main(["--port", str(engine.port), str(ok)]) == 0
    with FakeEngine([READ, Close()]) as engine:
        assert d.main(["--port", str(engine.port), str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "PASS" in out and "FAIL" in out and "1 scripts: 0 passed, 1 failed" in out


def test_proxy_drops_only_the_chosen_types() -> None:
    resend = engine_says("8=FIX.4.2|35=2|34=2|49=ISLD|52=20240305-14:07:09.123|56=TW42|7=1|16=0|")
    wrong_sum = soh("8=FIX.4.2|9=5|35=0|10=999|")
    with FakeEngine([READ, resend, GOOD_REPLY, Close()]) as engine, \
            DroppingProxy(("127.0.0.1", engine.port), {"2"}) as proxy:
        conn = d.Connection.open("127.0.0.1", proxy.port, timeout=5)
        conn.send(wrong_sum)
        assert conn.read_message(time.monotonic() + 30) == GOOD_REPLY
        assert conn.wait_closed(time.monotonic() + 30) == b""  # the engine's close passes on
        conn.close()
    assert engine.received == [wrong_sum]  # the client's bytes, untouched
    assert proxy.dropped == {"2": 1}


# ------------------------------------------------------- against QuickFIX


def _expects(path: Path, msg_type: bytes) -> bool:
    return any(s.action is d.Action.EXPECT and b"\x0135=" + msg_type + b"\x01" in s.payload
               for s in d.load_script(path))


@pytest.fixture(scope="module")
def qf_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Two QuickFIX echo acceptors (one session per version each), so that
    the scripts run two at a time."""
    pytest.importorskip("quickfix")
    if not d.session_scripts():
        pytest.skip(f"no FIX session scripts at {d.SCRIPTS_DIR}")

    def command(port: int, store: Path) -> list[str]:
        return [sys.executable, "-m", "tests.fixscripts.qf_echo", "--port", str(port),
                "--store", str(store)]

    with d.acceptor_processes(command, 2, tmp_path_factory.mktemp("qf_echo")) as ports:
        yield ports


@pytest.mark.quickfix
@pytest.mark.slow
def test_quickfix_passes_the_scripts(qf_ports: list[int],
                                     record_property: pytest.RecordProperty) -> None:
    scripts = d.session_scripts()
    results = d.run_scripts(scripts, qf_ports)
    passed = sorted(r.script for r in results if r.passed)
    failed = [r for r in results if not r.passed]
    # Recorded: QuickFIX 1.16 passed all 117 (58 FIX.4.2, 59 FIX.4.4) when
    # this was written.
    print(f"QuickFIX passes {len(passed)} of {len(results)}: {' '.join(passed)}")
    for r in failed:
        print(r.details())
    record_property("quickfix_passed", " ".join(passed))
    assert len(results) == len(scripts)
    assert len(passed) >= 0.8 * len(results), "\n".join(r.details() for r in failed)


@pytest.mark.quickfix
@pytest.mark.slow
def test_an_acceptor_without_resend_requests_fails_every_resend_script(
        qf_ports: list[int]) -> None:
    scripts = [p for p in d.session_scripts() if _expects(p, b"2")]
    assert len(scripts) >= 10
    direct = d.run_scripts(scripts, qf_ports)
    assert all(r.passed for r in direct), "\n".join(r.details() for r in direct if not r.passed)

    proxies = [DroppingProxy(("127.0.0.1", p), {"2"}).start() for p in qf_ports]
    try:
        # A short step timeout: the missing ResendRequest is due at once, and
        # waiting less can only make a broken acceptor fail, never pass.
        broken = d.run_scripts(scripts, [p.port for p in proxies], timeout=3.0)
    finally:
        for p in proxies:
            p.stop()
    assert [r.script for r in broken if r.passed] == []
    for r in broken:  # each failed where its ResendRequest was due
        assert r.expected is not None and b"\x0135=2\x01" in r.expected, r.details()
    assert sum(p.dropped["2"] for p in proxies) >= len(scripts)
