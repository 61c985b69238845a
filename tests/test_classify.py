"""Call classification: every rule of docs/CLASSIFICATION.md and its boundaries, on hand-built calls.

Times: CallRecord in seconds since the INVITE, segments in seconds of the recording
(which starts at media_start_s). Boundaries are probed 0.01 s either side.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.campaign import CallRules, classify
from harness.campaign.classify import speech_runs
from harness.vocab import CallEvent, CallRecord, DisconnectBy, Label, Outcome, Segment

RULES = CallRules()
EPS = 0.01
ANSWER = 2.0  # every answered call below is answered 2 s after the INVITE, media from the answer


@dataclass(frozen=True)
class Seg:
    """A SegmentLike with a plain string label."""

    start_s: float
    end_s: float
    label: str


def answered(ended_s: float, by: DisconnectBy, media_start_s: float = ANSWER) -> CallRecord:
    return CallRecord(call_uid="u", target="sip:1@h", answered_s=ANSWER, media_start_s=media_start_s,
                      ended_s=ended_s, final_status=200, disconnect_by=by)


def unanswered(status: int | None, ended_s: float = 5.0, media_start_s: float | None = None,
               by: DisconnectBy = DisconnectBy.NONE, cancelled: bool = False,
               error: str | None = None) -> CallRecord:
    events = [CallEvent(t_s=ended_s - 0.1, type="cancel_sent")] if cancelled else []
    return CallRecord(call_uid="u", target="sip:1@h", media_start_s=media_start_s, ended_s=ended_s,
                      final_status=status, disconnect_by=by, events=events, error=error)


def tiled(*parts: tuple[str, float]) -> list[Seg]:
    """Consecutive segments from (label, duration) pairs, starting at recording time 0."""
    out, t = [], 0.0
    for label, d in parts:
        out.append(Seg(t, t + d, label))
        t += d
    return out


def call_after(*parts: tuple[str, float], by: DisconnectBy = DisconnectBy.REMOTE,
               rules: CallRules = RULES) -> tuple[Outcome, str]:
    """Classify an answered call whose recording is ``parts`` and which ends when they end."""
    segs = tiled(*parts)
    c = classify(answered(ANSWER + segs[-1].end_s, by), segs, rules)
    return c.outcome, c.reason


# ---- unanswered calls -------------------------------------------------------------------------------

@pytest.mark.parametrize(("record", "segments", "outcome"), [
    (unanswered(486), [], Outcome.BUSY),
    (unanswered(600), [], Outcome.BUSY),
    (unanswered(487, media_start_s=0.5, cancelled=True), [Seg(0, 2, "busy_tone")], Outcome.BUSY),
    (unanswered(404, media_start_s=0.5), [Seg(0, 1, "busy_tone")], Outcome.BUSY),
    (unanswered(487, ended_s=30.0, cancelled=True), [], Outcome.NO_ANSWER),
    (unanswered(487, ended_s=30.0, by=DisconnectBy.LOCAL), [], Outcome.NO_ANSWER),
    (unanswered(487, media_start_s=0.5, cancelled=True), [Seg(0, 4, "ringback")], Outcome.NO_ANSWER),
    (unanswered(408, ended_s=32.0), [], Outcome.NO_ANSWER),
    (unanswered(480), [], Outcome.NO_ANSWER),
    (unanswered(404), [], Outcome.REJECTED),
    (unanswered(403), [], Outcome.REJECTED),
    (unanswered(503), [], Outcome.REJECTED),
    (unanswered(603), [], Outcome.REJECTED),
    (unanswered(487), [], Outcome.REJECTED),  # 487 without our CANCEL is not our ring timeout
    (unanswered(404, media_start_s=0.5), [Seg(0, 3, "sit")], Outcome.REJECTED),
    (unanswered(None), [], Outcome.ERROR),
    (unanswered(None, error="transport failure: 503 from proxy"), [], Outcome.ERROR),
    (unanswered(486, error="auth failed"), [], Outcome.ERROR),
    (unanswered(200), [], Outcome.ERROR),
])
def test_unanswered(record: CallRecord, segments: list[Seg], outcome: Outcome) -> None:
    c = classify(record, segments, RULES)
    assert c.outcome == outcome, c.reason
    assert c.answer_s is None and c.billed_s is None and c.agent_start_s is None
    assert c.music_s == c.speech_s == c.silence_s == c.tone_s == 0.0


def test_unanswered_figures() -> None:
    rec = unanswered(487, ended_s=30.0, media_start_s=1.5, cancelled=True)
    c = classify(rec, [Seg(0, 10, "music"), Seg(10, 28.5, "ringback")], RULES)
    assert (c.outcome, c.ring_s, c.duration_s, c.early_media_s, c.first_speech_s) == \
        (Outcome.NO_ANSWER, 30.0, 30.0, pytest.approx(28.5), None)


def test_error_even_when_answered() -> None:
    rec = answered(10.0, DisconnectBy.REMOTE).model_copy(update={"error": "worker died"})
    assert classify(rec, [], RULES).outcome == Outcome.ERROR


def test_answered_without_an_end_is_an_error() -> None:
    rec = answered(10.0, DisconnectBy.NONE)
    assert classify(rec, tiled(("speech", 8.0)), RULES).outcome == Outcome.ERROR


# ---- answered calls: drops ---------------------------------------------------------------------------

def test_gentle_disconnect_music_greeting_hangup() -> None:
    outcome, reason = call_after(("music", 20.0), ("speech", 3.0), ("silence", 0.5))
    assert outcome == Outcome.GENTLE_DISCONNECT and "far end hung up" in reason


def test_gentle_disconnect_music_only() -> None:
    assert call_after(("music", 30.0))[0] == Outcome.GENTLE_DISCONNECT


def test_dropped_silent() -> None:
    assert call_after(("silence", 1.5))[0] == Outcome.DROPPED_SILENT


def test_tones_after_the_answer_are_not_service() -> None:
    assert call_after(("silence", 1.0), ("busy_tone", 3.0), ("sit", 1.0))[0] == Outcome.DROPPED_SILENT


@pytest.mark.parametrize(("heard_s", "outcome"), [
    (RULES.heard_min_s - EPS, Outcome.DROPPED_SILENT),
    (RULES.heard_min_s, Outcome.GENTLE_DISCONNECT),
    (RULES.heard_min_s + EPS, Outcome.GENTLE_DISCONNECT),
])
def test_heard_min_boundary(heard_s: float, outcome: Outcome) -> None:
    assert call_after(("silence", 1.0), ("speech", heard_s), ("silence", 1.0))[0] == outcome


def test_early_media_music_does_not_make_a_drop_gentle() -> None:
    rec = answered(12.0, DisconnectBy.REMOTE, media_start_s=0.5)
    segs = [Seg(0, 1.5, "music"), Seg(1.5, 11.5, "silence")]  # music before the answer at 2.0 s only
    c = classify(rec, segs, RULES)
    assert (c.outcome, c.early_media_s, c.music_s, c.silence_s) == \
        (Outcome.DROPPED_SILENT, pytest.approx(1.5), 0.0, pytest.approx(10.0))


# ---- answered calls: we hung up ----------------------------------------------------------------------

def test_gave_up_on_hold_music() -> None:
    outcome, reason = call_after(("music", 120.0), by=DisconnectBy.LOCAL)
    assert outcome == Outcome.GAVE_UP_ON_HOLD and "we hung up" in reason


def test_gave_up_on_a_dead_line() -> None:
    assert call_after(("silence", 120.0), by=DisconnectBy.LOCAL)[0] == Outcome.GAVE_UP_ON_HOLD


def test_ivr_loop_is_not_an_agent() -> None:
    parts = [("speech", 6.0), ("silence", 3.0)] * 13
    outcome, reason = call_after(*parts, by=DisconnectBy.LOCAL)
    assert outcome == Outcome.GAVE_UP_ON_HOLD and "prompt heard 13 times" in reason


@pytest.mark.parametrize(("times", "outcome"), [
    (RULES.prompt_repeat_min - 1, Outcome.AGENT_REACHED),
    (RULES.prompt_repeat_min, Outcome.GAVE_UP_ON_HOLD),
])
def test_prompt_repeat_boundary(times: int, outcome: Outcome) -> None:
    parts = [("speech", 6.0), ("silence", 3.0)] * times + [("silence", 20.0)]
    assert call_after(*parts, by=DisconnectBy.LOCAL)[0] == outcome


@pytest.mark.parametrize(("second_s", "outcome"), [
    (6.0 + RULES.prompt_repeat_tol_s - EPS, Outcome.GAVE_UP_ON_HOLD),
    (6.0 + RULES.prompt_repeat_tol_s + EPS, Outcome.AGENT_REACHED),
])
def test_prompt_repeat_tolerance(second_s: float, outcome: Outcome) -> None:
    parts = [("speech", 6.0), ("silence", 3.0), ("speech", second_s), ("silence", 3.0), ("speech", 6.0),
             ("silence", 20.0)]
    assert call_after(*parts, by=DisconnectBy.LOCAL)[0] == outcome


@pytest.mark.parametrize(("last_s", "outcome"), [
    (4.3, Outcome.GAVE_UP_ON_HOLD),  # our hang-up cut a further hearing of the 6 s prompt
    (6.0 + RULES.prompt_repeat_tol_s + EPS, Outcome.AGENT_REACHED),  # longer than the prompt: a person
])
def test_prompt_cut_by_our_hangup(last_s: float, outcome: Outcome) -> None:
    parts = [("speech", 6.0), ("silence", 3.0)] * RULES.prompt_repeat_min + [("speech", last_s)]
    rules = RULES.model_copy(update={"agent_confirm_s": 4.0})
    assert call_after(*parts, by=DisconnectBy.LOCAL, rules=rules)[0] == outcome


def test_speech_cut_by_our_hangup_without_a_prompt_is_an_agent() -> None:
    rules = RULES.model_copy(update={"agent_confirm_s": 4.0})
    assert call_after(("music", 20.0), ("speech", 4.3), by=DisconnectBy.LOCAL, rules=rules)[0] == \
        Outcome.AGENT_REACHED


# ---- the agent -------------------------------------------------------------------------------------

def test_agent_after_hold() -> None:
    segs = tiled(("music", 18.0), ("speech", 5.0), ("silence", 4.0), ("speech", 2.0), ("silence", 30.0))
    c = classify(answered(ANSWER + segs[-1].end_s, DisconnectBy.LOCAL), segs, RULES)
    assert (c.outcome, c.agent_start_s, c.first_speech_s) == (Outcome.AGENT_REACHED, ANSWER + 18.0, 18.0)
    assert (c.music_s, c.speech_s, c.silence_s, c.billed_s) == (18.0, 7.0, 34.0, 59.0)


def test_agent_reached_even_if_the_agent_hangs_up() -> None:
    outcome, _ = call_after(("speech", 5.0), ("silence", 10.0))  # "hello? ... hello?" then the agent's BYE
    assert outcome == Outcome.AGENT_REACHED


def test_agent_with_early_media_colour_ring() -> None:
    rec = answered(40.0, DisconnectBy.LOCAL, media_start_s=0.0)
    segs = [Seg(0, ANSWER, "music"), Seg(ANSWER, ANSWER + 6.0, "speech"), Seg(ANSWER + 6.0, 40.0, "silence")]
    c = classify(rec, segs, RULES)
    assert (c.outcome, c.agent_start_s, c.early_media_s, c.music_s) == (Outcome.AGENT_REACHED, 2.0, 2.0, 0.0)


def test_queue_announcement_followed_by_music_is_not_an_agent() -> None:
    parts = [("speech", 3.0), ("music", 15.0), ("speech", 6.0), ("music", 15.0), ("speech", 4.0),
             ("silence", 1.0)]
    outcome, reason = call_after(*parts)
    assert outcome == Outcome.GENTLE_DISCONNECT and "no agent" in reason


def test_greeting_then_agent_after_the_hold() -> None:
    parts = [("speech", 3.0), ("music", 15.0), ("speech", 8.0), ("silence", 12.0)]
    assert call_after(*parts)[0] == Outcome.AGENT_REACHED


def test_speech_over_music_then_silence_then_hangup_is_a_greeting() -> None:
    # 8 s greeting then the far end hangs up at once: long enough, line up 8.5 s < agent_confirm_s
    assert call_after(("music", 20.0), ("speech", 8.0), ("silence", 0.5))[0] == Outcome.GENTLE_DISCONNECT


@pytest.mark.parametrize(("speech_s", "outcome"), [
    (RULES.agent_min_speech_s - EPS, Outcome.GENTLE_DISCONNECT),
    (RULES.agent_min_speech_s, Outcome.AGENT_REACHED),
    (RULES.agent_min_speech_s + EPS, Outcome.AGENT_REACHED),
])
def test_agent_min_speech_boundary(speech_s: float, outcome: Outcome) -> None:
    assert call_after(("music", 10.0), ("speech", speech_s), ("silence", 20.0))[0] == outcome


@pytest.mark.parametrize(("gap_s", "outcome"), [
    (RULES.agent_join_gap_s - EPS, Outcome.AGENT_REACHED),  # 2.5 + 2.5 s joined: one 5 s run
    (RULES.agent_join_gap_s, Outcome.GENTLE_DISCONNECT),  # two 2.5 s runs, neither long enough
])
def test_join_gap_boundary(gap_s: float, outcome: Outcome) -> None:
    parts = [("music", 10.0), ("speech", 2.5), ("silence", gap_s), ("speech", 2.5), ("silence", 20.0)]
    assert call_after(*parts)[0] == outcome


@pytest.mark.parametrize(("up_s", "outcome"), [
    (RULES.agent_confirm_s - EPS, Outcome.GENTLE_DISCONNECT),
    (RULES.agent_confirm_s, Outcome.AGENT_REACHED),
])
def test_agent_confirm_boundary(up_s: float, outcome: Outcome) -> None:
    # 5 s of speech, then silence until the far end hangs up up_s after the speech began
    assert call_after(("music", 10.0), ("speech", 5.0), ("silence", up_s - 5.0))[0] == outcome


@pytest.mark.parametrize(("up_s", "outcome"), [
    (RULES.agent_confirm_s - EPS, Outcome.GAVE_UP_ON_HOLD),
    (RULES.agent_confirm_s, Outcome.AGENT_REACHED),
])
def test_agent_confirm_boundary_when_we_hang_up(up_s: float, outcome: Outcome) -> None:
    parts = [("music", 10.0), ("speech", 5.0), ("silence", up_s - 5.0)]
    assert call_after(*parts, by=DisconnectBy.LOCAL)[0] == outcome


@pytest.mark.parametrize(("release_s", "outcome"), [
    (RULES.agent_release_gap_s - EPS, Outcome.GENTLE_DISCONNECT),
    (RULES.agent_release_gap_s, Outcome.AGENT_REACHED),
])
def test_release_gap_boundary(release_s: float, outcome: Outcome) -> None:
    # a 12 s message: the line is up long enough; what decides is how soon the far end hangs up after it
    outcome_got, reason = call_after(("music", 10.0), ("speech", 12.0), ("silence", release_s))
    assert outcome_got == outcome, reason


def test_release_gap_does_not_apply_when_we_hang_up() -> None:
    assert call_after(("music", 10.0), ("speech", 12.0), by=DisconnectBy.LOCAL)[0] == Outcome.AGENT_REACHED


def test_agent_start_is_the_first_qualifying_run() -> None:
    segs = tiled(("speech", 4.5), ("silence", 0.5), ("music", 10.0), ("speech", 5.0), ("silence", 3.0),
                 ("speech", 6.0), ("silence", 20.0))
    c = classify(answered(ANSWER + segs[-1].end_s, DisconnectBy.REMOTE), segs, RULES)
    assert c.outcome == Outcome.AGENT_REACHED and c.agent_start_s == ANSWER + 15.0


# ---- figures and inputs -----------------------------------------------------------------------------

def test_figures_with_analysis_segments_and_clipping() -> None:
    rec = answered(12.0, DisconnectBy.REMOTE, media_start_s=1.0)
    segs = [Segment(0.0, 1.5, Label.RINGBACK), Segment(1.5, 3.0, Label.SPEECH),
            Segment(3.0, 8.0, Label.MUSIC),
            Segment(8.0, 9.0, Label.DTMF), Segment(9.0, 11.5, Label.SILENCE)]
    c = classify(rec, segs, RULES)
    # answer at 2.0 s INVITE time = 1.0 s recording time: 1.0 s of ringback before it, 0.5 s after
    assert c.outcome == Outcome.GENTLE_DISCONNECT
    assert c.ring_s == 2.0 and c.answer_s == 2.0 and c.duration_s == 12.0 and c.billed_s == 10.0
    assert c.early_media_s == pytest.approx(1.0)
    # the silence is clipped at the end of the call (12 s)
    assert (c.speech_s, c.music_s, c.tone_s, c.silence_s) == (1.5, 5.0, 1.5, 2.0)
    assert c.first_speech_s == 0.5


def test_unknown_label_refused() -> None:
    with pytest.raises(ValueError, match="unknown segment label 'voice'"):
        classify(answered(10.0, DisconnectBy.REMOTE), [Seg(0, 1, "voice")], RULES)


def test_speech_runs() -> None:
    spans = tiled(("speech", 1.0), ("silence", 1.0), ("speech", 1.0), ("music", 2.0), ("speech", 1.0))
    assert speech_runs(list(spans), 1.5) == [(0.0, 3.0), (5.0, 6.0)]  # type: ignore[arg-type]


def test_rules_consistency() -> None:
    with pytest.raises(ValueError, match="max_hold_s"):
        CallRules(max_hold_s=400, max_call_s=300)
    with pytest.raises(ValueError, match="ring_timeout_s"):
        CallRules(ring_timeout_s=300, max_call_s=300)
