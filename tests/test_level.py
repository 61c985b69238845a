"""One "audible" (harness/audio/level.py): the analyzer's activity, usable without the analyzer.

Times in seconds; a frame is 20 ms, so onsets are exact to one frame.
"""

from __future__ import annotations

import numpy as np
from audio_synth import SR, moh, pcm16, real, tone, zeros

from harness.analysis import DEFAULT
from harness.analysis.frames import frame_evidence, to_analysis_rate
from harness.analysis.segmenter import CODE, activity
from harness.audio.level import AUDIBLE, audible_frames, first_audible_s
from harness.vocab import Label


def test_the_analyzer_parameters_are_the_audibility_defaults() -> None:
    assert DEFAULT.audibility == AUDIBLE


def test_first_audible_frame_of_a_tone_after_silence() -> None:
    x = np.concatenate([zeros(0.5), tone((1000.0,), 1.0, -30.0)])
    assert first_audible_s(pcm16(x), SR) == 0.5
    assert first_audible_s(x, SR) == 0.5


def test_below_the_on_threshold_is_not_audible() -> None:
    assert first_audible_s(pcm16(np.concatenate([zeros(0.5), tone((1000.0,), 1.0, -51.0)])), SR) is None
    assert first_audible_s(pcm16(np.concatenate([zeros(0.5), tone((1000.0,), 1.0, -45.0)])), SR) == 0.5
    assert first_audible_s(np.zeros(SR, np.int16), SR) is None
    assert first_audible_s(np.zeros(10, np.int16), SR) is None


def test_audible_frames_are_the_segmenters_sounding_frames() -> None:
    x = pcm16(np.concatenate([zeros(1.0), real(moh(), 5.0, 4.0), zeros(1.0)]))
    ev = frame_evidence(to_analysis_rate(x, SR, DEFAULT), DEFAULT)
    labels, sounding, _ = activity(ev, DEFAULT)
    assert sounding.any()
    # the segmenter's sounding frames are the audible ones that are not a tone
    assert np.array_equal(audible_frames(ev.energy_db, ev.dead) & (labels == CODE[Label.SILENCE]), sounding)
