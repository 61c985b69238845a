"""Front end and per-frame evidence: resampling to 8 kHz (``harness.audio.resample``), frame
energy (``harness.audio.level``), spectra, tonality.

Pure functions over numpy arrays. Frames are ``params.frame_s`` long (20 ms); spectra are
``params.fft_size`` samples (64 ms) every ``params.fft_hop_frames`` frames, centred on
frame boundaries, because the FFT is the cost of the whole analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.analysis.model import AnalysisParams
from harness.audio.level import dead_frames, frame_energy_db
from harness.audio.resample import resample

SUPPORTED_RATES_HZ = (8000, 16000, 24000, 32000, 48000)
N_BANDS = 8
_EPS = 1e-10


def to_analysis_rate(samples: np.ndarray, sample_rate_hz: int, params: AnalysisParams) -> np.ndarray:
    """Mono samples (int16 or float in [-1, 1]) -> float32 at ``params.analysis_rate_hz``."""
    x = np.asarray(samples)
    x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32, copy=False)
    target = params.analysis_rate_hz
    if sample_rate_hz == target:
        return x
    if sample_rate_hz % target or sample_rate_hz not in SUPPORTED_RATES_HZ:
        raise ValueError(f"unsupported sample rate {sample_rate_hz} Hz (supported: {SUPPORTED_RATES_HZ})")
    return resample(x, sample_rate_hz, target).astype(np.float32)


@dataclass
class FrameEvidence:
    """Per-frame evidence for ``n`` frames (arrays of length n unless noted)."""

    n: int
    energy_db: np.ndarray  # frame energy (DC removed), dBFS
    dead: np.ndarray  # bool: digital silence (every |sample| <= digital_silence_abs)
    tonal: np.ndarray  # bool per spectrum: one or two steady peaks hold >= tone_purity of the band
    f_lo: np.ndarray  # Hz per spectrum: lower (or only) peak frequency
    f_hi: np.ndarray  # Hz per spectrum: upper peak, NaN for a single tone
    persist: np.ndarray  # per spectrum: 1.0 when the top peak stays on the same bin (+-1) as before
    flux: np.ndarray  # per spectrum: mean |change| of the band log-spectrum (dB)
    partials: np.ndarray  # per spectrum: share of its strong peaks also peaks (+-1 bin) 40 ms before
    bands: np.ndarray  # per spectrum x N_BANDS: log energy (dB) of equal slices of the band


def frame_evidence(x: np.ndarray, params: AnalysisParams) -> FrameEvidence:
    """Compute the per-frame evidence of float32 samples at the analysis rate."""
    sr = params.analysis_rate_hz
    hop = round(params.frame_s * sr)
    n = len(x) // hop
    fr = x[: n * hop].reshape(n, hop)
    energy_db = frame_energy_db(fr)
    dead = dead_frames(fr, params.digital_silence_abs)

    nfft = params.fft_size
    step = hop * params.fft_hop_frames
    nspec = (n + params.fft_hop_frames - 1) // params.fft_hop_frames
    pad = nfft // 2
    xp = np.concatenate([np.zeros(pad, np.float32), x[: n * hop], np.zeros(pad + step, np.float32)])
    # spectrum j is centred on the start of frame j*hop_frames + hop_frames/2 ... i.e. the
    # middle of the frames it stands for
    centre0 = hop * params.fft_hop_frames // 2
    win = np.hanning(nfft).astype(np.float32)
    k_lo = int(np.ceil(params.band_low_hz * nfft / sr))
    k_hi = int(np.floor(params.band_high_hz * nfft / sr))
    tonal = np.zeros(nspec, bool)
    f_lo = np.full(nspec, np.nan, np.float32)
    f_hi = np.full(nspec, np.nan, np.float32)
    persist = np.zeros(nspec, np.float32)
    flux = np.zeros(nspec, np.float32)
    partials = np.zeros(nspec, np.float32)
    bands = np.zeros((nspec, N_BANDS), np.float32)
    band_edges = np.linspace(0, k_hi - k_lo + 1, N_BANDS + 1).round().astype(int)[:-1]
    prev_k: np.ndarray | None = None
    prev_logp: np.ndarray | None = None
    prev_strong: np.ndarray | None = None
    chunk = 2048
    view = np.lib.stride_tricks.sliding_window_view(xp, nfft)[centre0::step]
    for a in range(0, nspec, chunk):
        b = min(nspec, a + chunk)
        seg = view[a:b] * win
        spec = np.fft.rfft(seg, axis=1)[:, k_lo: k_hi + 1]
        p = spec.real * spec.real + spec.imag * spec.imag
        total = p.sum(axis=1) + _EPS
        rows = np.arange(b - a)
        k1 = p.argmax(axis=1)
        lm = np.zeros_like(p, dtype=bool)
        lm[:, 1:-1] = (p[:, 1:-1] >= p[:, :-2]) & (p[:, 1:-1] >= p[:, 2:])
        p2 = np.where(lm, p, 0.0)
        for d in (-1, 0, 1):
            p2[rows, np.clip(k1 + d, 0, p.shape[1] - 1)] = 0.0
        k2 = p2.argmax(axis=1)
        # strong peaks (local maxima within partial_range_db of the top one): a held note keeps
        # its fundamental and partials from one spectrum to the next, speech glides and its
        # formants move
        strong = lm & (p >= p[rows, k1][:, None] * 10 ** (-params.partial_range_db / 10))
        near_prev = strong.copy()
        near_prev[:, 1:] |= strong[:, :-1]
        near_prev[:, :-1] |= strong[:, 1:]
        prev = np.concatenate([np.zeros_like(near_prev[:1]) if prev_strong is None else prev_strong, near_prev[:-1]])
        partials[a:b] = (strong & prev).sum(axis=1) / np.maximum(strong.sum(axis=1), 1)
        width = p.shape[1]
        cols = np.arange(width)
        near = (np.abs(cols[None, :] - k1[:, None]) <= 2) | (np.abs(cols[None, :] - k2[:, None]) <= 2)
        e12 = np.where(near, p, 0.0).sum(axis=1)
        e1 = np.where(np.abs(cols[None, :] - k1[:, None]) <= 2, p, 0.0).sum(axis=1)
        e2 = e12 - e1
        band_db = 10 * np.log10(total / (nfft * win.sum() ** 2 / nfft / 2) + _EPS)
        tonal[a:b] = (e12 / total >= params.tone_purity) & (band_db > params.active_off_db)
        dual = e2 >= 0.1 * e1
        fk1 = _interp(p, k1, rows) + k_lo
        fk2 = _interp(p, k2, rows) + k_lo
        f1 = (fk1 * sr / nfft).astype(np.float32)
        f2 = (fk2 * sr / nfft).astype(np.float32)
        f_lo[a:b] = np.where(dual, np.minimum(f1, f2), f1)
        f_hi[a:b] = np.where(dual, np.maximum(f1, f2), np.nan)
        logp = 10 * np.log10(p + total[:, None] * 1e-6)
        kk = np.concatenate([[-10] if prev_k is None else prev_k, k1])
        persist[a:b] = (np.abs(np.diff(kk)) <= 1).astype(np.float32)
        lp = np.concatenate([logp[:1] if prev_logp is None else prev_logp, logp])
        flux[a:b] = np.abs(np.diff(lp, axis=0)).mean(axis=1)
        # reduceat, not a matrix product: BLAS threads would cost more CPU than they save
        bands[a:b] = 10 * np.log10(np.add.reduceat(p, band_edges, axis=1) + 1e-9)
        prev_k, prev_logp, prev_strong = k1[-1:], logp[-1:], near_prev[-1:]
    return FrameEvidence(n, energy_db, dead, tonal, f_lo, f_hi, persist, flux, partials, bands)


def _interp(p: np.ndarray, k: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Parabolic interpolation of the peak bin on the log spectrum."""
    w = p.shape[1]
    a = np.log(p[rows, np.clip(k - 1, 0, w - 1)] + _EPS)
    b = np.log(p[rows, k] + _EPS)
    c = np.log(p[rows, np.clip(k + 1, 0, w - 1)] + _EPS)
    den = a - 2 * b + c
    delta = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)
    return k + np.clip(delta, -0.5, 0.5)
