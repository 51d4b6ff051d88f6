"""The replay progress bar: drawn on a terminal, never into a pipe."""

from __future__ import annotations

import io

import pytest

from gateway.replay import Progress, replay


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_and_clears() -> None:
    tty = _Tty()
    bar = Progress(tty, enabled=True)
    bar.update(1_000_000_000, 50, 100, 1234)
    bar.update(1_000_000_001, 60, 100, 1500)  # too soon: not redrawn
    assert tty.getvalue().count("\r[") == 1
    assert "50.0%" in tty.getvalue() and "1,234 messages" in tty.getvalue()
    bar.finish()
    assert tty.getvalue().endswith("\r")


def test_progress_is_silent_into_a_pipe() -> None:
    pipe = io.StringIO()
    bar = Progress(pipe, enabled=True)
    bar.update(1_000_000_000, 50, 100, 1)
    bar.finish()
    assert pipe.getvalue() == ""


def test_replay_writes_nothing_to_stderr_when_not_a_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    from pathlib import Path

    from gateway import synth

    p = Path(str(tmp_path)) / "s.pcap"
    synth.write_synth(p, messages=5000, symbols=5, seed=1)
    rep = replay(str(p), progress=True)
    assert rep.decoder.messages == 5000
    assert capsys.readouterr().err == ""
