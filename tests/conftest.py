"""Suite-wide rules.

Hypothesis runs under one profile (below).

Under CI=true the machine has everything the tests need (root, libpcap,
tshark, the shared data), so a skipped test there hides a failure: every
skip is turned into a failure that quotes the skip's reason.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest
from hypothesis import settings

IN_CI = os.environ.get("CI") == "true"

# Deterministic and load-proof: the same examples every run (a failure
# reproduces), no wall-clock deadline on a busy 2-core CI machine, and no
# example database written into the work tree.
settings.register_profile("gateway", deadline=None, derandomize=True, database=None)
settings.load_profile("gateway")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may be missing: {reason}"
