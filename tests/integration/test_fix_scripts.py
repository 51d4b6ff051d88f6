"""The gateway's FIX session layer passes every FIX session acceptance script.

The scripts are QuickFIX's own acceptance tests for an acceptor (FIX.4.2 and
FIX.4.4, read from ``../shared/data/fix-session-tests``; skipped when absent);
QuickFIX passes them all (``test_fix_driver.py``).  The engine under test is
the gateway's echo acceptor, ``gateway fix-echo --port P --store DIR``: the
scripts' counterpart (SenderCompID ISLD, sessions with TW42 and TW44,
sequence reset on logon, dictionary validation, NewOrderSingle and
SecurityDefinition echoed).

It holds one session per version, so two acceptor processes run the scripts
two at a time (``run_scripts``: one worker per port).  A failure lists every
failing script with its step, the message expected and the one received.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.fixscripts under a bare `pytest` too

from tests.fixscripts import driver as d  # noqa: E402

ACCEPTORS = 2


def gateway_echo(port: int, store: Path) -> list[str]:
    return [sys.executable, "-m", "gateway", "fix-echo", "--port", str(port),
            "--store", str(store)]


@pytest.mark.slow
def test_gateway_passes_every_session_script(tmp_path: Path) -> None:
    scripts = d.session_scripts()
    if not scripts:
        pytest.skip(f"no FIX session scripts at {d.SCRIPTS_DIR}")
    with d.acceptor_processes(gateway_echo, ACCEPTORS, tmp_path) as ports:
        results = d.run_scripts(scripts, ports)
    assert len(results) == len(scripts)
    failed = [r for r in results if not r.passed]
    assert not failed, (f"{len(failed)} of {len(results)} FIX session scripts fail:\n"
                        + "\n".join(r.details() for r in failed))
