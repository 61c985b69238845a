"""The harness checked against the lab's ground truth: each call's outcome and phase times.

Tooling, not product: it runs the product's analyzer on the recordings (the lab itself never
does, so the fake PBX does not depend on the thing it checks). ``python -m harness.bench survey``
and the survey test use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.clock import parse_utc
from harness.vocab import CallRecord, Outcome

TIMINGS = ("answer", "music_end", "speech_start", "hangup")


def analyzed_music_ends_s(wav: Path) -> list[float]:
    """Where the product's analyzer says each music segment of a recording ends (s from its start).

    The one place the lab's checks use the analyzer: the end of music has no other measure here.
    """
    from harness.analysis import analyze_file

    return [s.end_s for s in analyze_file(wav).segments if s.label == "music"]


def expected_outcome(truth: dict) -> str:
    """What the lab did, in the harness's outcome vocabulary (docs/CLASSIFICATION.md)."""
    kinds = {p["kind"] for p in truth["phases"]}
    if truth["answered_at"] is None:
        if truth["final_code"] in (486, 600):
            return Outcome.BUSY.value
        if truth["final_code"] in (487, 408, 480):
            return Outcome.NO_ANSWER.value
        return Outcome.REJECTED.value
    if truth["hangup_by"] == "lab":
        return Outcome.GENTLE_DISCONNECT.value if kinds & {"music", "speech"} else Outcome.DROPPED_SILENT.value
    return Outcome.AGENT_REACHED.value if "agent" in kinds else Outcome.GAVE_UP_ON_HOLD.value


@dataclass
class CallCheck:
    """One call: our outcome vs the lab's, and timing errors (ours minus truth, seconds)."""

    hotline_id: str
    outcome: str
    expected: str
    errors_s: dict[str, float] = field(default_factory=dict)

    @property
    def agrees(self) -> bool:
        return self.outcome == self.expected


def compare(rows: list[dict[str, str]], truth: dict[str, dict], evidence_dir: Path) -> list[CallCheck]:
    """Pair evidence rows with truth lines; rows without a truth line raise KeyError."""
    checks = []
    for row in rows:
        t = truth[row["sip_call_id"]]
        c = CallCheck(row["hotline_id"], row["outcome"], expected_outcome(t))
        invite = parse_utc(row["started_at"])
        if t["answered_at"] and row["answer_s"]:
            c.errors_s["answer"] = invite + float(row["answer_s"]) - parse_utc(t["answered_at"])
        if row["duration_s"]:
            c.errors_s["hangup"] = invite + float(row["duration_s"]) - parse_utc(t["hangup_at"])
        speech = [p for p in t["phases"] if p["kind"] in ("speech", "agent")]
        if t["answered_at"] and speech and row["first_speech_s"]:
            ours = invite + float(row["answer_s"]) + float(row["first_speech_s"])
            c.errors_s["speech_start"] = ours - parse_utc(speech[0]["start"])
        music = [p for p in t["phases"] if p["kind"] == "music"]
        if music and row["recording"]:
            wav = (evidence_dir / row["recording"]).resolve()
            record = CallRecord.model_validate_json(wav.with_name(wav.stem + ".events.json").read_text())
            ends = analyzed_music_ends_s(wav)
            if not ends or record.media_start_s is None:
                c.errors_s["music_end"] = float("inf")  # music the analysis did not find at all
            else:
                c.errors_s["music_end"] = invite + record.media_start_s + max(ends) - parse_utc(music[-1]["end"])
        checks.append(c)
    return checks


def summary(checks: list[CallCheck]) -> dict[str, dict[str, float]]:
    """Per timing: n, median, p95 and max of the absolute error in milliseconds."""
    out = {}
    for what in TIMINGS:
        e = np.abs([c.errors_s[what] for c in checks if what in c.errors_s]) * 1000
        if len(e):
            out[what] = {"n": len(e), "median_ms": float(np.median(e)), "p95_ms": float(np.percentile(e, 95)),
                         "max_ms": float(e.max())}
    return out
