"""The one SIP seam: every call the harness places goes through ``Dialer.place``.

The pjsua2 adapter (``harness.sip.pjsua_adapter``) and the worker pool
(``harness.sip.pool``) implement it for real; unit tests of campaign logic use a
scripted fake. No test that claims to test SIP may use a fake.

What a call is asked to do (``CallSpec``) and the timeline it returns (``CallRecord``,
written next to the recording as ``<call_uid>.events.json``) are shared vocabulary,
defined in ``harness.vocab``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from harness.vocab import CallRecord, CallSpec

#: calls one pjsua2 process holds at once: the wheel's compile-time PJSUA_MAX_CALLS (measured),
#: so more concurrency means more worker processes
MAX_CALLS_PER_PROCESS = 4


class Account(BaseModel):
    """Outbound SIP account. The password is never stored here: only where to read it."""

    registrar: str | None = None  # e.g. "sip:127.0.0.1:5070"; None = direct calls, no registration
    username: str | None = None
    domain: str | None = None  # realm/domain for the From URI; defaults to the registrar's host
    password_env: str | None = None  # name of the environment variable holding the password
    credentials_file: Path | None = None  # a 0600 file holding the password (alternative to password_env)
    proxy: str | None = None  # outbound proxy URI; defaults to the registrar when one is set


class Dialer(Protocol):
    """The seam: place one call and return its timeline once it has ended."""

    def place(self, spec: CallSpec) -> CallRecord:  # pragma: no cover - protocol
        """Place ``spec`` and block until the call has ended; never raises for a failed call."""
        ...
