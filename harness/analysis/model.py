"""Parameters, the analyzer id and the result of one file's phase analysis.

The labels and segments it returns are shared vocabulary (``harness.vocab``).

Every threshold of the analysis lives in ``AnalysisParams``; its defaults are declared
here once. ``analyzer_id(params)`` names the analyzer version and a hash of the
parameters, so a verdict can be reproduced from the evidence years later.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from harness.audio.level import AUDIBLE, Audibility
from harness.vocab import Label, Segment

ANALYZER_NAME = "harness-phases"
ANALYZER_VERSION = "1.6"


@dataclass(frozen=True)
class AnalysisParams:
    """All thresholds of the analysis (units in the names; dB are dBFS unless said otherwise)."""

    # front end
    analysis_rate_hz: int = 8000  # every input is brought to this rate
    frame_s: float = AUDIBLE.frame_s  # label resolution (0.020)
    fft_size: int = 512  # 64 ms at 8 kHz: resolves 440+480 Hz and +-1.5% tone classes
    fft_hop_frames: int = 2  # one spectrum every 2 frames (40 ms): the spectra are the cost
    band_low_hz: float = 300.0
    band_high_hz: float = 3400.0
    partial_range_db: float = 15.0  # spectral peaks this close to the strongest are partials
    # silence / activity (hysteresis on frame energy, relative to the file's noise floor): the
    # one definition of "audible", harness/audio/level.py, whose defaults these are, so that
    # the lab and the benchmarks can measure audibility without importing the analyzer
    digital_silence_abs: float = AUDIBLE.digital_silence_abs  # |sample| at or below this is a dead line
    active_on_db: float = AUDIBLE.on_db  # frame energy above this starts activity (-48)
    active_off_db: float = AUDIBLE.off_db  # ... and below this ends it (-54)
    floor_window_s: float = AUDIBLE.floor_window_s  # background = lowest level within this window (5 s) ...
    floor_cap_db: float = AUDIBLE.floor_cap_db  # ... but never above this (-48: louder is content)
    floor_margin_on_db: float = AUDIBLE.floor_margin_on_db  # activity also needs this much above it (6)
    floor_margin_off_db: float = AUDIBLE.floor_margin_off_db  # (3)
    min_silence_s: float = 0.40  # shorter pauses inside activity are bridged
    min_active_s: float = 0.10  # shorter bursts of activity are dropped
    # music vs speech: window inputs (segmenter.WindowScore) -> a small neural network whose
    # weights are in harness/analysis/speech_model.json, named here by the file's SHA-256;
    # trained by harness/bench/train.py (docs/ANALYSIS.md, "Speech model")
    window_s: float = 1.0
    speech_model_sha256: str = "6a1e5de43db0ed537dc05a56ba4cfc127404ad661006c623fae0c9630dbf8399"
    low_energy_db: float = 10.0  # a frame this far below its window's mean level is a pause
    # rhythm: periodicity of the onsets at beat lags in the rhythm_window_s before and after
    # each frame (segmenter.rhythm_strength)
    rhythm_window_s: float = 3.0
    rhythm_min_window_s: float = 1.5
    rhythm_min_lag_s: float = 0.3
    rhythm_max_lag_s: float = 1.0
    rhythm_lag_step_s: float = 0.02
    # caps on the energy-dynamics inputs (window std of frame dB, spectral flux, |dB change|):
    # beyond speech's typical values more dynamics is no more speech-like (staccato notes
    # separated by silent gaps have more than any speech)
    score_std_cap_db: float = 6.0
    score_flux_cap_db: float = 9.0
    score_step_cap_db: float = 3.5
    score_smooth_s: float = 0.5
    speech_on: float = 0.6  # hysteresis on the speech probability
    speech_off: float = 0.4
    min_music_s: float = 1.5
    # a dropout: digital silence (<= dropout_db: the quietest G.711 code is -72 dBFS) of
    # at most dropout_max_s between sounding frames, the frame before it within dropout_edge_db
    # of the loudest in the dropout_edge_s before it (cut off, not decayed), is audio lost in
    # transit: the model's windows leave it out (a 0.1 s gap in hold music scored as a pause
    # and made up to 1.8 s of speech; a lab call under load had one)
    dropout_max_s: float = 0.2
    dropout_db: float = -70.0
    dropout_edge_db: float = 10.0
    dropout_edge_s: float = 0.2
    min_speech_s: float = 0.5
    # speech with music on both sides (an announcement over or between hold music) is at
    # least this long; shorter speech-like stretches there are the music's own phrasing.
    # Chosen between two real cases, not fitted: a 0.6 s phrase of moh_2 (music) and an
    # announcement 6 dB over cold_day whose speech-like core is ~0.8 s (speech)
    min_speech_in_music_s: float = 0.8
    # a speech-like stretch shorter than edge_fade_max_s at a region edge next to music is the
    # music fading in or out, unless its summed per-frame log-odds of speech (each capped at
    # 4) reach edge_speech_keep_logodds: a fade scores <= 54 on the labelled set and the real
    # tracks (<= 0.7 s long), but the boundary placement leaves the fade-in of lab moh_1 a
    # 0.46 s stretch scoring ~90 at some sample offsets; a spoken word ("goodbye", 0.9 s)
    # scores 138: the line lies between them
    edge_fade_max_s: float = 1.0
    edge_speech_keep_logodds: float = 100.0
    # music/speech changes are refined within boundary_search_s; a search this wide is safe
    # because no per-frame linear evidence drags a change across music the model has not heard
    boundary_search_s: float = 1.5
    boundary_min_side_s: float = 0.2  # ... keeping at least this much on either side of the change
    change_weight: float = 1.0  # weight of the spectral change (band log-energies) at a split ...
    change_window_s: float = 0.4  # ... compared over this much either side
    # ... plus boundary_model_weight x (speech model's logit on one side - on the other), over
    # boundary_model_window_s either side of the split, each logit capped at +-boundary_model_cap
    # (weight and windows chosen on the validation set; docs/ANALYSIS.md, "Validation set and
    # boundaries") ...
    boundary_model_weight: float = 6.0
    boundary_model_window_s: float = 0.4
    boundary_model_cap: float = 6.0
    # ... and boundary_model_long_weight x the same over boundary_model_long_s windows: a split
    # inside speech between a word's end and the next word can look like music then speech
    # over 0.4 s, not over 1 s (a lab greeting after moh_1 started 1.1 s late without it)
    boundary_model_long_s: float = 1.0
    boundary_model_long_weight: float = 3.0
    # ... and boundary_model_short_weight x the same over boundary_model_short_s windows: a 0.4 s
    # window that holds the last 0.2 s of music and the first of a voice already scores speech,
    # so without this term a cut straight from music into a voice is placed up to 0.28 s early
    # (lab: moh_1 then greeting_zh; weight chosen on the four sets, the lab cuts and the lab survey)
    boundary_model_short_s: float = 0.2
    boundary_model_short_weight: float = 1.5
    # ... plus boundary_logodds_weight x the summed log-odds of the window speech probability
    # (capped at +-4 a frame) over the frames a move would relabel: moving a change across
    # frames the windows call firmly speech or music costs (an announcement over music kept
    # its last 1.8 s without it)
    boundary_logodds_weight: float = 0.1
    # splits scoring within boundary_tie_margin of the best, when contiguous, count as one:
    # the change goes to their centre (lab gentle calls: music end 66 ms late without it)
    boundary_tie_margin: float = 10.0
    pause_snap_s: float = 0.16  # a pause this close to a music/speech change is silence between them
    # tones
    tone_purity: float = 0.90  # energy share of the two strongest spectral peaks
    tone_freq_tol: float = 0.015  # relative frequency tolerance (2.5% confuses A4=440 with 450 Hz)
    tone_edge_drop_db: float = 9.0  # tone edges refined to frames within this of the tone level
    dtmf_min_s: float = 0.06
    sit_min_s: float = 0.20
    sit_max_s: float = 0.45
    ring_min_on_s: float = 0.7
    ring_max_gap_s: float = 6.5
    busy_max_on_s: float = 0.75
    busy_max_gap_s: float = 0.75
    # a busy cadence repeats its on and off times: spread at most max(slack, spread x longest)
    cadence_slack_s: float = 0.1
    cadence_spread: float = 0.25
    tone_gap_drop_db: float = 12.0  # cadence gaps / a lone tone's surroundings this far below it
    tone_min_s: float = 0.25  # a lone steady tone (beep) at least this long
    tone_max_db_std: float = 1.5  # ... with its level this steady (edge frames aside)
    tone_max_drift_db: float = 3.0  # ... and not decaying or swelling by more than this (a note)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def audibility(self) -> Audibility:
        """The activity thresholds of these parameters, as ``harness.audio.level`` takes them."""
        return Audibility(on_db=self.active_on_db, off_db=self.active_off_db, floor_window_s=self.floor_window_s,
                          floor_cap_db=self.floor_cap_db, floor_margin_on_db=self.floor_margin_on_db,
                          floor_margin_off_db=self.floor_margin_off_db,
                          digital_silence_abs=self.digital_silence_abs, frame_s=self.frame_s)


DEFAULT = AnalysisParams()


def analyzer_id(params: AnalysisParams = DEFAULT) -> str:
    """``harness-phases/<version>+<sha256[:8] of the canonical JSON of params>``."""
    blob = json.dumps(params.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    return f"{ANALYZER_NAME}/{ANALYZER_VERSION}+{hashlib.sha256(blob).hexdigest()[:8]}"


@dataclass
class AnalysisResult:
    """The analysis of one file, as written by ``harness analyze --format json``.

    ``truncated``: the file's header declares more audio than the file holds (a copy cut
    short, a write that never finished); ``duration_s`` and the segments cover what is
    there, and ``declared_duration_s`` is what the header claims (None when not truncated).
    """

    file: str
    sample_rate_hz: int
    duration_s: float
    analyzer: str
    params: dict[str, object]
    segments: list[Segment]
    summary: dict[str, float] = field(default_factory=dict)
    truncated: bool = False
    declared_duration_s: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "sample_rate_hz": self.sample_rate_hz,
            "duration_s": round(self.duration_s, 3),
            "truncated": self.truncated,
            "analyzer": self.analyzer,
            "params": self.params,
            "segments": [
                {"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3), "label": s.label.value}
                for s in self.segments
            ],
            "summary": {k: round(v, 3) for k, v in self.summary.items()},
        }


def summarize(segments: list[Segment]) -> dict[str, float]:
    """Seconds per label, every label present (0.0 when absent), in Label order."""
    out = {lab.value: 0.0 for lab in Label}
    for s in segments:
        out[s.label.value] += s.duration_s
    return out


