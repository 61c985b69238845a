"""The analyzer's edge: reading recordings in blocks and analysing them with flat memory,
and the speech model's weights loaded (``speech_model.load``) and handed to the pure core.

The file is read in blocks of ``BLOCK_S`` seconds with ``MARGIN_S`` of context on each
side; each block is analysed by the pure core and only its middle is kept, so memory
does not grow with the length of the recording and the labels match the whole-file
analysis except where a decision needs more than ``MARGIN_S`` of context.

Samples are analysed as int16. A float WAV is scaled from [-1, 1] (libsndfile's own
conversion to int16 does not scale: every sample of a normal float file became 0, so the
file was all silence) and must hold finite samples. A WAV whose header declares more data
than the file holds is analysed as far as it goes and reported ``truncated``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from harness.analysis import speech_model
from harness.analysis.frames import SUPPORTED_RATES_HZ, frame_evidence, to_analysis_rate
from harness.analysis.model import DEFAULT, AnalysisParams, AnalysisResult, analyzer_id, summarize
from harness.analysis.segmenter import frame_labels, label_samples, labels_to_segments
from harness.errors import BadInput
from harness.vocab import Segment

# 300 s blocks at the analysis rate: each block pays 2 x MARGIN_S of context, so 120 s blocks
# cost a third more CPU (a 60-minute file 850x real time instead of 1275x;
# docs/BENCHMARKS-history.md, "Analyzer 1.4"). Input at a higher rate is resampled a block at
# a time, by FFT: its blocks stay at 120 s so that memory stays near that of 8 kHz (a 48 kHz
# block is 6x the samples).
BLOCK_S = 300.0
BLOCK_RESAMPLED_S = 120.0
MARGIN_S = 20.0
# libsndfile subtypes holding floating-point samples (nominal range -1..1)
FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})
# the RIFF chunks searched for the data chunk before giving up (a WAV has a handful)
_MAX_RIFF_CHUNKS = 64


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


def declared_frames(path: Path) -> int | None:
    """The number of frames a RIFF WAVE header declares (its ``data`` chunk size over the
    ``fmt`` block size), or None when ``path`` is not a RIFF WAVE file or the header cannot
    say. libsndfile silently reads what the file holds instead: comparing the two is how a
    file cut short is noticed."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = 0
            for _ in range(_MAX_RIFF_CHUNKS):
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    body = fh.read(min(size, 16))
                    if len(body) < 14:
                        return None
                    block_align = struct.unpack("<H", body[12:14])[0]
                    fh.seek(size - len(body) + (size & 1), 1)
                elif cid == b"data":
                    return size // block_align if block_align else None
                else:
                    fh.seek(size + (size & 1), 1)  # chunks are padded to an even size
    except OSError:
        return None
    return None


def read_pcm16(f: sf.SoundFile, frames: int, path: Path) -> np.ndarray:
    """Up to ``frames`` samples from the current position of ``f``, as int16.

    A float file is read as floats and scaled by 32768 (clipped to int16); a NaN or infinite
    sample raises BadInput naming the file and where the first one is.
    """
    if f.subtype not in FLOAT_SUBTYPES:
        return f.read(frames, dtype="int16", always_2d=False)
    start = f.tell()
    x = f.read(frames, dtype="float64", always_2d=False)
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.argmax(bad))
        kind = "NaN" if np.isnan(x[i]) else "infinite"
        first_s, last_s = start / f.samplerate, (start + len(x)) / f.samplerate
        raise BadInput(f"{path}: {kind} sample at {(start + i) / f.samplerate:.3f} s ({int(bad.sum())} NaN or "
                       f"infinite in {first_s:.1f}-{last_s:.1f} s); a float WAV must hold finite samples")
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def analyze_file(path: Path, params: AnalysisParams = DEFAULT) -> AnalysisResult:
    """Analyse a recording block by block. Raises BadInput for unusable input."""
    path = Path(path)
    declared = declared_frames(path)
    model = speech_model.load(params.speech_model_sha256)
    with open_recording(path) as f:
        sr, total = f.samplerate, f.frames
        truncated = declared is not None and declared > total
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
                x = read_pcm16(f, min(total, pos + block + margin) - a, path)
                if len(x) == 0:
                    break
                ev = frame_evidence(to_analysis_rate(x, sr, params), params)
                labels = frame_labels(ev, model, params)
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
        truncated=truncated, declared_duration_s=declared / sr if truncated and declared is not None else None,
    )


def analyze_samples(samples: np.ndarray, sample_rate_hz: int, params: AnalysisParams = DEFAULT) -> list[Segment]:
    """Label mono ``samples`` (int16, or float in [-1, 1]) at ``sample_rate_hz`` as segments that
    cover the whole signal in order, without gaps or overlaps (seconds from the first sample).

    No file is read but the speech model's weights (once per process): the labelling itself is
    ``segmenter.label_samples``. Raises ValueError for a rate that is not a multiple of the
    analysis rate.
    """
    return label_samples(samples, sample_rate_hz, speech_model.load(params.speech_model_sha256), params)


def _append(out: list[Segment], new: list[Segment]) -> None:
    for s in new:
        if out and out[-1].label == s.label:
            out[-1] = Segment(out[-1].start_s, s.end_s, s.label)
        elif out and abs(out[-1].end_s - s.start_s) > 1e-6:
            out.append(Segment(out[-1].end_s, s.end_s, s.label))
        else:
            out.append(s)


def read_samples(path: Path) -> tuple[np.ndarray, int]:
    """Whole file as int16 (for tests and the benchmark's baselines); float files scaled as in
    ``analyze_file``."""
    path = Path(path)
    with open_recording(path) as f:
        return read_pcm16(f, f.frames, path), f.samplerate
