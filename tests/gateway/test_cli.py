"""The command line end to end, in process: decode, replay, capture synth,
and the exit statuses and one-line errors for bad input and options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway import synth
from gateway.capture_write import PcapWriter, UdpFramer
from gateway.cli import main
from protocols import itch50, moldudp64

MESSAGES, SYMBOLS, SEED = 3000, 8, 11


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    out = {}
    for fmt, name in (("pcap", "s.pcap"), ("pcapng", "s.pcapng"), ("binaryfile", "s.itch")):
        out[fmt] = d / name
        synth.write_synth(out[fmt], messages=MESSAGES, symbols=SYMBOLS, seed=SEED, fmt=fmt)
    return out


@pytest.fixture(scope="module")
def reference() -> list[dict[str, object]]:
    return [itch50.decode(m) for m in synth.generate_messages(MESSAGES, SYMBOLS, SEED)]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_decode_jsonl_equals_reference(
    capsys: pytest.CaptureFixture[str], session: dict[str, Path],
    reference: list[dict[str, object]], fmt: str,
) -> None:
    rc, out, err = _run(capsys, "decode", str(session[fmt]))
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == MESSAGES
    for i, (row, ref) in enumerate(zip(rows, reference, strict=True), start=1):
        assert row.pop("session") == synth.DEFAULT_SESSION
        assert row.pop("sequence") == i
        assert row == ref


def test_decode_binaryfile_has_no_sequence(
    capsys: pytest.CaptureFixture[str], session: dict[str, Path],
    reference: list[dict[str, object]],
) -> None:
    rc, out, _ = _run(capsys, "decode", str(session["binaryfile"]))
    assert rc == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows == reference


def test_decode_types_and_text(capsys: pytest.CaptureFixture[str], session: dict[str, Path],
                               reference: list[dict[str, object]]) -> None:
    rc, out, _ = _run(capsys, "decode", str(session["pcap"]), "--types", "A,F", "--format", "text")
    assert rc == 0
    lines = out.splitlines()
    want = [r for r in reference if r["type"] in ("A", "F")]
    assert len(lines) == len(want) > 0
    first = want[0]
    assert f"order_reference_number={first['order_reference_number']}" in lines[0]
    assert f"price={int(first['price']) / 10_000:.4f}" in lines[0]  # type: ignore[call-overload]


def test_replay_report(capsys: pytest.CaptureFixture[str], session: dict[str, Path],
                       reference: list[dict[str, object]]) -> None:
    rc, out, _ = _run(capsys, "replay", str(session["pcap"]), "--json")
    assert rc == 0
    rep = json.loads(out)
    st = rep["decoder"]
    assert st["messages"] == MESSAGES
    counts: dict[str, int] = {}
    for r in reference:
        counts[str(r["type"])] = counts.get(str(r["type"]), 0) + 1
    assert st["by_type"] == counts
    assert rep["errors"] == {}
    (s,) = rep["sessions"]
    assert (s["name"], s["first_seq"], s["next_seq"], s["ended"]) == (
        synth.DEFAULT_SESSION, 1, MESSAGES + 1, True)
    rc, text, _ = _run(capsys, "replay", str(session["pcap"]), "--no-progress")
    assert rc == 0 and "errors     none" in text and f"{MESSAGES:,}" in text


def test_replay_reports_gaps(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    msgs = list(synth.generate_messages(2000, 4, 3))
    packets = moldudp64.pack_messages("GAPTEST001", 1, msgs)
    lost = packets[5]
    first_lost = moldudp64.decode_packet(lost).sequence
    n_lost = moldudp64.decode_packet(lost).count
    path = tmp_path / "gap.pcap"
    with PcapWriter(path, UdpFramer()) as w:
        for i, p in enumerate(packets):
            if i != 5:
                w.write_udp(1_700_000_000_000_000_000 + i, p)
    rc, out, _ = _run(capsys, "replay", str(path), "--json")
    assert rc == 0
    rep = json.loads(out)
    assert rep["decoder"]["messages"] == 2000 - n_lost
    assert rep["gaps"] == [
        {"session": "GAPTEST001", "first": first_lost, "count": n_lost,
         "rx_ns": 1_700_000_000_000_000_006, "line": 0}
    ]
    rc, text, _ = _run(capsys, "replay", str(path), "--no-progress")
    assert f"gaps 1 ({n_lost} missing)" in text


def test_synth_command_is_deterministic(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    for p in (a, b):
        rc, out, _ = _run(capsys, "capture", "synth", "-o", str(p), "--messages", "500",
                          "--symbols", "3", "--seed", "5")
        assert rc == 0 and str(p) in out
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    ("argv", "status", "needle"),
    [
        (["decode", "/nonexistent/x.pcap"], 1, "No such file"),
        (["replay", "{dir}"], 1, ""),
        (["decode", "{text}"], 1, "not a capture"),
        (["decode", "{empty}"], 1, "empty file"),
        (["decode", "{pcap}", "--filter", "udp prt 1"], 2, "--filter"),
        (["decode", "{pcap}", "--types", "A,Z"], 2, "--types"),
        (["decode", "{itch}", "--filter", "udp"], 2, "--filter"),
        (["capture", "synth", "-o", "{tmp}/x.pcap", "--symbols", "0"], 2, "--symbols"),
        (["capture", "synth", "-o", "{tmp}/x.pcap", "--messages", "3"], 2, ""),
    ],
)
def test_errors_are_one_line_with_status(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, session: dict[str, Path],
    argv: list[str], status: int, needle: str,
) -> None:
    (tmp_path / "t.txt").write_text("hello, this is not a capture\n")
    (tmp_path / "e.bin").write_bytes(b"")
    subs = {"{dir}": str(tmp_path), "{text}": str(tmp_path / "t.txt"),
            "{empty}": str(tmp_path / "e.bin"), "{pcap}": str(session["pcap"]),
            "{itch}": str(session["binaryfile"]), "{tmp}": str(tmp_path)}
    args = []
    for a in argv:
        for k, v in subs.items():
            a = a.replace(k, v)
        args.append(a)
    rc, out, err = _run(capsys, *args)
    assert rc == status
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("gateway: ")
    assert needle in err


def test_gzipped_capture_is_named_and_gzipped_binaryfile_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, session: dict[str, Path]
) -> None:
    import gzip

    zipped = tmp_path / "s.pcap.gz"
    zipped.write_bytes(gzip.compress(session["pcap"].read_bytes()))
    rc, out, err = _run(capsys, "replay", str(zipped))
    assert rc == 1 and out == ""
    assert err.startswith("gateway: ") and "gzipped pcap" in err and len(err.splitlines()) == 1
    ok = tmp_path / "s.itch.gz"
    ok.write_bytes(gzip.compress(session["binaryfile"].read_bytes()))
    rc, out, _ = _run(capsys, "replay", str(ok), "--json")
    assert rc == 0 and json.loads(out)["decoder"]["messages"] == MESSAGES
