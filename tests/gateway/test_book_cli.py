"""``gateway replay --snapshot`` and ``gateway book``, in process.

* ``replay FILE --snapshot PATH [--levels N]`` writes exactly
  ``{"books": {SYMBOL: {"bids": [[price, shares, orders], ...], "asks": [...]}},
  "stats": {...}}``: bids best (highest) first, asks best (lowest) first,
  integer prices, up to N levels (all by default), the same for pcap, pcapng
  and BinaryFILE, equal to the independent model's books.
* ``book FILE SYMBOL`` prints a ladder equal to the model's top levels, at
  the end or ``--at-seq N`` / ``--at-time HH:MM:SS.nnnnnnnnn``.
* Bad ``--at-time`` / ``--levels`` exit 2, an unknown symbol exits 1, each
  with a one-line error.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway import synth
from gateway.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "native"))
book_model: Any = importlib.import_module("book_model")

MESSAGES, SYMBOLS, SEED = 6_000, 6, 13
FORMATS = ("pcap", "pcapng", "binaryfile")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("book_cli")
    out = {}
    for fmt in FORMATS:
        out[fmt] = d / f"s.{fmt}"
        synth.write_synth(out[fmt], messages=MESSAGES, symbols=SYMBOLS, seed=SEED, fmt=fmt)
    return out


@pytest.fixture(scope="module")
def messages() -> list[bytes]:
    return list(synth.generate_messages(MESSAGES, SYMBOLS, SEED))


_MODELS: dict[int, Any] = {}


def model_until(messages: list[bytes], n: int) -> Any:
    """The model after the first ``n`` messages of the (one) session; cached."""
    if n not in _MODELS:
        model = book_model.Model()
        for i, m in enumerate(messages[:n]):
            model.apply(m, i + 1)
        _MODELS[n] = model
    return _MODELS[n]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("levels", [None, 1, 3])
def test_replay_snapshot(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                         files: dict[str, Path], messages: list[bytes], fmt: str,
                         levels: int | None) -> None:
    snap = tmp_path / "snap.json"
    argv = ["replay", str(files[fmt]), "--no-progress", "--snapshot", str(snap)]
    if levels is not None:
        argv += ["--levels", str(levels)]
    rc, out, err = run(capsys, *argv)
    assert rc == 0, err
    assert "messages" in out
    text = snap.read_text()
    assert text.endswith("\n") and text.count("\n") == 1
    doc = json.loads(text)
    assert list(doc) == ["books", "stats"]
    model = model_until(messages, len(messages))
    want = {model.instruments[i].symbol: model.ladder(i, levels) for i in model.instruments}
    assert doc["books"] == want
    assert len(doc["books"]) == SYMBOLS
    for ladder in doc["books"].values():
        assert list(ladder) == ["bids", "asks"]
        bids = [lv[0] for lv in ladder["bids"]]
        asks = [lv[0] for lv in ladder["asks"]]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert all(len(lv) == 3 and all(type(x) is int for x in lv)
                   for lv in ladder["bids"] + ladder["asks"])
        assert all(lv[1] > 0 and lv[2] > 0 for lv in ladder["bids"] + ladder["asks"])
        if levels is not None:
            assert len(bids) <= levels and len(asks) <= levels
    st = doc["stats"]
    assert st["messages"] == MESSAGES and st["books"] == SYMBOLS
    assert st["orders"] == len(model.orders) and st["levels"] == model.live_levels()
    assert st["integrity"] == {k: 0 for k in book_model.KINDS}


def test_replay_snapshot_same_for_every_format(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path, files: dict[str, Path]) -> None:
    docs = []
    for fmt in FORMATS:
        snap = tmp_path / f"{fmt}.json"
        assert run(capsys, "replay", str(files[fmt]), "--no-progress", "--snapshot",
                   str(snap))[0] == 0
        docs.append(snap.read_text())
    assert docs[0] == docs[1] == docs[2]


def parse_ladder(out: str) -> tuple[str, list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """(header line, bids, asks) of ``gateway book`` output; prices in 1/10,000."""
    lines = out.rstrip("\n").split("\n")
    at = next(i for i, line in enumerate(lines) if "bid | ask" in line)
    bids, asks = [], []
    for row in lines[at + 1 :]:
        if row == "(empty)":
            break
        left, right = (part.split() for part in row.split("|"))
        if left:
            orders, shares, price = left
            bids.append((int(price.replace(".", "")), int(shares), int(orders)))
        if right:
            price, shares, orders = right
            asks.append((int(price.replace(".", "")), int(shares), int(orders)))
    return lines[0], bids, asks


def busiest(messages: list[bytes]) -> str:
    model = model_until(messages, len(messages))
    inst = max(model.instruments, key=lambda i: len(model.levels(i, "B")))
    return model.instruments[inst].symbol


def check_ladder(out: str, model: Any, symbol: str, levels: int) -> None:
    head, bids, asks = parse_ladder(out)
    inst = model.by_symbol[symbol]
    assert bids == model.levels(inst, "B")[:levels]
    assert asks == model.levels(inst, "S")[:levels]
    assert head.startswith(f"{symbol}  instrument {inst}  ")
    assert f"  seq {model.instruments[inst].last_seq}  " in head


@pytest.mark.parametrize("fmt", FORMATS)
def test_book_ladder_at_end(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
                            messages: list[bytes], fmt: str) -> None:
    sym = busiest(messages)
    rc, out, err = run(capsys, "book", str(files[fmt]), sym)
    assert rc == 0 and err == ""
    check_ladder(out, model_until(messages, len(messages)), sym, 10)
    rc, out, _ = run(capsys, "book", str(files[fmt]), sym, "--levels", "3")
    assert rc == 0
    check_ladder(out, model_until(messages, len(messages)), sym, 3)


@pytest.mark.parametrize("fmt", ["pcap", "binaryfile"])
@pytest.mark.parametrize("n", [200, 2_345, 5_000])
def test_book_at_seq(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
                     messages: list[bytes], fmt: str, n: int) -> None:
    sym = busiest(messages)
    rc, out, err = run(capsys, "book", str(files[fmt]), sym, "--at-seq", str(n),
                       "--levels", "25")
    assert rc == 0, err
    check_ladder(out, model_until(messages, n), sym, 25)


def hms(ns: int) -> str:
    s, frac = divmod(ns, 1_000_000_000)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{frac:09d}"


@pytest.mark.parametrize("fmt", ["pcapng", "binaryfile"])
@pytest.mark.parametrize("k", [400, 3_000])
def test_book_at_time(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
                      messages: list[bytes], fmt: str, k: int) -> None:
    sym = busiest(messages)
    ts = [int.from_bytes(m[5:11], "big") for m in messages]
    n = sum(t <= ts[k] for t in ts)
    rc, out, err = run(capsys, "book", str(files[fmt]), sym, "--at-time", hms(ts[k]),
                       "--levels", "25")
    assert rc == 0, err
    check_ladder(out, model_until(messages, n), sym, 25)
    # A time before anything happened: the book exists (R) but is empty.
    rc, out, _ = run(capsys, "book", str(files[fmt]), sym, "--at-time", "03:59:00")
    assert rc == 0 and parse_ladder(out)[1:] == ([], []) and "(empty)" in out


@pytest.mark.parametrize(("argv", "status", "needle"), [
    (["--at-time", "25:00:00"], 2, "--at-time"),
    (["--at-time", "noon"], 2, "--at-time"),
    (["--at-time", "10:61:00"], 2, "--at-time"),
    (["--levels", "0"], 2, "--levels"),
    (["--levels", "-3"], 2, "--levels"),
    (["--at-seq", "0"], 2, "--at-seq"),
])
def test_book_bad_options(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
                          messages: list[bytes], argv: list[str], status: int,
                          needle: str) -> None:
    rc, out, err = run(capsys, "book", str(files["pcap"]), busiest(messages), *argv)
    assert rc == status and out == ""
    assert err.startswith("gateway: ") and err.count("\n") == 1 and needle in err


def test_book_unknown_symbol(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    rc, out, err = run(capsys, "book", str(files["binaryfile"]), "NOPE")
    assert rc == 1 and out == ""
    assert err.startswith("gateway: ") and err.count("\n") == 1 and "'NOPE'" in err


def test_replay_bad_levels(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                           files: dict[str, Path]) -> None:
    snap = tmp_path / "x.json"
    rc, _, err = run(capsys, "replay", str(files["pcap"]), "--no-progress", "--snapshot",
                     str(snap), "--levels", "0")
    assert rc == 2 and err.count("\n") == 1 and "--levels" in err
    assert not snap.exists()
    with pytest.raises(SystemExit) as e:
        main(["book", str(files["pcap"]), "X", "--levels", "many"])
    assert e.value.code == 2
    assert "--levels" in capsys.readouterr().err.splitlines()[-1]
