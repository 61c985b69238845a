"""Helpers for the analysis tests: synthetic tones and short real snippets at 8 kHz.

The real snippets come from Debian's Asterisk packages, found by ``harness.packaged_audio``;
a missing package skips the test, or fails it in CI (tests/needs.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
from needs import missing

from harness import packaged_audio

SR = 8000
MOH_TRACK = "macroform-cold_day"  # asterisk-moh-opsound-wav
PROMPT_NAME = "queue-periodic-announce"  # asterisk-core-sounds-en-wav


def tone(freqs: tuple[float, ...], dur_s: float, level_db: float = -18.0, sr: int = SR) -> np.ndarray:
    t = np.arange(round(dur_s * sr)) / sr
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs)
    return (np.asarray(x) * 10 ** (level_db / 20) * np.sqrt(2 / len(freqs))).astype(np.float32)


def zeros(dur_s: float, sr: int = SR) -> np.ndarray:
    return np.zeros(round(dur_s * sr), np.float32)


def cadence(freqs: tuple[float, ...], on_s: float, off_s: float, cycles: int) -> np.ndarray:
    return np.concatenate([np.concatenate([tone(freqs, on_s), zeros(off_s)]) for _ in range(cycles)])


def _packaged(find: Callable[[str], Path], name: str) -> Path:
    try:
        return find(name)
    except packaged_audio.MissingAudio as exc:
        reason = str(exc)
    missing(reason)  # outside the handler: the report shows one reason, not a chained traceback


def moh(stem: str = MOH_TRACK) -> Path:
    """A packaged hold-music track (skips, or fails in CI, when the package is missing)."""
    return _packaged(packaged_audio.moh_path, stem)


def prompt(name: str = PROMPT_NAME) -> Path:
    """A packaged English prompt (skips, or fails in CI, when the package is missing)."""
    return _packaged(packaged_audio.prompt_path, name)


def real(path: Path, start_s: float, dur_s: float, level_db: float = -20.0) -> np.ndarray:
    """``dur_s`` of a packaged 8 kHz recording from ``start_s``, scaled to an RMS of ``level_db`` dBFS."""
    x, sr = sf.read(path, dtype="float32", start=int(start_s * SR), frames=int(dur_s * SR))
    assert sr == SR
    return x * 10 ** (level_db / 20) / np.sqrt(np.mean(x**2) + 1e-12)


def pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16)


def write(path: Path, x: np.ndarray, sr: int = SR) -> Path:
    sf.write(path, pcm16(x), sr, subtype="PCM_16")
    return path
