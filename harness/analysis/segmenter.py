"""Frame labels -> segments: activity with hysteresis, music vs speech per active region,
tones from their cadence, minimum durations and boundary refinement at frame resolution.

``frame_labels`` is the pure core; ``analyze_samples`` is the public entry point.
"""

from __future__ import annotations

import numpy as np

from harness.analysis.frames import FrameEvidence, frame_evidence, to_analysis_rate
from harness.analysis.model import DEFAULT, AnalysisParams, Label, Segment
from harness.analysis.tones import find_bursts, name_bursts

LABELS = list(Label)
CODE = {lab: np.int8(i) for i, lab in enumerate(LABELS)}


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the runs of True in a boolean array (ends exclusive)."""
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.flatnonzero(m[1:] != m[:-1])
    return d[0::2], d[1::2]


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


def fill_short(mask: np.ndarray, value: bool, max_len: int) -> np.ndarray:
    """Runs equal to ``value`` shorter than ``max_len`` that have both neighbours become ``not value``."""
    out = mask.copy()
    s, e = runs(mask == value)
    for a, b in zip(s, e):
        if b - a < max_len and a > 0 and b < len(mask):
            out[a:b] = not value
    return out


def region_mean(x: np.ndarray, half: int, rstart: np.ndarray, rend: np.ndarray) -> np.ndarray:
    """Centred moving average of ``x`` over +-half frames, clipped to each frame's region."""
    cs = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    i = np.arange(len(x))
    lo = np.maximum(i - half, rstart)
    hi = np.minimum(i + half + 1, rend)
    hi = np.maximum(hi, lo + 1)
    return ((cs[hi] - cs[lo]) / (hi - lo)).astype(np.float32)


def speech_probability(ev: FrameEvidence, active: np.ndarray, params: AnalysisParams) -> np.ndarray:
    """Per-frame probability that active audio is speech rather than music (logistic score
    over window features computed inside each active region only)."""
    n = ev.n
    s, e = runs(active)
    rid = np.cumsum(np.isin(np.arange(n), s)) - 1
    rid = np.clip(rid, 0, max(len(s) - 1, 0))
    rstart = s[rid] if len(s) else np.zeros(n, int)
    rend = e[rid] if len(s) else np.ones(n, int)
    half = round(params.window_s / params.frame_s / 2)
    edb = np.maximum(ev.energy_db, -80.0)
    m1 = region_mean(edb, half, rstart, rend)
    m2 = region_mean(edb * edb, half, rstart, rend)
    db_std = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
    hop = params.fft_hop_frames
    persist = region_mean(np.repeat(ev.persist, hop)[:n], half, rstart, rend)
    flux = region_mean(np.repeat(ev.flux, hop)[:n], half, rstart, rend)
    delta = region_mean(np.abs(np.diff(edb, prepend=edb[:1])), half, rstart, rend)
    w = params.score_weights
    z = w[0] + w[1] * db_std + w[2] * persist + w[3] * flux + w[4] * delta
    p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    sh = round(params.score_smooth_s / params.frame_s / 2)
    return region_mean(p.astype(np.float32), sh, rstart, rend)


def local_floor(energy_db: np.ndarray, params: AnalysisParams) -> np.ndarray:
    """Background level per frame: the minimum of 3-frame mean energy within +-floor_window_s/2,
    capped at ``floor_cap_db`` (anything louder is content, not background)."""
    n = len(energy_db)
    sm = np.convolve(energy_db, np.ones(3, np.float32) / 3, mode="same")
    blk = max(1, round(0.5 / params.frame_s))
    nb = -(-n // blk)
    padded = np.concatenate([sm, np.full(nb * blk - n, np.inf, np.float32)])
    bmin = padded.reshape(nb, blk).min(axis=1)
    k = max(0, round(params.floor_window_s / 2 / 0.5))
    ext = np.concatenate([np.full(k, np.inf), bmin, np.full(k, np.inf)])
    win = np.min(np.stack([ext[i: i + nb] for i in range(2 * k + 1)]), axis=0)
    return np.minimum(np.repeat(win, blk)[:n], params.floor_cap_db).astype(np.float32)


def frame_labels(ev: FrameEvidence, params: AnalysisParams = DEFAULT) -> np.ndarray:
    """Label codes (index into ``Label``) for each 20 ms frame of the evidence."""
    n = ev.n
    labels = np.full(n, CODE[Label.SILENCE], np.int8)
    if n == 0:
        return labels
    tone = np.zeros(n, bool)
    for b in name_bursts(find_bursts(ev, params), ev.energy_db, params):
        labels[b.start:b.end] = CODE[b.label]  # type: ignore[index]
        tone[b.start:b.end] = True

    edb = ev.energy_db
    floor = local_floor(edb, params)
    on_thr = np.maximum(params.active_on_db, floor + params.floor_margin_on_db)
    off_thr = np.maximum(params.active_off_db, floor + params.floor_margin_off_db)
    active = hysteresis(edb > on_thr, edb < off_thr) & ~ev.dead & ~tone
    fr = params.frame_s
    active = fill_short(active, False, round(params.min_silence_s / fr))
    active &= ~tone
    active = fill_short(active, True, round(params.min_active_s / fr))
    s, e = runs(active)
    for a, b in zip(s, e):  # drop short isolated blips (incl. at the file edges)
        if b - a < round(params.min_active_s / fr):
            active[a:b] = False

    p = speech_probability(ev, active, params)
    s, e = runs(active)
    init = np.full(n, -1, np.int8)
    init[s] = (p[s] >= 0.5).astype(np.int8)
    speech = hysteresis(p >= params.speech_on, p <= params.speech_off, init) & active
    min_sp = round(params.min_speech_s / fr)
    min_mu = round(params.min_music_s / fr)
    for a, b in zip(s, e):
        r = speech[a:b]
        if b - a < min_mu:  # too short to judge inside: one label by the mean
            r[:] = p[a:b].mean() >= 0.5
            continue
        r[:] = _min_runs(r, min_sp, min_mu)
        for edge in (slice(0, min_mu), slice(len(r) - min_mu, len(r))):
            # a short speech-like stretch where music fades in or out is the music's edge
            rs, re_ = runs(r)
            for x, y in zip(rs, re_):
                short = y - x < min_mu and (x == 0 or y == len(r)) and not (x == 0 and y == len(r))
                if short and (edge.start <= x < edge.stop or edge.start < y <= edge.stop):
                    r[x:y] = False
        r[:] = _refine(r, ev, a, params)
    labels[active & speech] = CODE[Label.SPEECH]
    labels[active & ~speech] = CODE[Label.MUSIC]
    return labels


def _min_runs(r: np.ndarray, min_sp: int, min_mu: int) -> np.ndarray:
    """Inside one region: short speech runs become music, then short music runs speech."""
    out = r.copy()
    for value, min_len in ((True, min_sp), (False, min_mu)):
        rs, re_ = runs(out == value)
        for a, b in zip(rs, re_):
            if b - a < min_len and (a > 0 or b < len(out)) and not (a == 0 and b == len(out)):
                out[a:b] = not value
    return out


def _refine(r: np.ndarray, ev: FrameEvidence, offset: int, params: AnalysisParams) -> np.ndarray:
    """Move each music/speech change inside a region to the frame that best splits the energy
    dynamics around it (two-segment fit of the frame-to-frame energy change)."""
    changes = np.flatnonzero(r[1:] != r[:-1]) + 1
    if len(changes) == 0:
        return r
    out = r.copy()
    span = round(params.boundary_search_s / params.frame_s)
    d = np.abs(np.diff(ev.energy_db[offset: offset + len(r)], prepend=ev.energy_db[offset]))
    for c in changes:
        a, b = max(1, c - span), min(len(r) - 1, c + span)
        if b - a < 4:
            continue
        seg = d[a - 1: b + 1].astype(np.float64)
        cs = np.concatenate([[0.0], np.cumsum(seg)])
        cs2 = np.concatenate([[0.0], np.cumsum(seg * seg)])
        k = np.arange(2, len(seg) - 1)
        nl, nr = k, len(seg) - k
        sse = (cs2[k] - cs[k] ** 2 / nl) + (cs2[-1] - cs2[k] - (cs[-1] - cs[k]) ** 2 / nr)
        best = a - 1 + int(k[np.argmin(sse)])
        left, right = r[c - 1], r[c]
        lo, hi = min(best, c), max(best, c)
        out[lo:hi] = left if best > c else right
    return out


def labels_to_segments(labels: np.ndarray, frame_s: float, duration_s: float,
                       offset_s: float = 0.0) -> list[Segment]:
    """Run-length encode frame labels; the last segment is stretched to ``duration_s``."""
    if len(labels) == 0:
        return [Segment(offset_s, offset_s + duration_s, Label.SILENCE)] if duration_s > 0 else []
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    segs = [Segment(round(offset_s + float(a) * frame_s, 6), round(offset_s + float(b) * frame_s, 6),
                    LABELS[int(labels[a])])
            for a, b in zip(starts, ends)]
    last = segs[-1]
    segs[-1] = Segment(last.start_s, round(offset_s + duration_s, 6), last.label)
    return segs


def analyze_samples(samples: np.ndarray, sample_rate_hz: int, params: AnalysisParams = DEFAULT) -> list[Segment]:
    """Label mono ``samples`` (int16, or float in [-1, 1]) at ``sample_rate_hz`` as segments that
    cover the whole signal in order, without gaps or overlaps (seconds from the first sample).

    Pure: no I/O. Raises ValueError for a rate that is not a multiple of the analysis rate.
    """
    x = to_analysis_rate(samples, sample_rate_hz, params)
    labels = frame_labels(frame_evidence(x, params), params)
    return labels_to_segments(labels, params.frame_s, len(samples) / sample_rate_hz)
