"""The one module that reads the clock; everything else takes ``now_ns``.

Receive timestamps everywhere are int64 nanoseconds since the UNIX epoch on
CLOCK_REALTIME (see docs/architecture.md).  Elapsed-time measurements use
the monotonic clock.
"""

from __future__ import annotations

import time


def realtime_ns() -> int:
    return time.time_ns()


def monotonic_ns() -> int:
    return time.monotonic_ns()


def cpu_ns() -> int:
    """CPU time this process has used (user + system), in ns."""
    return time.process_time_ns()
