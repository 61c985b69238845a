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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.audio.level import first_audible_s
from harness.lab.rtp import SAMPLE_RATE_HZ

log = logging.getLogger("harness.lab")

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


def read_truth(path: Path) -> dict[str, dict]:
    """The lab's truth lines by SIP Call-ID (a last line still being written is left out)."""
    out = {}
    text = path.read_text(encoding="utf-8")
    for line in text[: text.rfind("\n") + 1].splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["sip_call_id"]] = row
    return out
