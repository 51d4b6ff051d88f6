"""``gateway feed`` from the command line: captures through the live feed
path (a capture of both lines is arbitrated like the wire), the report, and
configuration errors that name the option."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from gateway import synth
from gateway.capture_write import PcapWriter, UdpFramer
from gateway.cli import main
from protocols import moldudp64

SESSION = "FEEDCLI001"
MSGS = list(synth.generate_messages(3000, 8, 17))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _books(path: Path) -> dict[str, object]:
    return dict(json.loads(path.read_text())["books"])


def _hits(packet: bytes, ranges: list[range]) -> bool:
    h = moldudp64.decode_packet(packet)
    return any(q in r for r in ranges for q in range(h.sequence, h.sequence + h.count))


def write_lines(path: Path, drop_a: list[range], drop_b: list[range], both: bool = True) -> None:
    """A capture of lines A and B (different groups and packing), without
    the packets of A carrying a sequence in drop_a, and of B in drop_b."""
    a = moldudp64.pack_messages(SESSION, 1, MSGS, max_payload=1000)
    b = moldudp64.pack_messages(SESSION, 1, MSGS, max_payload=700)
    fa, fb = UdpFramer(dst_ip="233.1.1.1", dst_port=30001), UdpFramer(dst_ip="233.1.1.2",
                                                                     dst_port=30002)
    rng = random.Random(5)
    with PcapWriter(path, fa) as w:
        t = 1_700_000_000_000_000_000
        ib = 0
        for p in a:
            t += 1000
            if not _hits(p, drop_a):
                w.write_frame(t, fa.frame(p))
            # B trails A by a packet or two, as a second path does.
            while both and ib < len(b) and (moldudp64.decode_packet(b[ib]).sequence
                                           <= moldudp64.decode_packet(p).sequence
                                           - rng.randint(0, 40)):
                if not _hits(b[ib], drop_b):
                    w.write_frame(t + 500, fb.frame(b[ib]))
                ib += 1
        for j in range(ib, len(b) if both else 0):
            if not _hits(b[j], drop_b):
                w.write_frame(t + 1000 + j, fb.frame(b[j]))
        end = moldudp64.encode_end_of_session(SESSION, len(MSGS) + 1)
        w.write_frame(t + 10**6, fa.frame(end))


@pytest.fixture
def clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    cap = tmp_path / "clean.pcap"
    write_lines(cap, [], [], both=False)
    snap = tmp_path / "clean.json"
    rc, _, _ = _run(capsys, "replay", str(cap), "--no-progress", "--snapshot", str(snap))
    assert rc == 0
    return snap


def test_pcap_of_both_lines_is_arbitrated_like_the_wire(tmp_path: Path, clean: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    cap = tmp_path / "ab.pcap"
    write_lines(cap, drop_a=[range(100, 160), range(900, 1000)],
                drop_b=[range(1, 2), range(300, 310), range(1500, 1600)])
    snap = tmp_path / "feed.json"
    rc, out, _ = _run(capsys, "feed", "--source", "pcap", "--capture", str(cap),
                      "--snapshot", str(snap), "--json")
    assert rc == 0
    rep = json.loads(out)
    assert rep["decoder"]["messages"] == len(MSGS) and rep["gaps"] == []
    assert rep["books"]["stale_books"] == 0 and rep["ended"]
    assert _books(snap) == _books(clean)
    # Replaying the same capture without arbitration loses what A lacked.
    rc, out, _ = _run(capsys, "replay", str(cap), "--json")
    assert json.loads(out)["decoder"]["gaps"] > 0


def test_pcap_loss_on_both_lines_is_given_up_and_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cap = tmp_path / "lossy.pcap"
    write_lines(cap, drop_a=[range(200, 201)], drop_b=[], both=False)
    rc, out, _ = _run(capsys, "feed", "--source", "pcap", "--capture", str(cap), "--stats")
    assert rc == 0
    assert "lost 000000000" not in out  # the session name is ours
    assert f"lost {SESSION}" in out and "stale 8" in out


@pytest.mark.parametrize(("argv", "key"), [
    (["--source", "udp"], "--group"),
    (["--group", "10.0.0.1:5000"], "--group"),
    (["--group", "239.1.1.1"], "--group"),
    (["--group", "239.1.1.1:70000"], "--group"),
    (["--group", "239.1.1.1:5000", "--interface", "nosuchif0"], "--interface"),
    (["--group", "239.1.1.1:5000", "--retransmit", "nowhere:1"], "--retransmit"),
    (["--source", "pcap"], "--capture"),
    (["--source", "pcap", "--capture", "x.pcap", "--group", "239.1.1.1:5000"], "--source"),
    (["--group", "239.1.1.1:5000", "--duration", "0"], "--duration"),
    (["--group", "239.1.1.1:5000", "--max-per-request", "0"], "recovery.max_per_request"),
])
def test_bad_options_name_the_option(argv: list[str], key: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, "feed", *argv)
    assert rc == 2
    assert err.startswith(f"gateway: {key}:")


def test_ctrl_c_stops_the_feed_with_its_report_and_snapshot(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    snap = tmp_path / "snap.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "feed", "--interface", "lo",
         "--group", "239.255.99.1:36001", "--snapshot", str(snap), "--stats"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # joined and idle, waiting in poll()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.startswith("stopped    interrupted")
    assert json.loads(snap.read_text())["books"] == {}
