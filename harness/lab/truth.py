"""The lab PBX's ground truth: the record it writes per call, and the check of a survey against it.

The lab writes one JSON line per call (what it really did, with UTC times, a
``TruthRecord``) through ``TruthWriter``; the harness writes one evidence row per call.
``compare`` pairs them by SIP Call-ID and returns, per call, whether the outcome agrees
and the timing errors in seconds of answer, end of music, start of speech and hang-up.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.audio.level import first_audible_s
from harness.clock import parse_utc
from harness.lab.rtp import SAMPLE_RATE_HZ
from harness.vocab import CallRecord, Outcome

log = logging.getLogger("harness.lab")

TIMINGS = ("answer", "music_end", "speech_start", "hangup")
MIN_PHASE_S = 0.025  # gaps shorter than a frame between two sources are not phases


@dataclass(frozen=True)
class TruthPhase:
    """One phase of a truth line: its kind and UTC ISO-8601 start and end."""

    kind: str
    start: str
    end: str


@dataclass(frozen=True)
class TruthRecord:
    """One call's truth line; the field names and order are the JSON keys (docs/LAB.md)."""

    sip_call_id: str
    number: str
    hotline: str | None
    branch: str | None
    started_at: str
    answered_at: str | None
    final_code: int | None
    phases: list[TruthPhase]
    hangup_by: str | None
    hangup_at: str | None
    dtmf_received: str
    note: str | None

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object of its line."""
        return asdict(self)

    def to_line(self) -> str:
        """The record as one line of the truth file, newline included."""
        return json.dumps(self.to_json()) + "\n"

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TruthRecord:
        """The record of one parsed truth line."""
        return cls(**{**obj, "phases": [TruthPhase(**p) for p in obj["phases"]]})


class TruthWriter:
    """Appends truth lines (write, flush, fsync) from its own thread, in order.

    The event loop also runs the 20 ms media clock: an fsync there (over 200 ms on a busy
    disk) was a hole in every call's RTP, which the caller's jitter buffer turned into
    concealment and a lasting delay of what followed.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by the writer thread
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="lab-truth", daemon=True)
        self._thread.start()

    def write(self, record: TruthRecord) -> None:
        """Queue one call's line; it reaches the disk in the order written."""
        self._lines.put(record.to_line())

    def _run(self) -> None:
        done = False
        while not done:
            batch = [self._lines.get()]
            while True:  # whatever else is already queued goes in the same fsync
                try:
                    batch.append(self._lines.get_nowait())
                except queue.Empty:
                    break
            done = None in batch
            text = "".join(line for line in batch if line is not None)
            if text:
                try:
                    self._file.write(text)
                    self._file.flush()
                    os.fsync(self._file.fileno())
                except OSError:
                    log.exception("lab: cannot write the truth file")
        self._file.close()

    def close(self) -> None:
        """Write what is queued, then close the file."""
        self._lines.put(None)
        self._thread.join()


def lead_s(pcm: np.ndarray) -> float:
    """Seconds of leading silence in 8 kHz int16 audio: before its first audible frame.

    "Audible" is ``harness.audio.level``'s, the analyzer's own definition, so the lab's truth
    and the harness measure where a voice starts the same way.
    """
    return first_audible_s(pcm, SAMPLE_RATE_HZ) or 0.0


def analyzed_music_ends_s(wav: Path) -> list[float]:
    """Where the product's analyzer says each music segment of a recording ends (s from its start).

    The one place the lab's checks use the analyzer: the end of music has no other measure here.
    """
    from harness.analysis import analyze_file

    return [s.end_s for s in analyze_file(wav).segments if s.label == "music"]


def read_truth(path: Path) -> dict[str, dict]:
    """The lab's truth lines by SIP Call-ID (a last line still being written is left out)."""
    out = {}
    text = path.read_text(encoding="utf-8")
    for line in text[: text.rfind("\n") + 1].splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["sip_call_id"]] = row
    return out


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
