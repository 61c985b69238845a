"""Frame labels -> segments: activity with hysteresis, music vs speech per active region,
tones from their cadence, minimum durations and boundary refinement at frame resolution.

Pure: no file, clock or process I/O. The speech model is passed in (``speech_model.load``
reads its weights at the edge); ``label_samples`` is the whole analysis of samples in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.analysis.frames import N_BANDS, FrameEvidence, frame_evidence, to_analysis_rate
from harness.analysis.model import DEFAULT, AnalysisParams
from harness.analysis.tones import find_bursts, name_bursts
from harness.audio.level import audible_frames, hysteresis
from harness.vocab import Label, Segment

if TYPE_CHECKING:
    from harness.analysis.speech_model import SpeechModel

LABELS = list(Label)
CODE = {lab: np.int8(i) for i, lab in enumerate(LABELS)}


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the runs of True in a boolean array (ends exclusive)."""
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.flatnonzero(m[1:] != m[:-1])
    return d[0::2], d[1::2]


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


def _per_spectrum(sounding: np.ndarray, hop: int) -> np.ndarray:
    """Frames grouped by spectrum (spectrum j stands for frames [j*hop, (j+1)*hop)): a
    (spectra x hop) bool array, the last row padded with False."""
    m = -(-len(sounding) // hop)
    return np.concatenate([sounding, np.zeros(m * hop - len(sounding), bool)]).reshape(m, hop)


def _steady_sounding(sounding: np.ndarray, hop: int) -> np.ndarray:
    """Per frame, 1.0 where the frame's spectrum and the previous spectrum cover only sounding
    frames."""
    pad = _per_spectrum(sounding, hop).all(axis=1)
    assert isinstance(pad, np.ndarray)  # a reduction along an axis of a 2-D array; the stubs allow a scalar
    both = pad & np.concatenate([[False], pad[:-1]])
    return np.repeat(both, hop)[:len(sounding)].astype(np.float64)


def rhythm_strength(energy_db: np.ndarray, params: AnalysisParams,
                    active: np.ndarray | None = None) -> np.ndarray:
    """Per frame, how periodic the onsets are around it: the largest normalised autocorrelation
    of the onset envelope (rises of frame dB) over lags from ``rhythm_min_lag_s`` to
    ``rhythm_max_lag_s`` (a beat), in the ``rhythm_window_s`` before the frame and in the one
    after it; the smaller of the two where both sides hold at least ``rhythm_min_window_s``,
    else the side that does, else 0. Music with a beat repeats its onsets; speech's syllables
    do not keep time. One-sided windows so that the beat of hold music does not carry into a
    voice that follows it (a centred window took 1.8 s of an agent's first phrase after the
    lab's hold music for music, at some sample offsets); with ``active`` the windows also stop
    at the frame's active region. O(frames x lags), numpy."""
    n = len(energy_db)
    fr = params.frame_s
    e = np.maximum(energy_db, -60.0).astype(np.float64)
    o = np.maximum(np.diff(e, prepend=e[:1]), 0.0)
    w = round(params.rhythm_window_s / fr)
    need = round(params.rhythm_min_window_s / fr)
    i = np.arange(n)
    rstart, rend = _bounds_or_whole(active, n)
    windows = [(np.maximum(i - w, rstart), np.minimum(i + 1, rend)), (i, np.minimum(i + w, rend))]
    c1 = np.concatenate([[0.0], np.cumsum(o)])  # sums of o and o^2 serve every lag
    c2 = np.concatenate([[0.0], np.cumsum(o * o)])
    cab = np.zeros(n + 1)
    best = [np.zeros(n), np.zeros(n)]
    step = max(1, round(params.rhythm_lag_step_s / fr))
    for lag in range(round(params.rhythm_min_lag_s / fr), round(params.rhythm_max_lag_s / fr) + 1, step):
        m = n - lag
        if m < 2:
            break
        np.cumsum(o[:m] * o[lag:], out=cab[1:m + 1])
        for (lo, hi), out in zip(windows, best):
            lo2 = np.minimum(lo, m)  # pairs (j, j + lag) with lo <= j and j + lag < hi
            hi2 = np.clip(hi - lag, lo2, m)
            cnt = hi2 - lo2
            c = np.maximum(cnt, 1).astype(np.float64)
            sa, sb = c1[hi2] - c1[lo2], c1[hi2 + lag] - c1[lo2 + lag]
            sa2, sb2 = c2[hi2] - c2[lo2], c2[hi2 + lag] - c2[lo2 + lag]
            cov = (cab[hi2] - cab[lo2]) / c - sa * sb / (c * c)
            var = (sa2 / c - (sa / c) ** 2) * (sb2 / c - (sb / c) ** 2)
            ok = (cnt >= lag) & (hi - lo >= need) & (var > 1e-6)
            r = np.where(ok, cov / np.sqrt(np.maximum(var, 1e-12)), 0.0)
            np.maximum(out, r, out=out)
    has = [hi - lo >= need for lo, hi in windows]
    both = np.minimum(best[0], best[1])
    return np.where(has[0] & has[1], both, np.where(has[0], best[0], np.where(has[1], best[1], 0.0)))


class WindowScore:
    """Logit of the music-vs-speech model for any window [lo, hi) of frames, from cumulative
    sums of its per-frame inputs (frame dB, its square, spectral-peak persistence, spectral
    flux, |frame-to-frame dB change|, partials, rhythm, the spectral shape over ``N_BANDS``
    bands, its square and its change, low-energy frames): O(1) per window, whatever its
    length or clipping; the model (``speech_model.SpeechModel``) maps the window's inputs to
    the logit. Built without a model, it gives the inputs only (``features``)."""

    def __init__(self, ev: FrameEvidence, params: AnalysisParams, sounding: np.ndarray | None = None,
                 active: np.ndarray | None = None, model: SpeechModel | None = None) -> None:
        n = ev.n
        hop = params.fft_hop_frames
        drop = dropouts(ev.energy_db, sounding, params)
        keep = (~drop).astype(np.float64)
        # a dropout's frames are left out of every window input and its level is carried over
        # from the frame before it: a gap of digital silence inside music is not a pause
        edb = np.maximum(_carry_over(ev.energy_db, drop), -80.0).astype(np.float64)
        snd = np.ones(n) if sounding is None else _steady_sounding(sounding, hop)
        # the spectral inputs (persistence, flux, partials) count only where this spectrum and
        # the one before it both sound: the gaps between staccato notes and each note's onset
        # after a gap would otherwise hide the steadiness of the notes themselves
        cols = [edb, edb * edb, np.repeat(ev.persist, hop)[:n] * snd, np.repeat(ev.flux, hop)[:n] * snd,
                np.abs(np.diff(edb, prepend=edb[:1])), np.repeat(ev.partials, hop)[:n] * snd, snd,
                rhythm_strength(edb, params, active)]
        # spectral shape: band log-energies relative to their mean (level-free), per frame;
        # its window mean and spread, and the mean |change| of each band from one spectrum to
        # the next (drums and notes change some bands, a voice's formants others)
        shape = (ev.bands - ev.bands.mean(axis=1, keepdims=True)).astype(np.float64)
        change = np.abs(np.diff(ev.bands, axis=0, prepend=ev.bands[:1])).astype(np.float64)
        shape_f = np.repeat(shape, hop, axis=0)[:n].T
        cols += list(shape_f) + list(shape_f * shape_f) + list(np.repeat(change, hop, axis=0)[:n].T)
        # low-energy frames: more than low_energy_db below the mean frame dB within +-window_s/2
        # of the frame's active region (the pauses between syllables and words)
        rstart, rend = _bounds_or_whole(active, n)
        local = region_mean(edb, round(params.window_s / params.frame_s / 2), rstart, rend)
        cols.append((edb < local - params.low_energy_db).astype(np.float64))
        cols.append(keep)
        self.cs = np.zeros((len(cols), n + 1))
        for j, c in enumerate(cols):
            np.cumsum(c * keep, out=self.cs[j, 1:])
        self.model = model
        self.caps = (params.score_std_cap_db, params.score_flux_cap_db, params.score_step_cap_db)

    def features(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Model inputs of each window [lo, hi) (hi > lo), one row per input
        (``speech_model.INPUTS``): std of frame dB, then the window means of the other
        per-frame inputs, the spread of each band's shape, the low-energy share."""
        m = (self.cs[:-1, hi] - self.cs[:-1, lo]) / np.maximum(self.cs[-1, hi] - self.cs[-1, lo], 1.0)
        std = np.sqrt(np.maximum(m[1] - m[0] * m[0], 0.0))
        steady = m[6] > 0
        cnt = np.maximum(m[6], 1e-9)
        persist = np.where(steady, m[2] / cnt, 0.5)
        flux = np.where(steady, m[3] / cnt, 8.0)
        partials = np.where(steady, m[5] / cnt, 0.6)
        caps = self.caps
        nb = N_BANDS
        shape = m[8: 8 + nb]
        spread = np.sqrt(np.maximum(m[8 + nb: 8 + 2 * nb] - shape * shape, 0.0))
        return np.vstack([np.minimum(std, caps[0]), persist, np.minimum(flux, caps[1]),
                          np.minimum(m[4], caps[2]), partials, m[7], shape, spread,
                          m[8 + 2 * nb: 8 + 3 * nb], m[8 + 3 * nb: 9 + 3 * nb]])

    def logit(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Logit (speech > 0) of each window [lo, hi); hi > lo."""
        if self.model is None:
            raise ValueError("WindowScore was built without a speech model; it can give features only")
        return self.model.logit(self.features(lo, hi))


def dropouts(energy_db: np.ndarray, sounding: np.ndarray | None, params: AnalysisParams) -> np.ndarray:
    """Frames of audio lost in transit (a late or lost packet), not a pause: runs of digital
    silence (at most ``dropout_db``, the quietest G.711 code) of at most ``dropout_max_s``,
    with sounding frames on both sides, that cut the sound off abruptly: the frame before
    the run is within ``dropout_edge_db`` of the loudest frame in ``dropout_edge_s`` before it
    (a note or a word that ends decays first; the rests between staccato notes are silence
    too, and are the music's own)."""
    n = len(energy_db)
    out = np.zeros(n, bool)
    max_len = round(params.dropout_max_s / params.frame_s)
    if sounding is None or max_len <= 0:
        return out
    k = max(1, round(params.dropout_edge_s / params.frame_s))
    s, e = runs(energy_db <= params.dropout_db)
    for a, b in zip(s, e):
        if b - a > max_len or a == 0 or b >= n or not (sounding[a - 1] and sounding[b]):
            continue
        if energy_db[a - 1] >= energy_db[max(0, a - 1 - k):a].max() - params.dropout_edge_db:
            out[a:b] = True
    return out


def _carry_over(x: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """``x`` with each dropped frame replaced by the last value before it that was not dropped."""
    if not drop.any():
        return x
    idx = np.where(drop, 0, np.arange(len(x)))
    np.maximum.accumulate(idx, out=idx)
    return x[idx]


def region_bounds(active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the start and (exclusive) end of the active region that holds it."""
    n = len(active)
    s, e = runs(active)
    if len(s) == 0:
        return np.zeros(n, int), np.ones(n, int)
    rid = np.clip(np.cumsum(np.isin(np.arange(n), s)) - 1, 0, len(s) - 1)
    return s[rid], e[rid]


def _bounds_or_whole(active: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``region_bounds(active)``, or the whole signal as one region when ``active`` is None."""
    if active is None:
        return np.zeros(n, int), np.full(n, n)
    return region_bounds(active)


def window_bounds(active: np.ndarray, params: AnalysisParams) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the centred ``window_s`` window [lo, hi) clipped to the frame's active region."""
    rstart, rend = region_bounds(active)
    half = round(params.window_s / params.frame_s / 2)
    i = np.arange(len(active))
    lo = np.maximum(i - half, rstart)
    return lo, np.maximum(np.minimum(i + half + 1, rend), lo + 1)


def speech_probability(ws: WindowScore, active: np.ndarray, params: AnalysisParams) -> np.ndarray:
    """Per-frame probability that active audio is speech rather than music (logistic score
    over centred window features computed inside each active region only)."""
    lo, hi = window_bounds(active, params)
    rstart, rend = region_bounds(active)
    z = ws.logit(lo, hi)
    p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    sh = round(params.score_smooth_s / params.frame_s / 2)
    return region_mean(p.astype(np.float32), sh, rstart, rend)


def activity(ev: FrameEvidence, params: AnalysisParams = DEFAULT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels with the tones set and silence elsewhere, ``sounding``: frames above the activity
    threshold, ``active``: sounding with short pauses bridged and blips dropped), tones excluded."""
    n = ev.n
    labels = np.full(n, CODE[Label.SILENCE], np.int8)
    tone = np.zeros(n, bool)
    for b in name_bursts(find_bursts(ev, params), ev.energy_db, params):
        labels[b.start:b.end] = CODE[b.label]  # type: ignore[index]  # name_bursts returns named bursts only
        tone[b.start:b.end] = True

    sounding = audible_frames(ev.energy_db, ev.dead, params.audibility) & ~tone
    active = sounding.copy()
    fr = params.frame_s
    active = fill_short(active, False, round(params.min_silence_s / fr))
    active &= ~tone
    active = fill_short(active, True, round(params.min_active_s / fr))
    s, e = runs(active)
    for a, b in zip(s, e):  # drop short isolated blips (incl. at the file edges)
        if b - a < round(params.min_active_s / fr):
            active[a:b] = False
    return labels, sounding, active


def frame_labels(ev: FrameEvidence, model: SpeechModel, params: AnalysisParams = DEFAULT) -> np.ndarray:
    """Label codes (index into ``Label``) for each 20 ms frame of the evidence; ``model`` is the
    speech model ``params.speech_model_sha256`` names."""
    n = ev.n
    if n == 0:
        return np.full(n, CODE[Label.SILENCE], np.int8)
    labels, sounding, active = activity(ev, params)
    fr = params.frame_s
    ws = WindowScore(ev, params, sounding, active, model)
    p = speech_probability(ws, active, params)
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
        r[:] = _min_runs(r, min_sp, min_mu, p[a:b], round(params.min_speech_in_music_s / fr))
        lo_p = _logodds(p[a:b])
        lo_sum = np.concatenate([[0.0], np.cumsum(lo_p)])
        r[:] = _refine(r, lo_p, ev, a, params, sounding, ws)
        # placement can leave a run shorter than its minimum (two changes moved towards each
        # other: 0.68 s of speech around a 0.1 s gap in hold music): enforce them again
        r[:] = _min_runs(r, min_sp, min_mu, p[a:b], round(params.min_speech_in_music_s / fr))
        fade = round(params.edge_fade_max_s / fr)
        for edge in (slice(0, fade), slice(len(r) - fade, len(r))):
            # a short, weakly speech-like stretch where music fades in or out is the music's
            # edge; a word that carries more evidence than that stays speech (a greeting's
            # last word after a pause, then music, is a word, not a fade)
            rs, re_ = runs(r)
            for x, y in zip(rs, re_):
                short = y - x < fade and (x == 0 or y == len(r)) and not (x == 0 and y == len(r))
                weak = lo_sum[y] - lo_sum[x] < params.edge_speech_keep_logodds
                if short and weak and (edge.start <= x < edge.stop or edge.start < y <= edge.stop):
                    r[x:y] = False
        _pause_at_change(r, active[a:b], sounding[a:b], params)
    labels[active & speech] = CODE[Label.SPEECH]
    labels[active & ~speech] = CODE[Label.MUSIC]
    return labels


def _logodds(p: np.ndarray) -> np.ndarray:
    """Per-frame log-odds of speech, capped at +-4 so that no few frames outvote a run."""
    q = np.clip(p, 1e-3, 1 - 1e-3)
    return np.clip(np.log(q / (1 - q)), -4.0, 4.0)


def _min_runs(r: np.ndarray, min_sp: int, min_mu: int, p: np.ndarray, min_sp_inner: int) -> np.ndarray:
    """Inside one region: enforce the minimum durations (speech ``min_sp`` frames, or
    ``min_sp_inner`` with music on both sides; music ``min_mu``). Each too-short run is resolved
    by flipping whichever of it and its neighbours carries the least evidence for its own label
    (sum of the capped log-odds of ``p``, the per-frame speech probability, over its frames),
    cheapest first: a weak speech-like stretch inside music goes before the music around it
    does (flipping short runs by label, whatever their evidence, called 2.7 s of a dev call's
    hold music speech)."""
    out = r.copy()
    cs = np.concatenate([[0.0], np.cumsum(_logodds(p))])
    while True:
        change = np.flatnonzero(out[1:] != out[:-1]) + 1
        if len(change) == 0:
            return out
        st = np.concatenate([[0], change])
        en = np.concatenate([change, [len(out)]])
        val = out[st]
        inner = (st > 0) & (en < len(out))  # music on both sides when it is speech
        need = np.where(val, np.where(inner, min_sp_inner, min_sp), min_mu)
        short = np.flatnonzero((en - st) < need)
        if len(short) == 0:
            return out
        # evidence each run carries for its own label (>= 0 when it agrees with it)
        own = np.where(val, 1.0, -1.0) * (cs[en] - cs[st])
        best, best_cost = -1, np.inf
        for i in short.tolist():
            for j in (i - 1, i, i + 1):
                if 0 <= j < len(st) and own[j] < best_cost:
                    best, best_cost = j, own[j]
        out[st[best]:en[best]] = not val[best]


def spectral_change(ev: FrameEvidence, k: np.ndarray, lo: int, hi: int, params: AnalysisParams,
                    sounding: np.ndarray | None = None) -> np.ndarray:
    """Gaussian log-likelihood gain (diagonal, per band) of splitting the band log-energies of
    the spectra within ``change_window_s`` either side of frame k into before and after k,
    windows kept inside frames [lo, hi): large where the sound source changes.

    With ``sounding`` (per frame) only spectra over sounding frames count and each side holds
    that many of them, however long the pauses between: a pause is no sound source. Counting
    pauses made the pause-to-sound change inside a greeting outweigh the voice-to-music change
    (a greeting's last word after a pause was given to the music)."""
    hop = params.fft_hop_frames
    half = max(2, round(params.change_window_s / params.frame_s / hop))
    s_lo, s_hi = lo // hop, max(lo // hop + 1, -(-hi // hop))
    b = ev.bands[s_lo:s_hi].astype(np.float64)
    m = len(b)
    j = np.clip(k // hop - s_lo, 1, m - 1)
    if sounding is not None:
        per_spectrum = _per_spectrum(sounding, hop).any(axis=1)
        assert isinstance(per_spectrum, np.ndarray)  # as in _steady_sounding
        keep = per_spectrum[s_lo:s_hi]
        keep = np.concatenate([keep, np.ones(m - len(keep), bool)])
        j = np.cumsum(np.concatenate([[0], keep]))[j]  # sounding spectra before each split
        b = b[keep]
        m = len(b)
        if m < 2:
            return np.zeros(len(k))
    cs = np.concatenate([np.zeros((1, b.shape[1])), np.cumsum(b, axis=0)])
    cs2 = np.concatenate([np.zeros((1, b.shape[1])), np.cumsum(b * b, axis=0)])
    a, e = np.maximum(j - half, 0), np.minimum(j + half, m)

    def nll(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # n/2 * sum log var over [x, y)
        cnt = np.maximum(y - x, 0)[:, None].astype(np.float64)
        c1 = np.maximum(cnt, 1.0)
        mu = (cs[y] - cs[x]) / c1
        var = np.maximum((cs2[y] - cs2[x]) / c1 - mu * mu, 1.0)
        return 0.5 * cnt[:, 0] * np.log(var).sum(axis=1)

    return nll(a, e) - nll(a, j) - nll(j, e)


def _refine(r: np.ndarray, lo_p: np.ndarray, ev: FrameEvidence, offset: int, params: AnalysisParams,
            sounding: np.ndarray, ws: WindowScore) -> np.ndarray:
    """Move each music/speech change inside a region (frames from ``offset``) to the split
    within ``boundary_search_s`` that best separates the two sides: ``boundary_model_weight``
    x the speech model's logit on one side minus on the other (one-sided windows of
    ``boundary_model_window_s``, which do not straddle the split; each logit capped), and
    ``boundary_model_long_weight`` x the same over ``boundary_model_long_s`` and
    ``boundary_model_short_weight`` x over ``boundary_model_short_s``, plus
    ``change_weight`` x the spectral change at the split (a voice and music differ in timbre
    where one cuts into the other), plus ``boundary_logodds_weight`` x the running sum of
    ``lo_p`` (per-frame capped log-odds of the window speech probability): a move that
    relabels frames the windows call firmly one thing costs. No per-frame linear score takes
    part: on music the model has not heard one drags changes up to 1.2 s into the music
    (docs/ANALYSIS.md, "Validation set and boundaries")."""
    changes = np.flatnonzero(r[1:] != r[:-1]) + 1
    if len(changes) == 0:
        return r
    out = r.copy()
    fr = params.frame_s
    span = round(params.boundary_search_s / fr)
    side = max(1, round(params.boundary_min_side_s / fr))
    edges = np.concatenate([[0], changes, [len(r)]])
    for j, c in enumerate(changes.tolist()):
        prev, nxt = int(edges[j]), int(edges[j + 2])
        lo, hi = max(c - span, prev + side), min(c + span, nxt - side)
        if hi - lo < 2:
            continue
        run = np.concatenate([[0.0], np.cumsum(lo_p[lo:hi])])
        score = params.boundary_logodds_weight * (run if r[c - 1] else -run)
        k = np.arange(lo, hi + 1)
        reach = round(params.change_window_s / fr) + params.fft_hop_frames
        score = score + params.change_weight * spectral_change(
            ev, offset + k, offset + max(prev, lo - reach), offset + min(nxt, hi + reach), params, sounding)
        # the speech model on either side of each split: one-sided windows do not straddle it
        k = k + offset
        cap = params.boundary_model_cap
        for win_s, weight in ((params.boundary_model_window_s, params.boundary_model_weight),
                              (params.boundary_model_long_s, params.boundary_model_long_weight),
                              (params.boundary_model_short_s, params.boundary_model_short_weight)):
            if not weight:
                continue
            w = round(win_s / fr)
            left = ws.logit(np.maximum(k - w, offset + prev), np.maximum(k, offset + prev + 1))
            right = ws.logit(np.minimum(k, offset + nxt - 1), np.minimum(k + w, offset + nxt))
            gain = np.clip(left, -cap, cap) - np.clip(right, -cap, cap)  # > 0: speech, then music
            score = score + weight * (gain if r[c - 1] else -gain)
        best = lo + _plateau_centre(score, params.boundary_tie_margin)
        a, b = min(best, c), max(best, c)
        out[a:b] = r[c - 1] if best > c else r[c]
    return out


def _plateau_centre(score: np.ndarray, margin: float) -> int:
    """Index of the best split: the centre of the splits scoring within ``margin`` of the
    maximum when they are one contiguous run (a plateau: the capped model logits saturate
    on both sides of a change wherever a short low-level gap lies between music and a
    voice, and the first or last of them is biased by up to the gap), else the maximum."""
    near = np.flatnonzero(score >= score.max() - margin)
    if near[-1] - near[0] == len(near) - 1:
        return int(near[(len(near) - 1) // 2])
    return int(np.argmax(score))


def _pause_at_change(r: np.ndarray, active: np.ndarray, sounding: np.ndarray, params: AnalysisParams) -> None:
    """A bridged pause at (or within ``pause_snap_s`` of) a music/speech change belongs to
    neither side: the change moves into the pause and the pause becomes silence (``active``
    cleared). Pauses are bridged so that speech and music keep their own short gaps; a gap
    between music and speech is where one stopped and the other had not started."""
    changes = np.flatnonzero(r[1:] != r[:-1]) + 1
    if len(changes) == 0:
        return
    gs, ge = runs(~sounding)
    tol = round(params.pause_snap_s / params.frame_s)
    for c in changes:
        dist = np.maximum(gs - c, 0) + np.maximum(c - ge, 0)  # 0 when c is inside the pause
        if len(dist) == 0 or dist.min() > tol:
            continue
        g0, g1 = int(gs[np.argmin(dist)]), int(ge[np.argmin(dist)])
        left, right = r[c - 1], r[c]
        r[min(c, g0):g0] = left
        r[g1:max(c, g1)] = right
        active[g0:g1] = False


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


def label_samples(samples: np.ndarray, sample_rate_hz: int, model: SpeechModel,
                  params: AnalysisParams = DEFAULT) -> list[Segment]:
    """Label mono ``samples`` (int16, or float in [-1, 1]) at ``sample_rate_hz`` as segments that
    cover the whole signal in order, without gaps or overlaps (seconds from the first sample).

    Pure: ``model`` is the speech model ``params`` names, already loaded. Raises ValueError for
    a rate that is not a multiple of the analysis rate.
    """
    x = to_analysis_rate(samples, sample_rate_hz, params)
    labels = frame_labels(frame_evidence(x, params), model, params)
    return labels_to_segments(labels, params.frame_s, len(samples) / sample_rate_hz)
