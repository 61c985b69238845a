"""Reading recordings in blocks and analysing them with flat memory.

The file is read in blocks of ``BLOCK_S`` seconds with ``MARGIN_S`` of context on each
side; each block is analysed by the pure core and only its middle is kept, so memory
does not grow with the length of the recording and the labels match the whole-file
analysis except where a decision needs more than ``MARGIN_S`` of context.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from harness.analysis.frames import SUPPORTED_RATES_HZ, frame_evidence, to_analysis_rate
from harness.analysis.model import DEFAULT, AnalysisParams, AnalysisResult, Segment, analyzer_id, summarize
from harness.analysis.segmenter import frame_labels, labels_to_segments
from harness.errors import BadInput

# 300 s blocks at the analysis rate: each block pays 2 x MARGIN_S of context, so 120 s blocks
# cost a third more CPU (a 60-minute file 850x real time instead of 1275x; docs/BENCHMARKS.md,
# "Analyzer 1.4"). Input at a higher rate is resampled a block at a time, by FFT: its blocks
# stay at 120 s so that memory stays near that of 8 kHz (a 48 kHz block is 6x the samples).
BLOCK_S = 300.0
BLOCK_RESAMPLED_S = 120.0
MARGIN_S = 20.0


def open_recording(path: Path) -> sf.SoundFile:
    """Open a mono WAV at a supported rate, or raise BadInput with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise BadInput(f"{path}: not a readable audio file ({_first_line(exc)})") from exc
    if f.channels != 1:
        f.close()
        raise BadInput(f"{path}: {f.channels} channels; give a mono WAV (sox {path.name} -c 1 mono.wav)")
    if f.samplerate not in SUPPORTED_RATES_HZ:
        f.close()
        rates = ", ".join(str(r) for r in SUPPORTED_RATES_HZ)
        raise BadInput(f"{path}: unsupported sample rate {f.samplerate} Hz (use one of {rates})")
    if f.frames <= 0:
        f.close()
        raise BadInput(f"{path}: no audio samples (empty, or a header that says 0 samples: repair it first)")
    return f


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def analyze_file(path: Path, params: AnalysisParams = DEFAULT) -> AnalysisResult:
    """Analyse a recording block by block. Raises BadInput for unusable input."""
    path = Path(path)
    with open_recording(path) as f:
        sr, total = f.samplerate, f.frames
        frame_in = round(params.frame_s * sr)
        block_s = BLOCK_S if sr == params.analysis_rate_hz else BLOCK_RESAMPLED_S
        block = int(block_s / params.frame_s) * frame_in
        margin = int(MARGIN_S / params.frame_s) * frame_in
        segments: list[Segment] = []
        pos = 0
        try:
            while pos < total:
                a = max(0, pos - margin)
                f.seek(a)
                x = f.read(min(total, pos + block + margin) - a, dtype="int16", always_2d=False)
                if len(x) == 0:
                    break
                ev = frame_evidence(to_analysis_rate(x, sr, params), params)
                labels = frame_labels(ev, params)
                skip = (pos - a) // frame_in
                keep = min(block, total - pos) // frame_in
                last_block = pos + block >= total
                core = labels[skip: skip + keep] if not last_block else labels[skip:]
                dur = (total - pos) / sr if last_block else keep * params.frame_s
                _append(segments, labels_to_segments(core, params.frame_s, dur, pos / sr))
                pos += block
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise BadInput(f"{path}: truncated or corrupt audio ({_first_line(exc)})") from exc
    return AnalysisResult(
        file=str(path), sample_rate_hz=sr, duration_s=total / sr, analyzer=analyzer_id(params),
        params=params.to_dict(), segments=segments, summary=summarize(segments),
    )


def _append(out: list[Segment], new: list[Segment]) -> None:
    for s in new:
        if out and out[-1].label == s.label:
            out[-1] = Segment(out[-1].start_s, s.end_s, s.label)
        elif out and abs(out[-1].end_s - s.start_s) > 1e-6:
            out.append(Segment(out[-1].end_s, s.end_s, s.label))
        else:
            out.append(s)


def read_samples(path: Path) -> tuple[np.ndarray, int]:
    """Whole file as int16 (for tests and the benchmark's baselines)."""
    with open_recording(path) as f:
        return f.read(dtype="int16", always_2d=False), f.samplerate
