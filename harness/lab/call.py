"""One call the lab is serving: its SIP dialog, its media stream, and what it has really done so far.

Shared by the SIP side (``lab.sip``), the script steps (``lab.script``) and the loop
(``lab.server``); the phases and times here become the call's truth line (``lab.truth``).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from harness.clock import utc_iso
from harness.lab import sipmsg
from harness.lab.rtp import RtpStream
from harness.lab.scenario import Hotline
from harness.lab.truth import MIN_PHASE_S, TruthPhase, TruthRecord


class CallEnded(Exception):
    """Raised inside a hotline script when the call is over."""


@dataclass
class Phase:
    """A stretch of what the caller heard, in wall-clock epoch seconds (``end_s`` None while open)."""

    kind: str
    start_s: float
    end_s: float | None = None


@dataclass
class LabCall:
    """One call the lab is serving, with what it has really done so far (the truth)."""

    call_id: str
    number: str
    invite: sipmsg.SipMessage
    addr: tuple[str, int]
    to_tag: str
    hotline: Hotline | None
    started_wall: float
    rng: random.Random
    branch: list[str] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    rtp: RtpStream | None = None
    sdp: bytes | None = None
    sent_180: bool = False
    answered_wall: float | None = None
    acked: bool = False
    final_code: int | None = None
    last_response: bytes | None = None
    hangup_by: str | None = None
    hangup_wall: float | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    local_cseq: int = 1
    note: str | None = None

    def open_phase(self, kind: str, start: float) -> None:
        """Close the current phase at ``start`` (epoch s) and open one of ``kind`` there."""
        self.close_phase(start)
        self.phases.append(Phase(kind, start))

    def lead_silence(self, lead_s: float) -> None:
        """The current phase's file opens with ``lead_s`` of silence: the truth records it as silence,
        and the phase from the first audible frame (ground truth is what the caller can hear)."""
        if lead_s <= 0 or not self.phases:
            return
        cur = self.phases[-1]
        self.phases.insert(len(self.phases) - 1, Phase("silence", cur.start_s, cur.start_s + lead_s))
        cur.start_s += lead_s

    def close_phase(self, end: float) -> None:
        """End the open phase at ``end`` (epoch s), never before it started."""
        if self.phases and self.phases[-1].end_s is None:
            self.phases[-1].end_s = max(end, self.phases[-1].start_s)

    def truth(self) -> TruthRecord:
        """The ground-truth record for this call (phases shorter than a frame are left out)."""
        return TruthRecord(
            sip_call_id=self.call_id,
            number=self.number,
            hotline=self.hotline.name if self.hotline else None,
            branch="/".join(self.branch) or None,
            started_at=utc_iso(self.started_wall),
            answered_at=utc_iso(self.answered_wall) if self.answered_wall else None,
            final_code=self.final_code,
            phases=[TruthPhase(p.kind, utc_iso(p.start_s), utc_iso(p.end_s))
                    for p in self.phases if p.end_s is not None and p.end_s - p.start_s >= MIN_PHASE_S],
            hangup_by=self.hangup_by,
            hangup_at=utc_iso(self.hangup_wall) if self.hangup_wall else None,
            dtmf_received="".join(self.rtp.dtmf) if self.rtp else "",
            note=self.note,
        )
