"""One definition of "audible": frame energy against an absolute threshold and the local
background, with hysteresis, digital silence excluded.

This is the analyzer's activity (``AnalysisParams.active_on_db`` and the rest take their
defaults from ``AUDIBLE``), so anything that asks "from when is this audible" (the lab's
truth, the benchmarks) measures it as the analyzer does. The analyzer applies it at its
analysis rate (8 kHz) after excluding tones; ``first_audible_s`` applies it to a clip at the
clip's own rate. Pure numpy: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_S = 0.020  # the analyzer's frame: its label resolution
_EPS = 1e-10  # power floor of an all-zero frame (-100 dBFS)
# the background is the minimum over blocks of this length (a cheap sliding minimum)
_FLOOR_BLOCK_S = 0.5


@dataclass(frozen=True)
class Audibility:
    """The thresholds of "audible" (dB are dBFS of DC-free frame energy unless said otherwise)."""

    on_db: float = -48.0  # frame energy above this starts audibility ...
    off_db: float = -54.0  # ... and below this ends it
    floor_window_s: float = 5.0  # background level = lowest level within this window ...
    floor_cap_db: float = -48.0  # ... but never above this (louder is content, not background)
    floor_margin_on_db: float = 6.0  # audible also needs this much (dB) above the background
    floor_margin_off_db: float = 3.0
    digital_silence_abs: float = 2.0 / 32768  # |sample| at or below this is a dead line
    frame_s: float = FRAME_S


AUDIBLE = Audibility()


def frame_energy_db(frames: np.ndarray) -> np.ndarray:
    """Energy (dBFS, DC removed, float32) of each row of ``frames`` (frames x samples, float in [-1, 1])."""
    hop = frames.shape[1]
    mean = frames.mean(axis=1)
    power = np.einsum("ij,ij->i", frames, frames) / hop - mean * mean
    return (10 * np.log10(np.maximum(power, _EPS))).astype(np.float32)


def dead_frames(frames: np.ndarray, digital_silence_abs: float) -> np.ndarray:
    """Per row of ``frames``: True when every |sample| is at most ``digital_silence_abs`` (a dead line)."""
    if not len(frames):
        return np.zeros(0, bool)
    return np.abs(frames).max(axis=1) <= digital_silence_abs


def hysteresis(on: np.ndarray, off: np.ndarray, initial: np.ndarray | None = None) -> np.ndarray:
    """State that turns on where ``on`` and off where ``off``, holding in between.
    ``initial`` (optional bool array) forces the state where it is set: used at region starts."""
    ev = np.where(on, 1, np.where(off, 0, -1)).astype(np.int8)
    if initial is not None:
        ev = np.where(initial >= 0, initial, ev).astype(np.int8)
    idx = np.where(ev >= 0, np.arange(len(ev)), 0)
    np.maximum.accumulate(idx, out=idx)
    state = ev[idx]
    return state == 1


def local_floor(energy_db: np.ndarray, audibility: Audibility = AUDIBLE) -> np.ndarray:
    """Background level (dBFS) per frame: the minimum of 3-frame mean energy within
    +-floor_window_s/2, capped at ``floor_cap_db`` (anything louder is content, not background)."""
    n = len(energy_db)
    sm = np.convolve(energy_db, np.ones(3, np.float32) / 3, mode="same")
    blk = max(1, round(_FLOOR_BLOCK_S / audibility.frame_s))
    nb = -(-n // blk)
    padded = np.concatenate([sm, np.full(nb * blk - n, np.inf, np.float32)])
    bmin = padded.reshape(nb, blk).min(axis=1)
    k = max(0, round(audibility.floor_window_s / 2 / _FLOOR_BLOCK_S))
    ext = np.concatenate([np.full(k, np.inf), bmin, np.full(k, np.inf)])
    before = np.min(np.stack([ext[i: i + nb] for i in range(k + 1)]), axis=0)
    after = np.min(np.stack([ext[i: i + nb] for i in range(k, 2 * k + 1)]), axis=0)
    # the louder of the two one-sided minima: office noise between an agent's sentences keeps
    # its own level as background up to the moment the line goes dead (the two-sided minimum
    # took the dead line's level and made the last 1-2 s of noise activity)
    win = np.maximum(before, after)
    return np.minimum(np.repeat(win, blk)[:n], audibility.floor_cap_db).astype(np.float32)


def audible_frames(energy_db: np.ndarray, dead: np.ndarray, audibility: Audibility = AUDIBLE) -> np.ndarray:
    """Per frame, whether it is audible: its energy (``frame_energy_db``) crosses
    max(``on_db``, background + ``floor_margin_on_db``) upwards and has not yet fallen below
    max(``off_db``, background + ``floor_margin_off_db``), and it is not digital silence (``dead``)."""
    floor = local_floor(energy_db, audibility)
    on_thr = np.maximum(audibility.on_db, floor + audibility.floor_margin_on_db)
    off_thr = np.maximum(audibility.off_db, floor + audibility.floor_margin_off_db)
    return hysteresis(energy_db > on_thr, energy_db < off_thr) & ~dead


def first_audible_s(samples: np.ndarray, sample_rate_hz: int, audibility: Audibility = AUDIBLE) -> float | None:
    """Seconds from the first sample of mono ``samples`` (int16, or float in [-1, 1]) at
    ``sample_rate_hz`` to the start of their first audible frame; None when no frame is audible."""
    x = np.asarray(samples)
    x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32, copy=False)
    hop = round(audibility.frame_s * sample_rate_hz)
    n = len(x) // hop
    if n == 0:
        return None
    frames = x[: n * hop].reshape(n, hop)
    audible = np.flatnonzero(audible_frames(frame_energy_db(frames), dead_frames(frames, audibility.digital_silence_abs),
                                            audibility))
    return float(audible[0]) * hop / sample_rate_hz if len(audible) else None
