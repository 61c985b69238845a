"""Lab hold music cut straight into a greeting (no pause), through G.711 µ-law: boundary errors.

    python -m harness.bench cuts [--media-dir build/media] [-v]

For each of 3 hold-music tracks x 3 slice starts (0, 20, 40 s) x 2 lengths (6, 15 s) x 3
greetings of the lab media (``harness media``): 0.5 s of silence, the music slice, the
greeting. Truth: the music ends where the slice ends (b); speech starts at b + the greeting
file's own leading silence, measured on the clean file with the labelled set's activity rule
(frames above max(peak-35, -55) dBFS). Prints the cuts over 150 ms and median / p95 / max of
the absolute errors of speech start and music end. The cut the campaign's 150 ms target is
about, on the media the lab really plays.

    python -m harness.bench cuts --dropouts [--media-dir build/media]

Dropouts instead: the first 15 s of each hold-music track with a 0.06 or 0.1 s stretch of
digital silence (a lost packet) every 0.25 s from 2 s to 13.75 s, through µ-law and A-law;
prints each case where any speech is found and their count.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from harness.analysis import analyze_samples
from harness.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from harness.bench.synth import activity
from harness.errors import BadInput

TRACKS = ("moh_1", "moh_3", "moh_2")
GREETINGS = ("greeting_zh", "greeting_en", "agent_en")


def lead_s(x: np.ndarray) -> float:
    """Seconds before the first active frame of a clean int16 clip."""
    idx = np.flatnonzero(activity(x.astype(np.float32) / 32768))
    return float(idx[0]) / 8000 if len(idx) else 0.0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``python -m harness.bench cuts``."""
    ap.add_argument("--media-dir", type=Path, default=Path("build/media"))
    ap.add_argument("-v", "--verbose", action="store_true", help="print every cut, not only those over 150 ms")
    ap.add_argument("--dropouts", action="store_true", help="hold music with short dropouts instead of cuts")


def run(args: argparse.Namespace) -> int:
    """Run every cut (or every dropout) and print the errors; returns the exit code."""

    def load(name: str) -> np.ndarray:
        x, sr = sf.read(args.media_dir / f"{name}.wav", dtype="int16")
        if sr != 8000:
            raise BadInput(f"{name}.wav is {sr} Hz, expected 8000 (run `harness media`)")
        return x

    if not (args.media_dir / "MEDIA.json").exists():
        raise BadInput(f"{args.media_dir}: lab media missing (prepare them with `harness media`)")
    if args.dropouts:
        dropouts(load)
        return 0
    errs = []
    for gr in GREETINGS:
        print(f"{gr}: leading silence {lead_s(load(gr)):.3f} s")
    for moh in TRACKS:
        for gr in GREETINGS:
            g = load(gr)
            lead = lead_s(g)
            for start in (0.0, 20.0, 40.0):
                for length in (6.0, 15.0):
                    m = load(moh)[int(start * 8000):int((start + length) * 8000)]
                    x = ulaw_decode(ulaw_encode(np.concatenate([np.zeros(4000, np.int16), m, g])))
                    segs = analyze_samples(x, 8000)
                    b = 0.5 + length
                    sp = [s for s in segs if s.label.value == "speech" and s.end_s > b - 3]
                    mu = [s for s in segs if s.label.value == "music" and s.start_s < b]
                    e1 = sp[0].start_s - (b + lead) if sp else None
                    e2 = mu[-1].end_s - b if mu else None
                    errs.append((e1, e2))
                    bad = e1 is None or abs(e1) > 0.15 or e2 is None or abs(e2) > 0.15
                    if bad or args.verbose:
                        print(moh, gr, start, length, "speech_start err", None if e1 is None else round(e1, 2),
                              "music_end err", None if e2 is None else round(e2, 2))
    for name, k in (("speech start", 0), ("music end", 1)):
        a = np.array([abs(v) for v in (e[k] for e in errs) if v is not None])
        miss = sum(e[k] is None for e in errs)
        print(f"{name}: n {len(a)} missed {miss} median {np.median(a):.3f} p95 {np.percentile(a, 95):.3f} "
              f"max {a.max():.3f} s; > 150 ms: {int((a > 0.15).sum())}")
    return 0


def dropouts(load: Callable[[str], np.ndarray]) -> None:
    """Print the dropout cases where any speech is found, then their count."""
    found = total = 0
    for moh in TRACKS:
        bed = load(moh)[: 15 * 8000]
        for law, encode, decode in (("ulaw", ulaw_encode, ulaw_decode), ("alaw", alaw_encode, alaw_decode)):
            for length_s in (0.06, 0.1):
                for gap_s in np.arange(2.0, 14.0, 0.25):
                    x = bed.copy()
                    x[int(gap_s * 8000): int((gap_s + length_s) * 8000)] = 0
                    speech = [(s.start_s, s.end_s) for s in analyze_samples(decode(encode(x)), 8000)
                              if s.label.value == "speech"]
                    total += 1
                    if speech:
                        found += 1
                        print(moh, law, f"dropout {length_s} s at {gap_s:.2f} s: speech {speech}")
    print(f"dropouts with speech found: {found} of {total}")

