"""Train the music-vs-speech model (``harness/analysis/speech_model.json``) on real recordings.

    python -m harness.bench train [--cache build/train-cache] [--cv 5] [--write]

The corpus: every music track of the dev, held-out, unseen and train source sets (synth.py, corpus.yaml)
played whole, and every voice's prompts (and each set's espeak-ng lines) strung together with
pauses, alone and over a music bed 6-14 dB down, all through G.711 µ-law. Rows are the window
inputs of the analyzer's own active frames (``WindowScore.features``, every 4th frame); the
final set (synth ``--sources final``) is never read. ``--cv K`` first reports frame-level
errors with whole packages and voices held out (K folds); ``--write`` trains on everything
and writes the model file, printing the SHA-256 that ``AnalysisParams.speech_model_sha256``
must then name. numpy only; deterministic for a given machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from harness.analysis import speech_model
from harness.analysis.frames import frame_evidence
from harness.analysis.model import DEFAULT, AnalysisParams
from harness.analysis.segmenter import WindowScore, activity, window_bounds
from harness.bench import synth
from harness.errors import BadInput

TRAIN_SETS = ("dev", "heldout", "unseen", "train")
ROW_STEP = 4


def group_of(path: Path) -> str:
    """The package (game folder) of a music track, or the voice (folder) of a prompt."""
    parts = path.parts
    if "sounds" in parts and "asterisk" in parts:
        return parts[parts.index("sounds") + 1]
    if "games" in parts:
        return parts[parts.index("games") + 1]
    return parts[3] if len(parts) > 4 else path.parent.name


def window_rows(x: np.ndarray, frames: np.ndarray | None, params: AnalysisParams) -> np.ndarray:
    """Model inputs (rows x inputs) of every ``ROW_STEP``-th active frame of ``x`` (float audio
    at 8 kHz, already through the codec), only where ``frames`` (bool per frame) is set."""
    ev = frame_evidence(x, params)
    _, sounding, active = activity(ev, params)
    lo, hi = window_bounds(active, params)
    keep = active if frames is None else active & frames[: ev.n]
    idx = np.flatnonzero(keep)[::ROW_STEP]
    return WindowScore(ev, params, sounding, active).features(lo[idx], hi[idx]).T


def _ulaw(x: np.ndarray) -> np.ndarray:
    pcm, _ = synth.through_codec(np.clip(x, -1.0, 32767 / 32768), "ulaw")
    return pcm.astype(np.float32) / 32768


def _stream(clips: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Clips in random order at random levels with 0.3-1.5 s pauses over a -65 dBFS noise
    floor; returns the audio and its per-20 ms-frame speech mask (oracle activity)."""
    parts, mask = [], []
    for i in rng.permutation(len(clips)):
        c = synth.at_level(clips[int(i)], float(rng.uniform(-26, -16)))
        gap = np.zeros(int(rng.uniform(0.3, 1.5) * synth.SR), np.float32)
        parts += [c, gap]
        mask += [synth.activity(c), np.zeros(len(gap), bool)]
    x = np.concatenate(parts)
    x = x + (rng.standard_normal(len(x)) * synth.db(-65.0)).astype(np.float32)
    m = np.concatenate(mask)
    n = len(m) // 160
    return x, m[: n * 160].reshape(n, 160).mean(axis=1) > 0.9


def corpus(cache: Path, sets: tuple[str, ...] = TRAIN_SETS, params: AnalysisParams = DEFAULT,
           progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows x inputs, 1 = speech / 0 = music, group per row: "m:<package>" or "s:<voice>")."""
    rng = np.random.default_rng(0)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    gs: list[np.ndarray] = []

    def add(rows: np.ndarray, label: int, group: str) -> None:
        xs.append(rows)
        ys.append(np.full(len(rows), float(label)))
        gs.append(np.full(len(rows), group))

    beds: list[np.ndarray] = []
    for name in sets:
        ss = synth.SOURCE_SETS[name]
        src = synth.Sources(cache / name, ss)
        for path, m in zip(ss.music, src.moh):
            m = synth.at_level(m, float(rng.uniform(-28, -18)))
            beds.append(m)
            add(window_rows(_ulaw(m), None, params), 0, f"m:{group_of(path)}")
        voices: dict[str, list[np.ndarray]] = {f"espeak-{name}": src.greetings + src.agent}
        for path, p in zip(ss.prompts, src.prompts):
            voices.setdefault(group_of(path), []).append(p)
        for voice, clips in voices.items():
            x, mask = _stream(clips, rng)
            add(window_rows(_ulaw(x), mask, params), 1, f"s:{voice}")
            bed = np.resize(beds[int(rng.integers(len(beds)))], len(x))
            speech_db = synth.rms_db(x[: len(mask) * 160][np.repeat(mask, 160)]) if mask.any() else -22.0
            bed = synth.at_level(bed, speech_db - float(rng.uniform(6, 14)))
            add(window_rows(_ulaw(x + bed), mask, params), 1, f"s:{voice}")
        if progress:
            print(f"  {name}: {sum(len(v) for v in xs)} rows so far", flush=True)
    return np.vstack(xs), np.concatenate(ys), np.concatenate(gs)


def fit_mlp(x: np.ndarray, y: np.ndarray, hidden: int = 16, epochs: int = 30, seed: int = 0,
            lr: float = 3e-3, l2: float = 1e-4, batch: int = 1024) -> speech_model.SpeechModel:
    """One-hidden-layer ReLU network, class-balanced logistic loss, Adam with a cosine
    learning-rate decay, inputs standardised (rows x inputs in ``x``)."""
    rng = np.random.default_rng(seed)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    sw = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * len(y)
    d = z.shape[1]
    params = [rng.standard_normal((hidden, d)) * np.sqrt(2 / d), np.zeros(hidden),
              rng.standard_normal(hidden) * np.sqrt(1 / hidden), np.zeros(1)]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    t = 0
    steps = epochs * (-(-len(y) // batch))
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for a in range(0, len(y), batch):
            idx = order[a: a + batch]
            w1, b1, w2, b2 = params
            zb, yb, wb = z[idx], y[idx], sw[idx]
            pre = zb @ w1.T + b1
            h = np.maximum(pre, 0.0)
            out = h @ w2 + b2[0]
            p = 1 / (1 + np.exp(-np.clip(out, -30, 30)))
            g = wb * (p - yb) / len(idx)
            gh = np.outer(g, w2) * (pre > 0)
            grads = [gh.T @ zb + l2 * w1, gh.sum(axis=0), h.T @ g + l2 * w2, np.array([g.sum()])]
            t += 1
            rate = lr * 0.5 * (1 + np.cos(np.pi * min(t, steps) / steps))
            for i, (pp, gg) in enumerate(zip(params, grads)):
                m1[i] = 0.9 * m1[i] + 0.1 * gg
                m2[i] = 0.999 * m2[i] + 0.001 * gg * gg
                pp -= rate * (m1[i] / (1 - 0.9 ** t)) / (np.sqrt(m2[i] / (1 - 0.999 ** t)) + 1e-8)
    w1, b1, w2, b2 = params
    return speech_model.SpeechModel(mean, scale, w1, b1, w2, float(b2[0]))


def cross_validate(x: np.ndarray, y: np.ndarray, g: np.ndarray, folds: int) -> dict[str, float]:
    """Frame-level error per held-out group (music: share called speech; speech: share called
    music) with whole packages and voices held out, ``folds`` folds."""
    mg = sorted({v for v in g if v.startswith("m:")})
    sg = sorted({v for v in g if v.startswith("s:")})
    perm_m = [mg[i] for i in np.random.default_rng(1).permutation(len(mg))]
    perm_s = [sg[i] for i in np.random.default_rng(2).permutation(len(sg))]
    err: dict[str, float] = {}
    for k in range(folds):
        held = set(perm_m[k::folds]) | set(perm_s[k::folds])
        test = np.isin(g, list(held))
        model = fit_mlp(x[~test], y[~test])
        called_speech = model.logit(x[test].T) > 0
        for grp in held:
            sel = g[test] == grp
            err[grp] = float(called_speech[sel].mean() if grp.startswith("m:") else 1 - called_speech[sel].mean())
    return err


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``python -m harness.bench train``."""
    ap.add_argument("--cache", type=Path, default=Path("build/train-cache"))
    ap.add_argument("--cv", type=int, default=0, help="report K-fold errors with packages and voices held out")
    ap.add_argument("--write", action="store_true", help="train on everything and write the model file")


def run(args: argparse.Namespace) -> int:
    """Build the corpus, then cross-validate and/or write the model; returns the exit code."""
    missing = [p for name in TRAIN_SETS for p in synth.SOURCE_SETS[name].missing()]
    if missing:
        pkgs = sorted({pkg for name in TRAIN_SETS for pkg in synth.SOURCE_SETS[name].packages})
        raise BadInput(f"{len(missing)} source files missing (first: {missing[0]}): apt-get install {' '.join(pkgs)}")
    print("building the corpus ...", flush=True)
    x, y, g = corpus(args.cache)
    print(f"{len(y)} rows: {int((y == 0).sum())} music ({len({v for v in g if v[0] == 'm'})} packages), "
          f"{int(y.sum())} speech ({len({v for v in g if v[0] == 's'})} voices)")
    if args.cv:
        err = cross_validate(x, y, g, args.cv)
        mus = [v for k, v in err.items() if k.startswith("m:")]
        sp = [v for k, v in err.items() if k.startswith("s:")]
        print(f"{args.cv}-fold, packages/voices held out (frame level, before smoothing): music called speech "
              f"{np.mean(mus):.2%} (mean over {len(mus)} packages), speech called music {np.mean(sp):.2%} "
              f"(mean over {len(sp)} voices)")
        for k, v in sorted(err.items(), key=lambda kv: -kv[1]):
            print(f"  {k[2:]:28s} {'music called speech' if k[0] == 'm' else 'speech called music'} {v:6.2%}")
    if args.write:
        model = fit_mlp(x, y)
        speech_model.MODEL_PATH.write_text(json.dumps(model.to_dict(), separators=(",", ":")) + "\n")
        print(f"wrote {speech_model.MODEL_PATH}; set AnalysisParams.speech_model_sha256 = "
              f"\"{speech_model.file_sha256()}\"")
    return 0
