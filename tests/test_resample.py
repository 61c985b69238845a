"""The one resampler (harness/audio/resample.py): exact for the analyzer, anti-aliased for any ratio.

Levels in dB; a tone's amplitude is measured on the middle of the output, away from the edges.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.audio.resample import _polyphase, lowpass_taps, resample


def _sine(freq_hz: float, rate_hz: int, dur_s: float = 1.0) -> np.ndarray:
    return np.sin(2 * np.pi * freq_hz * np.arange(round(dur_s * rate_hz)) / rate_hz)


def _gain_db(y: np.ndarray, ref: np.ndarray) -> float:
    mid = slice(len(y) // 4, 3 * len(y) // 4)
    return float(20 * np.log10(np.std(y[mid]) / np.std(ref[mid])))


@pytest.mark.parametrize(("from_hz", "to_hz"), [(22050, 8000), (44100, 8000), (16000, 8000), (8000, 16000),
                                                 (11025, 8000), (48000, 8000)])
def test_length_and_time_alignment(from_hz: int, to_hz: int) -> None:
    x = _sine(440.0, from_hz)
    y = resample(x, from_hz, to_hz)
    assert len(y) == -(-len(x) * to_hz // from_hz) and y.dtype == np.float64
    ref = _sine(440.0, to_hz)[: len(y)]
    mid = slice(len(y) // 4, 3 * len(y) // 4)
    assert np.max(np.abs(y[mid] - ref[mid])) < 2e-3  # same phase: no delay, unit gain


@pytest.mark.parametrize("from_hz", [22050, 44100, 16000, 48000])
def test_content_above_the_new_nyquist_is_removed(from_hz: int) -> None:
    x = _sine(5000.0, from_hz)  # would alias to 3 kHz at 8 kHz
    assert _gain_db(resample(x, from_hz, 8000), _sine(3000.0, 8000)) < -60.0
    assert abs(_gain_db(resample(_sine(2000.0, from_hz), from_hz, 8000), _sine(2000.0, 8000))) < 0.05


def test_every_ratio_has_the_analyzers_response() -> None:
    """3 kHz sits on the filter's slope (cut-off 3.6 kHz at -6 dB): a rational ratio and the
    analyzer's integer decimation attenuate it alike."""
    ref = _sine(3000.0, 8000)
    analyzer = _gain_db(resample(_sine(3000.0, 48000), 48000, 8000), ref)
    assert -1.0 < analyzer < -0.8
    assert abs(_gain_db(resample(_sine(3000.0, 22050), 22050, 8000), ref) - analyzer) < 0.05


def test_the_polyphase_path_is_the_fft_path_for_integer_decimation() -> None:
    x = np.random.default_rng(13).standard_normal(48000)
    h = lowpass_taps(6)
    assert np.allclose(_polyphase(x, h, 1, 6, (len(h) - 1) // 2), resample(x, 48000, 8000), atol=1e-12)


def test_same_rate_and_bad_rates() -> None:
    x = np.arange(5, dtype=np.float32)
    assert np.array_equal(resample(x, 8000, 8000), x)
    with pytest.raises(ValueError, match="positive"):
        resample(x, 0, 8000)
