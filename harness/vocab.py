"""The harness's shared vocabulary: each type that crosses a layer, defined once.

- ``Label`` and ``Segment``: what the caller heard, as the analysis returns it.
- ``Outcome``: what happened to a call attempt, as classification judges it.
- ``CallSpec``, ``CallEvent``, ``CallRecord``, ``DisconnectBy``: what the SIP seam is asked
  to place and the signalling timeline it returns (``<call_uid>.events.json``).

The string values of the enums and the field names of the records are a contract: they go
into JSON, the evidence CSV and the report unchanged. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from pydantic import BaseModel, Field


class Label(str, Enum):
    """What the caller heard during a segment (values are a contract: they go into JSON/CSV)."""

    SILENCE = "silence"
    MUSIC = "music"
    SPEECH = "speech"
    RINGBACK = "ringback"
    BUSY_TONE = "busy_tone"
    SIT = "sit"
    DTMF = "dtmf"
    TONE = "tone"


#: the labels that are call-progress or signalling tones, in ``Label`` order
TONE_LABELS: tuple[Label, ...] = (Label.RINGBACK, Label.BUSY_TONE, Label.SIT, Label.DTMF, Label.TONE)


@dataclass(frozen=True)
class Segment:
    """One labelled stretch of the recording, in seconds from its start."""

    start_s: float
    end_s: float
    label: Label

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class Outcome(str, Enum):
    """What happened to a call attempt (values are a contract: they go into the CSV unchanged)."""

    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    ERROR = "error"
    GENTLE_DISCONNECT = "gentle_disconnect"
    DROPPED_SILENT = "dropped_silent"
    GAVE_UP_ON_HOLD = "gave_up_on_hold"
    AGENT_REACHED = "agent_reached"


#: the published survey's share of callers who redial after their 1st, 2nd, 3rd drop: a campaign's
#: ``loss_model.redial_propensity`` when it declares none, and the report's when given no campaign
DEFAULT_REDIAL_PROPENSITY: tuple[float, ...] = (0.82, 0.54, 0.02)


class DisconnectBy(str, Enum):
    """Who ended the call: the far end, us, or nobody (never connected)."""

    REMOTE = "remote"
    LOCAL = "local"
    NONE = "none"


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
