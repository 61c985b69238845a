"""Scoring labels against the truth: frame confusion, tone hits and onsets, boundary errors.

Pure functions over segment lists, so that the metric itself is tested (a 1 s shift
must fail it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.vocab import TONE_LABELS, Label, Segment

LABELS = list(Label)
# boundary event -> (label of the predicted segment, which edge)
EVENT_EDGES = {
    "music_start": (Label.MUSIC, "start"), "music_end": (Label.MUSIC, "end"),
    "greeting_start": (Label.SPEECH, "start"), "greeting_end": (Label.SPEECH, "end"),
    "agent_start": (Label.SPEECH, "start"), "dead_start": (Label.SILENCE, "start"),
    # hold music cut straight into speech and back (no pause): the same instants as a
    # music_end/greeting_start pair, reported apart because they are the hard case
    "music_to_speech": (Label.SPEECH, "start"), "speech_to_music": (Label.MUSIC, "start"),
}
MISS_S = 5.0  # a boundary with no predicted edge within this is counted as this error


def frame_codes(segments: Sequence[Segment], n_frames: int, frame_s: float = 0.02) -> np.ndarray:
    """Label index of each frame, by the segment that holds the frame's centre."""
    t = (np.arange(n_frames) + 0.5) * frame_s
    out = np.zeros(n_frames, np.int8)
    starts = np.array([s.start_s for s in segments])
    codes = np.array([LABELS.index(Label(s.label)) for s in segments], np.int8)
    idx = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(segments) - 1)
    out[:] = codes[idx]
    return out


def confusion(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """8x8 counts, rows truth, columns prediction (Label order)."""
    k = len(LABELS)
    return np.bincount(truth.astype(int) * k + pred.astype(int), minlength=k * k).reshape(k, k)


@dataclass
class ToneScore:
    found: int = 0
    total: int = 0
    onset_errors_s: list[float] = field(default_factory=list)


def tone_hits(truth: Sequence[Segment], pred: Sequence[Segment], score: ToneScore) -> None:
    """A true tone segment is found when a predicted segment of the same label overlaps half of
    it; its onset error is the distance to the nearest such predicted start."""
    for t in truth:
        if t.label not in TONE_LABELS:
            continue
        score.total += 1
        same = [p for p in pred if p.label == t.label and p.end_s > t.start_s and p.start_s < t.end_s]
        overlap = sum(min(p.end_s, t.end_s) - max(p.start_s, t.start_s) for p in same)
        if overlap >= 0.5 * (t.end_s - t.start_s):
            score.found += 1
            score.onset_errors_s.append(min(abs(p.start_s - t.start_s) for p in same))


def boundary_errors(events: dict[str, list[float]], pred: Sequence[Segment]) -> dict[str, list[float]]:
    """Per event kind, |nearest predicted edge of the matching label - true time| (capped at MISS_S)."""
    out: dict[str, list[float]] = {}
    for kind, times in events.items():
        if kind not in EVENT_EDGES:
            continue
        label, edge = EVENT_EDGES[kind]
        edges = np.array([p.start_s if edge == "start" else p.end_s for p in pred if p.label == label])
        for t in times:
            err = float(np.min(np.abs(edges - t))) if len(edges) else MISS_S
            out.setdefault(kind, []).append(min(err, MISS_S))
    return out


def shift(segments: Sequence[Segment], by_s: float) -> list[Segment]:
    """The same labels moved later by ``by_s`` (the first label stretched to 0): for testing the metric."""
    out = [Segment(max(0.0, s.start_s + by_s), s.end_s + by_s, s.label) for s in segments]
    out[0] = Segment(0.0, out[0].end_s, out[0].label)
    return out
