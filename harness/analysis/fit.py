"""Fit the music-vs-speech logistic weights (``AnalysisParams.score_weights``) on the labelled set.

    python -m harness.analysis.fit [--set build/analysis-set] [--fit-seeds 0-7] [--check-seeds 4-7]

Frames that are active (the analyzer's own activity gate) and truly speech or music, µ-law
files only; window features exactly as the segmenter computes them (centred ``window_s``
window clipped to the active region). Balanced (each class weighs half) logistic regression
by Newton's method, numpy only. Prints the weights and, on the check seeds, the frame-level
error rates before smoothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from harness.analysis.bench import _truth
from harness.analysis.evaluate import frame_codes
from harness.analysis.frames import frame_evidence, to_analysis_rate
from harness.analysis.model import DEFAULT, AnalysisParams, Label
from harness.analysis.segmenter import CODE, WindowScore, activity, window_bounds
from harness.analysis.wavfile import read_samples


def file_rows(wav: Path, params: AnalysisParams) -> tuple[np.ndarray, np.ndarray]:
    """(features x frames, 1 = speech / 0 = music) of one labelled file's active frames."""
    meta = json.loads(wav.with_suffix(".json").read_text())
    x, rate = read_samples(wav)
    ev = frame_evidence(to_analysis_rate(x, rate, params), params)
    _, sounding, active = activity(ev, params)
    lo, hi = window_bounds(active, params)
    truth = frame_codes(_truth(meta), ev.n, params.frame_s)
    keep = active & ((truth == CODE[Label.SPEECH]) | (truth == CODE[Label.MUSIC]))
    feats = WindowScore(ev, params, sounding, active).features(lo[keep], hi[keep])
    return feats, (truth[keep] == CODE[Label.SPEECH]).astype(np.float64)


def fit(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3, iters: int = 30) -> np.ndarray:
    """Balanced logistic regression weights (first row of ``x`` is the constant 1)."""
    sw = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1))
    w = np.zeros(x.shape[0])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(w @ x, -30, 30)))
        g = x @ (sw * (p - y)) + ridge * np.r_[0, w[1:]]
        h = (x * (sw * p * (1 - p))) @ x.T + ridge * np.diag(np.r_[0, np.ones(len(w) - 1)])
        w -= np.linalg.solve(h, g)
    return w


def rates(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(music frames called speech, speech frames called music) at probability 0.5."""
    z = w @ x
    return float(np.mean(z[y == 0] > 0)), float(np.mean(z[y == 1] <= 0))


def _seeds(text: str) -> set[int]:
    a, _, b = text.partition("-")
    return set(range(int(a), int(b or a) + 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", type=Path, action="append", default=None,
                    help="labelled set(s) to fit on (repeatable; default build/analysis-set)")
    ap.add_argument("--fit-seeds", default="0-7")
    ap.add_argument("--check-seeds", default="4-7")
    ap.add_argument("--check-set", type=Path, default=None,
                    help="check on all seeds of this set instead (e.g. build/analysis-heldout)")
    args = ap.parse_args()
    sets = args.set or [Path("build/analysis-set")]

    def load(paths: list[Path]) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
        parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        for d in paths:
            for wav in sorted(d.glob("*-ulaw.wav")):
                seed = int(wav.stem.split("-")[1])
                parts.setdefault(seed, []).append(file_rows(wav, DEFAULT))
        return parts

    def stack(parts: dict[int, list[tuple[np.ndarray, np.ndarray]]], seeds: set[int]) -> tuple[np.ndarray, np.ndarray]:
        rows = [r for s in sorted(seeds & parts.keys()) for r in parts[s]]
        return np.hstack([r[0] for r in rows]), np.concatenate([r[1] for r in rows])

    parts = load(sets)
    fs, cs = _seeds(args.fit_seeds), _seeds(args.check_seeds)
    x, y = stack(parts, fs)
    w = fit(x, y)
    print("weights:", "(" + ", ".join(f"{v:.3g}" for v in w) + ")")
    if args.check_set is not None:
        check = load([args.check_set])
        cx, cy = stack(check, set(check))
        where = f"{args.check_set} ({'not held out' if args.check_set in sets else 'held out'})"
    else:
        cx, cy = stack(parts, cs)
        where = f"check seeds {sorted(cs)} ({'held out' if not fs & cs else 'not held out'})"
    mu, sp = rates(w, cx, cy)
    print(f"{where}: music called speech {mu:.1%}, speech called music {sp:.1%}")
    cur = np.asarray(DEFAULT.score_weights)
    mu, sp = rates(cur, cx[:len(cur)], cy)
    print(f"current weights on the same frames: music called speech {mu:.1%}, speech called music {sp:.1%}")


if __name__ == "__main__":
    main()
