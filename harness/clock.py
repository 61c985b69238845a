"""Time helpers: the one place that formats wall-clock time (tests may patch ``now_utc``)."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_iso(epoch_s: float) -> str:
    """UTC ISO-8601 with milliseconds and a 'Z', e.g. ``2026-11-23T09:41:02.123Z``."""
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_utc(text: str) -> float:
    """Inverse of ``utc_iso``: epoch seconds from an ISO-8601 UTC string."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def now_utc() -> str:
    """The current time as ``utc_iso`` text."""
    return datetime.now(tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
