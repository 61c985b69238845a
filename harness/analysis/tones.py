"""Tone bursts from tonal spectra, and the cadence rules that name them.

A burst is a run of tonal spectra whose peak frequencies stay within ``tone_freq_tol``.
Bursts are named by frequency plan and cadence: music and speech have 3-10% tonal
frames of their own, so a tone is only a tone when its cadence or steadiness says so.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from harness.analysis.frames import FrameEvidence
from harness.analysis.model import AnalysisParams
from harness.vocab import Label

DTMF_LOW_HZ = (697.0, 770.0, 852.0, 941.0)
DTMF_HIGH_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
SIT_HZ = (913.8, 985.2, 1370.6, 1428.5, 1776.7)
CALL_PROGRESS_BAND_HZ = (330.0, 660.0)
RINGBACK_ONLY_HZ = ((440.0, 480.0), (400.0, 450.0))  # US, UK
BUSY_ONLY_HZ = ((480.0, 620.0),)  # US


@dataclass
class Burst:
    """A steady tone from frame ``start`` to ``end`` (exclusive), 20 ms frames."""

    start: int
    end: int
    f_lo: float
    f_hi: float  # NaN for a single tone
    level_db: float
    level_std_db: float
    level_drift_db: float = 0.0  # level change along the burst (linear trend x length)
    label: Label | None = None

    @property
    def dual(self) -> bool:
        return not np.isnan(self.f_hi)


def _near(f: float, table: tuple[float, ...], tol: float) -> bool:
    return bool(np.isfinite(f)) and any(abs(f - t) <= tol * t for t in table)


def _close(a: np.ndarray, b: np.ndarray, tol: float) -> np.ndarray:
    return np.abs(a - b) <= tol * np.maximum(np.abs(b), 1.0)


def find_bursts(ev: FrameEvidence, params: AnalysisParams) -> list[Burst]:
    """Runs of tonal spectra with stable frequencies, edges refined on 20 ms frame energy."""
    t = ev.tonal
    if not t.any():
        return []
    tol = params.tone_freq_tol
    lo, hi = ev.f_lo, ev.f_hi
    same = np.zeros(len(t), bool)
    same[1:] = (
        t[1:] & t[:-1]
        & _close(lo[1:], lo[:-1], tol)
        & (np.isnan(hi[1:]) | np.isnan(hi[:-1]) | _close(hi[1:], hi[:-1], tol))
    )  # a frame where one tone hands over to the next shows both: it ends the first burst
    starts = np.flatnonzero(t & ~same)
    hop = params.fft_hop_frames
    # steadiness only matters to a lone tone or a lone ringback burst; shorter bursts skip it
    judge = round(min(params.tone_min_s, params.ring_min_on_s) / params.frame_s)
    bursts: list[Burst] = []
    for s in starts.tolist():  # Python ints: Burst holds frame indices as int
        e = s + 1
        while e < len(t) and same[e]:
            e += 1
        fl, fh = lo[s:e], hi[s:e]
        dual = np.isfinite(fh)
        if dual.mean() >= 0.5:
            f_lo, f_hi = _median(fl[dual]), _median(fh[dual])
        else:
            f_lo, f_hi = _median(fl[~dual]), float("nan")
        a, b = s * hop, min(ev.n, e * hop)
        inner = ev.energy_db[a:b]
        level = _median(inner)
        thr = level - params.tone_edge_drop_db
        # frame-resolution edges: a frame belongs to the tone when its energy says the tone
        # fills at least about half of it
        for _ in range(hop + 1):
            if a > 0 and ev.energy_db[a - 1] >= thr:
                a -= 1
        while a < b - 1 and ev.energy_db[a] < thr:
            a += 1
        for _ in range(hop + 1):
            if b < ev.n and ev.energy_db[b] >= thr:
                b += 1
        while b > a + 1 and ev.energy_db[b - 1] < thr:
            b -= 1
        if bursts and a < bursts[-1].end:  # back-to-back tones (SIT): split the shared frames
            cut = (max(a, bursts[-1].start + 1) + bursts[-1].end) // 2
            prev = bursts[-1]
            bursts[-1] = Burst(prev.start, cut, prev.f_lo, prev.f_hi, prev.level_db,
                               *_steadiness(ev.energy_db[prev.start:cut], judge))
            a = max(a, cut)
            b = max(b, a + 1)
        bursts.append(Burst(a, b, f_lo, f_hi, level, *_steadiness(ev.energy_db[a:b], judge)))
    return bursts


def _median(x: np.ndarray) -> float:
    """np.median without its overhead on short arrays: most bursts in music and speech are one
    or two spectra long, and this runs per burst (the tone rules were a third of the time)."""
    n = len(x)
    if n > 32:
        return float(np.median(x))
    v = sorted(x.tolist())
    return float(v[n // 2]) if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def _steadiness(energy_db: np.ndarray, min_frames: int) -> tuple[float, float]:
    """(std, drift) of a burst's frame levels in dB, without its first and last frame: a tone
    rarely starts or ends on a frame boundary, so its edge frames are partly empty however
    steady it is. Drift is the linear trend over the burst: a generated tone is flat, a held
    note in music decays."""
    if len(energy_db) < max(min_frames, 5):  # too short for any rule that asks for steadiness
        return float("inf"), float("inf")
    inner = energy_db[1:-1].astype(np.float64)
    t = np.arange(len(inner)) - (len(inner) - 1) / 2
    slope = float(np.dot(t, inner - inner.mean()) / np.dot(t, t))
    return float(np.std(inner)), abs(slope) * len(inner)


def name_bursts(bursts: list[Burst], energy_db: np.ndarray, params: AnalysisParams) -> list[Burst]:
    """Label bursts by frequency plan and cadence; returns only the bursts that are tones."""
    fs = params.frame_s
    tol = params.tone_freq_tol
    for b in bursts:
        dur = (b.end - b.start) * fs
        dtmf = b.dual and _near(b.f_lo, DTMF_LOW_HZ, tol) and _near(b.f_hi, DTMF_HIGH_HZ, tol)
        if dtmf and dur >= params.dtmf_min_s:
            b.label = Label.DTMF
    # SIT: two or more of its segments back to back, rising in frequency
    sit = [i for i, b in enumerate(bursts) if not b.dual and _near(b.f_lo, SIT_HZ, tol)
           and params.sit_min_s <= (b.end - b.start) * fs <= params.sit_max_s]
    for i, j in itertools.pairwise(sit):
        bi, bj = bursts[i], bursts[j]
        if j == i + 1 and (bj.start - bi.end) * fs <= 0.1 and bj.f_lo > bi.f_lo:
            bi.label = bj.label = Label.SIT
    # call progress: group bursts of the same frequencies, then read the cadence
    cp = [b for b in bursts if b.label is None and _in_cp_band(b)]
    groups: list[list[Burst]] = []
    for b in cp:
        g = groups[-1] if groups else None
        if g and _same_freqs(g[-1], b, tol) and (b.start - g[-1].end) * fs <= params.ring_max_gap_s:
            g.append(b)
        else:
            groups.append([b])
    for g in groups:
        label = _cadence(g, params) if _quiet_between(g, energy_db, params) else None
        for b in g:
            b.label = label
    for b in bursts:
        if b.label is None and (b.end - b.start) * fs >= params.tone_min_s \
                and b.level_std_db <= params.tone_max_db_std and b.level_drift_db <= params.tone_max_drift_db \
                and _stands_out(b, energy_db, params):
            b.label = Label.TONE
    return [b for b in bursts if b.label is not None]


def _quiet_between(g: list[Burst], energy_db: np.ndarray, params: AnalysisParams) -> bool:
    """Call-progress cadences are tone and silence: the gaps (or, for one burst, its
    surroundings) must be far below the tone; a note inside music is not."""
    level = float(np.median([b.level_db for b in g]))
    gaps = [energy_db[a.end:b.start] for a, b in itertools.pairwise(g) if b.start > a.end]
    if not gaps:
        return _stands_out(g[0], energy_db, params)
    return _median(np.concatenate(gaps)) <= level - params.tone_gap_drop_db


def _stands_out(b: Burst, energy_db: np.ndarray, params: AnalysisParams) -> bool:
    """A lone tone is preceded and followed by something clearly quieter (a beep, not a note)."""
    k = round(0.1 / params.frame_s)
    before = energy_db[max(0, b.start - k - 1): max(0, b.start - 1)]
    after = energy_db[b.end + 1: b.end + 1 + k]
    sides = [s for s in (before, after) if len(s)]
    return all(_median(s) <= b.level_db - params.tone_gap_drop_db for s in sides)


def _in_cp_band(b: Burst) -> bool:
    lo, hi = CALL_PROGRESS_BAND_HZ
    return lo <= b.f_lo <= hi and (not b.dual or lo <= b.f_hi <= hi)


def _same_freqs(a: Burst, b: Burst, tol: float) -> bool:
    if a.dual != b.dual:
        return False
    ok = abs(a.f_lo - b.f_lo) <= 2 * tol * b.f_lo
    return ok and (not a.dual or abs(a.f_hi - b.f_hi) <= 2 * tol * b.f_hi)


def _plan(b: Burst, plans: tuple[tuple[float, float], ...], tol: float) -> bool:
    return b.dual and any(abs(b.f_lo - lo) <= tol * lo and abs(b.f_hi - hi) <= tol * hi for lo, hi in plans)


def _regular(durations_s: list[float], params: AnalysisParams) -> bool:
    """A generated cadence repeats the same on (or off) time; notes in music that happen to be
    tonal and short (moh_2 at 18 s: 0.16, 0.20, 0.36 s) do not. Edges are measured to a frame
    or two, hence the absolute slack."""
    if len(durations_s) < 2:
        return True
    spread = max(durations_s) - min(durations_s)
    return spread <= max(params.cadence_slack_s, params.cadence_spread * max(durations_s))


def _cadence(g: list[Burst], params: AnalysisParams) -> Label | None:
    fs = params.frame_s
    tol = params.tone_freq_tol
    ons = [(b.end - b.start) * fs for b in g]
    gaps = [(b.start - a.end) * fs for a, b in itertools.pairwise(g)]
    steady = all(b.level_std_db <= params.tone_max_db_std for b in g) or g[0].dual
    if _plan(g[0], RINGBACK_ONLY_HZ, tol) and max(ons) >= 0.3:
        return Label.RINGBACK
    if _plan(g[0], BUSY_ONLY_HZ, tol) and max(ons) >= 0.15:
        return Label.BUSY_TONE
    if len(g) >= 2 and max(ons) <= params.busy_max_on_s and max(gaps) <= params.busy_max_gap_s \
            and min(ons) >= 0.15 and steady and _regular(ons, params) and _regular(gaps, params):
        return Label.BUSY_TONE
    if max(ons) >= params.ring_min_on_s and (steady or len(g) >= 2) and max(ons) <= 3.0:
        return Label.RINGBACK
    return None
