"""The one resampler: a windowed-sinc low-pass at 0.9 x the lower Nyquist, then the new rate.

Integer decimation (48, 32, 24 or 16 kHz to 8 kHz: the analyzer's input) convolves by FFT
and keeps every ``factor``-th sample. Any other ratio ``to/from = up/down`` (22.05 kHz
speech synthesis or 44.1 kHz music to 8 kHz, 8 kHz to 16 kHz) is the same filter designed at
``up`` x the input rate and applied polyphase, one output sample at a time, since the signal
upsampled by ``up`` would not fit in memory. Pure numpy: no I/O.
"""

from __future__ import annotations

from math import gcd

import numpy as np

TAPS_PER_PHASE = 16
CUTOFF_OF_NYQUIST = 0.9  # of the lower of the two Nyquist frequencies
# taps x output samples gathered per step of the polyphase path: two arrays of 8 MB
_CHUNK_ELEMENTS = 1 << 20


def lowpass_taps(factor: int, taps_per_phase: int = TAPS_PER_PHASE) -> np.ndarray:
    """Windowed-sinc (Blackman) anti-alias filter for a rate change by ``factor``: cut-off
    ``CUTOFF_OF_NYQUIST / factor`` of the filter rate's Nyquist, ``taps_per_phase x factor + 1``
    taps, unit DC gain."""
    n = taps_per_phase * factor + 1
    m = np.arange(n) - (n - 1) / 2
    cutoff = CUTOFF_OF_NYQUIST / factor  # in units of the old Nyquist
    h = cutoff * np.sinc(cutoff * m) * np.blackman(n)
    return (h / h.sum()).astype(np.float64)


def resample(x: np.ndarray, from_rate_hz: int, to_rate_hz: int) -> np.ndarray:
    """Mono float samples ``x`` at ``from_rate_hz`` -> float64 at ``to_rate_hz``, anti-aliased.

    Output sample ``n`` is at ``n / to_rate_hz`` seconds (no delay); there are
    ``ceil(len(x) * to_rate_hz / from_rate_hz)`` of them. Outside ``x`` the signal is taken as 0.
    """
    if from_rate_hz <= 0 or to_rate_hz <= 0:
        raise ValueError(f"sample rates must be positive (got {from_rate_hz} Hz -> {to_rate_hz} Hz)")
    x = np.asarray(x)
    if from_rate_hz == to_rate_hz:
        return x.astype(np.float64)
    g = gcd(from_rate_hz, to_rate_hz)
    up, down = to_rate_hz // g, from_rate_hz // g
    h = lowpass_taps(max(up, down))
    delay = (len(h) - 1) // 2
    if up == 1:
        n = len(x) + len(h) - 1
        nfft = 1 << max(1, (n - 1).bit_length())
        y = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(h, nfft), nfft)[:n]
        return y[delay: delay + len(x): down]
    return _polyphase(x.astype(np.float64), h * up, up, down, delay)


def _polyphase(x: np.ndarray, h: np.ndarray, up: int, down: int, delay: int) -> np.ndarray:
    """``x`` upsampled by ``up`` (zeros between samples), filtered by ``h`` and decimated by
    ``down``, computing only the output samples and, for each, only the taps that meet an
    input sample: output ``n`` sits at ``n x down + delay`` on the upsampled grid."""
    taps = -(-len(h) // up)
    phases = np.zeros((up, taps))
    for p in range(up):
        phases[p, : len(h[p::up])] = h[p::up]
    padded = np.concatenate([np.zeros(taps), x, np.zeros(taps)])
    n_out = -(-len(x) * up // down)
    out = np.empty(n_out)
    back = np.arange(taps)
    step = max(1, _CHUNK_ELEMENTS // taps)
    for a in range(0, n_out, step):
        pos = np.arange(a, min(n_out, a + step)) * down + delay
        first = pos // up + taps  # index in ``padded`` of the newest input sample that counts
        out[a: a + len(pos)] = np.einsum("nt,nt->n", phases[pos % up], padded[first[:, None] - back[None, :]])
    return out
