"""Time: the one place that reads the clocks and formats wall-clock time.

The campaign runner and the lab read time only through a ``Clock`` they are given, so a test
can hand them a fake one (``FakeClock`` in tests) instead of patching a module's imported names.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_iso(epoch_s: float) -> str:
    """UTC ISO-8601 with milliseconds and a 'Z', e.g. ``2026-11-23T09:41:02.123Z``."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_utc(text: str) -> float:
    """Inverse of ``utc_iso``: epoch seconds from an ISO-8601 UTC string."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Clock:
    """The system's clocks: ``monotonic_s`` for intervals and deadlines, ``wall_s`` for timestamps."""

    def monotonic_s(self) -> float:
        """Seconds on a clock that never steps (intervals, timeouts, schedules)."""
        return time.monotonic()

    def wall_s(self) -> float:
        """Seconds since the epoch (what goes into evidence as UTC)."""
        return time.time()

    def now_utc(self) -> str:
        """The current wall-clock time as ``utc_iso`` text."""
        return utc_iso(self.wall_s())


SYSTEM_CLOCK = Clock()
