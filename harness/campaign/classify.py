"""One call's outcome and phase figures from its signalling timeline and its recording's segments.

Pure: takes a ``CallRecord`` and the labelled segments of the recording, returns a
``Classification``. The rules, their precedence and the agent definition are documented
in ``docs/CLASSIFICATION.md``; keep the two in step.

Time bases: ``CallRecord`` times are seconds since the INVITE; segment times are seconds
in the recording, which starts at ``record.media_start_s``. Everything here is converted
to INVITE time first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from pydantic import Field, model_validator

from harness.schema import StrictModel
from harness.vocab import TONE_LABELS, CallRecord, DisconnectBy, Label, Outcome

BUSY_CODES = frozenset({486, 600})
NO_ANSWER_CODES = frozenset({408, 480})
REQUEST_TERMINATED = 487  # the answer to our CANCEL at the ring timeout
_TONES = frozenset(TONE_LABELS)

CUT_BY_HANGUP_S = 0.3  # a speech run ending this close to our hang-up was cut by it


class CallRules(StrictModel):
    """How a call is placed and judged (the ``call:`` section of a campaign); all times in seconds."""

    ring_timeout_s: float = Field(default=30.0, gt=0, le=600, description="CANCEL when not answered by then")
    max_hold_s: float = Field(default=120.0, gt=0, le=7200,
                              description="the shopper hangs up when no agent has spoken by then "
                                          "(after the answer)")
    max_call_s: float = Field(default=300.0, gt=0, le=7200, description="BYE this long after the INVITE")
    agent_min_speech_s: float = Field(default=4.0, gt=0, le=60,
                                      description="a speech run at least this long can be an agent")
    agent_join_gap_s: float = Field(default=1.5, ge=0, le=10,
                                    description="speech segments closer than this form one run")
    agent_confirm_s: float = Field(default=10.0, ge=0, le=600,
                                   description="the line must stay up this long after the agent run starts")
    agent_release_gap_s: float = Field(default=2.0, ge=0, le=60,
                                       description="a far-end hang-up sooner than this after the run ends "
                                                   "makes it a recorded greeting, not an agent")
    prompt_repeat_tol_s: float = Field(default=0.25, ge=0, le=5,
                                       description="runs whose lengths agree this closely are one prompt")
    prompt_repeat_min: int = Field(default=3, ge=2, le=100,
                                   description="a run heard this many times is a recorded prompt")
    heard_min_s: float = Field(default=0.5, ge=0, le=60,
                               description="music + speech needed after the answer to call a drop gentle")
    dtmf: str | None = Field(default=None, pattern=r"^[0-9*#A-Da-d]+$", description="RFC 2833 digits to send")
    dtmf_after_s: float = Field(default=1.0, ge=0, le=600, description="seconds after the answer")

    @model_validator(mode="after")
    def _consistent(self) -> CallRules:
        if self.ring_timeout_s >= self.max_call_s:
            raise ValueError(f"ring_timeout_s ({self.ring_timeout_s:g}) must be shorter than "
                             f"max_call_s ({self.max_call_s:g})")
        if self.max_hold_s > self.max_call_s:
            raise ValueError(f"max_hold_s ({self.max_hold_s:g}) must not exceed "
                             f"max_call_s ({self.max_call_s:g})")
        return self


class SegmentLike(Protocol):
    """A labelled stretch of the recording (``harness.vocab.Segment`` fits)."""

    @property
    def start_s(self) -> float: ...  # pragma: no cover - protocol

    @property
    def end_s(self) -> float: ...  # pragma: no cover - protocol

    @property
    def label(self) -> object: ...  # pragma: no cover - protocol  (str or str-enum)


@dataclass(frozen=True)
class Classification:
    """The outcome of one call and its phase figures, in seconds (None = does not apply)."""

    outcome: Outcome
    reason: str  # which rule fired, in a few words
    ring_s: float | None  # INVITE -> answer, or -> end when unanswered
    answer_s: float | None  # INVITE -> 200 OK
    early_media_s: float  # recorded audio before the answer (or before the end when unanswered)
    music_s: float  # after the answer ...
    speech_s: float
    silence_s: float
    tone_s: float  # ringback, busy_tone, sit, dtmf, tone
    first_speech_s: float | None  # answer -> first speech segment
    agent_start_s: float | None  # INVITE -> start of the speech run counted as the agent
    billed_s: float | None  # answer -> end
    duration_s: float | None  # INVITE -> end


@dataclass(frozen=True)
class _Span:
    start_s: float  # INVITE time
    end_s: float
    label: Label

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _label(value: object) -> Label:
    """A segment's label as a ``Label``, from the enum or its string value."""
    try:
        return Label(value.value if isinstance(value, Enum) else value)
    except ValueError:
        allowed = ", ".join(sorted(lab.value for lab in Label))
        raise ValueError(f"unknown segment label {value!r} (allowed: {allowed})") from None


def _to_invite_time(record: CallRecord, segments: Sequence[SegmentLike]) -> list[_Span]:
    offset = record.media_start_s
    if offset is None:
        if segments:
            raise ValueError("segments given for a call without media_start_s")
        return []
    spans = [_Span(offset + s.start_s, offset + s.end_s, _label(s.label)) for s in segments]
    return sorted((s for s in spans if s.end_s > s.start_s), key=lambda s: s.start_s)


def _clip(spans: list[_Span], lo: float, hi: float | None) -> list[_Span]:
    out = []
    for s in spans:
        a, b = max(s.start_s, lo), s.end_s if hi is None else min(s.end_s, hi)
        if b > a:
            out.append(_Span(a, b, s.label))
    return out


def _total(spans: list[_Span], labels: frozenset[Label] | set[Label]) -> float:
    return sum(s.duration_s for s in spans if s.label in labels)


def speech_runs(spans: list[_Span], join_gap_s: float) -> list[tuple[float, float]]:
    """Speech segments joined across gaps shorter than ``join_gap_s``: [(start_s, end_s)]."""
    runs: list[list[float]] = []
    for s in spans:
        if s.label != Label.SPEECH:
            continue
        if runs and s.start_s - runs[-1][1] < join_gap_s:
            runs[-1][1] = max(runs[-1][1], s.end_s)
        else:
            runs.append([s.start_s, s.end_s])
    return [(a, b) for a, b in runs]


def _find_agent(after: list[_Span], ended_s: float, by: DisconnectBy,
                rules: CallRules) -> tuple[float | None, str]:
    """Start (INVITE time) of the first run that counts as an agent, and why the others did not."""
    runs = speech_runs(after, rules.agent_join_gap_s)
    if not runs:
        return None, "no speech after the answer"
    music_end = max((s.end_s for s in after if s.label == Label.MUSIC), default=None)
    long_runs = [r for r in runs if r[1] - r[0] >= rules.agent_min_speech_s]
    why = f"no speech run of {rules.agent_min_speech_s:g} s or more"
    lengths = [b - a for a, b in long_runs]
    prompts = [x for x in lengths
               if sum(1 for y in lengths if abs(y - x) <= rules.prompt_repeat_tol_s) >= rules.prompt_repeat_min]
    for start, end in long_runs:
        length = end - start
        if music_end is not None and start < music_end:
            why = f"speech at {start:.1f} s was followed by more music (queue announcement)"
            continue
        repeats = sum(1 for x in lengths if abs(x - length) <= rules.prompt_repeat_tol_s)
        if repeats >= rules.prompt_repeat_min:
            why = f"speech at {start:.1f} s is a prompt heard {repeats} times"
            continue
        if (by is DisconnectBy.LOCAL and ended_s - end <= CUT_BY_HANGUP_S
                and any(length <= p + rules.prompt_repeat_tol_s for p in prompts)):
            why = (f"speech at {start:.1f} s, cut by our hang-up, is one more hearing of a prompt "
                   f"heard {rules.prompt_repeat_min}+ times")
            continue
        if ended_s - start < rules.agent_confirm_s:
            why = (f"line up only {ended_s - start:.1f} s after speech at {start:.1f} s "
                   f"(< {rules.agent_confirm_s:g} s)")
            continue
        if by is DisconnectBy.REMOTE and ended_s - end < rules.agent_release_gap_s:
            why = (f"far end hung up {ended_s - end:.1f} s after speech ended at {end:.1f} s "
                   f"(< {rules.agent_release_gap_s:g} s: a greeting)")
            continue
        return start, f"agent: {length:.1f} s of speech from {start:.1f} s"
    return None, why


def classify(record: CallRecord, segments: Sequence[SegmentLike], rules: CallRules) -> Classification:
    """Outcome and phase figures of one call; the rules are those of docs/CLASSIFICATION.md.

    ``segments`` are in recording time (seconds after ``record.media_start_s``); every
    figure returned is in seconds, ``agent_start_s`` measured from the INVITE.
    """
    spans = _to_invite_time(record, segments)
    answered = record.answered_s
    ended = record.ended_s
    if ended is None and spans:
        ended = spans[-1].end_s
    by = record.disconnect_by

    end_of_ring = answered if answered is not None else ended
    early = _clip(spans, 0.0, end_of_ring) if end_of_ring is not None else list(spans)
    early_media_s = sum(s.duration_s for s in early)
    after = _clip(spans, answered, ended) if answered is not None else []
    music_s = _total(after, {Label.MUSIC})
    speech_s = _total(after, {Label.SPEECH})
    first_speech = next((s.start_s for s in after if s.label == Label.SPEECH), None)

    agent_start: float | None = None
    outcome, reason = _signalling_outcome(record, early)
    if outcome is None:
        assert answered is not None
        if ended is None or by is DisconnectBy.NONE:
            outcome, reason = Outcome.ERROR, "answered, but the end of the call was not recorded"
        else:
            agent_start, why = _find_agent(after, ended, by, rules)
            heard = music_s + speech_s
            if agent_start is not None:
                outcome, reason = Outcome.AGENT_REACHED, why
            elif by is DisconnectBy.LOCAL:
                outcome, reason = Outcome.GAVE_UP_ON_HOLD, f"we hung up with no agent ({why})"
            elif heard >= rules.heard_min_s:
                outcome, reason = (Outcome.GENTLE_DISCONNECT,
                                   (f"far end hung up after {music_s:.1f} s music, {speech_s:.1f} s speech, "
                                    f"no agent ({why})"))
            else:
                outcome, reason = (Outcome.DROPPED_SILENT,
                                   (f"far end hung up after {heard:.1f} s of music or speech "
                                    f"(< {rules.heard_min_s:g} s)"))

    return Classification(
        outcome=outcome,
        reason=reason,
        ring_s=end_of_ring,
        answer_s=answered,
        early_media_s=early_media_s,
        music_s=music_s,
        speech_s=speech_s,
        silence_s=_total(after, {Label.SILENCE}),
        tone_s=_total(after, _TONES),
        first_speech_s=None if first_speech is None or answered is None else first_speech - answered,
        agent_start_s=agent_start,
        billed_s=None if answered is None or ended is None else ended - answered,
        duration_s=ended,
    )


def _signalling_outcome(record: CallRecord, early: list[_Span]) -> tuple[Outcome | None, str]:
    """The outcome of a call that was never answered (None, "" for an answered call)."""
    status = record.final_status
    if record.error:
        return Outcome.ERROR, f"call failed: {record.error}"
    if record.answered_s is not None:
        return None, ""
    if status is None:
        return Outcome.ERROR, "no final SIP response"
    if status in BUSY_CODES:
        return Outcome.BUSY, f"final {status}"
    busy_tone_s = _total(early, {Label.BUSY_TONE})
    if busy_tone_s > 0:
        return Outcome.BUSY, f"busy tone in early media ({busy_tone_s:.1f} s), final {status}"
    cancelled = (any(e.type == "cancel_sent" for e in record.events)
                 or record.disconnect_by is DisconnectBy.LOCAL)
    if status == REQUEST_TERMINATED and cancelled:
        return Outcome.NO_ANSWER, "we cancelled at the ring timeout (487)"
    if status in NO_ANSWER_CODES:
        return Outcome.NO_ANSWER, f"final {status}"
    if status >= 300:
        return Outcome.REJECTED, f"final {status}"
    return Outcome.ERROR, f"final {status} but no answer recorded"
