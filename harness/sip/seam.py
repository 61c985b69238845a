"""The one SIP seam: every call the harness places goes through ``Dialer.place``.

The pjsua2 adapter (``harness.sip.pjsua_adapter``) and the worker pool
(``harness.sip.pool``) implement it for real; unit tests of campaign logic use a
scripted fake. No test that claims to test SIP may use a fake.

A call's signalling timeline is a ``CallRecord``; it is written next to the
recording as ``<call_uid>.events.json`` and its fields are a contract.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field


class DisconnectBy(str, Enum):
    """Who ended the call: the far end, us, or nobody (never connected)."""

    REMOTE = "remote"
    LOCAL = "local"
    NONE = "none"


class Account(BaseModel):
    """Outbound SIP account. The password is never stored here: only where to read it."""

    registrar: str | None = None  # e.g. "sip:127.0.0.1:5070"; None = direct calls, no registration
    username: str | None = None
    domain: str | None = None  # realm/domain for the From URI; defaults to the registrar's host
    password_env: str | None = None  # name of the environment variable holding the password
    credentials_file: Path | None = None  # a 0600 file holding the password (alternative to password_env)
    proxy: str | None = None  # outbound proxy URI; defaults to the registrar when one is set


class CallSpec(BaseModel):
    """What to call and how long to wait; all times in seconds."""

    call_uid: str
    target: str  # SIP URI, e.g. "sip:1001@127.0.0.1:5060"
    out_dir: Path
    ring_timeout_s: float = 30.0  # CANCEL when not answered by then
    max_call_s: float = 300.0  # BYE when the call lasts this long after the INVITE
    max_answered_s: float | None = None  # BYE this long after the answer (the shopper's patience on hold)
    dtmf: str | None = None  # RFC 2833 digits to send after the answer
    dtmf_after_s: float = 1.0  # seconds after the answer
    clock_rate_hz: int = 8000


class CallEvent(BaseModel):
    """One signalling event; ``t_s`` is seconds since the INVITE was sent."""

    t_s: float
    type: str  # invite_sent, invite_resent (retransmission or with credentials), provisional, answered,
    #            media_start, dtmf_sent, cancel_sent, bye_sent,
    #            bye_received, final, disconnected, recorder_closed (pjsua2 closed the WAV),
    #            recorder_not_closed (it had not within the engine's timeout)
    code: int | None = None
    reason: str | None = None
    utc: str | None = None  # UTC ISO-8601 with milliseconds
    by: str | None = None  # for hangups: "remote" or "local"


class CallRecord(BaseModel):
    """The signalling timeline of one call (``<call_uid>.events.json``)."""

    schema_version: int = 1
    call_uid: str
    sip_call_id: str | None = None
    target: str
    invite_at: str | None = None  # UTC ISO-8601 ms of the INVITE
    invite_monotonic_s: float | None = None
    events: list[CallEvent] = Field(default_factory=list)
    answered_s: float | None = None
    media_start_s: float | None = None
    ended_s: float | None = None
    final_status: int | None = None  # last SIP status code (200 for an answered call)
    final_reason: str | None = None
    disconnect_by: DisconnectBy = DisconnectBy.NONE
    error: str | None = None  # set when the call could not be placed (transport/auth failure)
    recording: str | None = None  # file name of the WAV, relative to the events file
    recording_duration_s: float | None = None
    recording_gap_s: float | None = None  # signalling media span minus recording duration
    recording_repaired: bool = False  # True when the WAV header had to be rebuilt (worker died)
    sip_log: str | None = None


class Dialer(Protocol):
    """The seam: place one call and return its timeline once it has ended."""

    def place(self, spec: CallSpec) -> CallRecord:  # pragma: no cover - protocol
        """Place ``spec`` and block until the call has ended; never raises for a failed call."""
        ...
