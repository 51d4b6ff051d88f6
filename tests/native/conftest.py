"""pytest configuration for tests/native.

``shared_data``: the shared data folder (``../shared/data``, real NASDAQ
captures and the RITCH BinaryFILE).  When it is absent the test is skipped
with a reason -- except under ``CI == "true"``, where it fails instead,
because CI must run everything.  Frame builders and other helpers live in
``_frames.py`` next to this file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail when CI=true (where nothing may be missing)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: this is required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder, or skip (fail under CI=true) if it is absent."""
    if not SHARED_DATA.is_dir():
        skip_or_fail(f"shared data folder {SHARED_DATA} is absent")
    return SHARED_DATA
