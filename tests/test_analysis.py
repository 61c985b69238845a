"""Phase analysis: exact expectations on synthetic tones and short real snippets.

Tolerances are stated per test; times in seconds.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_synth import SR, cadence, moh, pcm16, prompt, real, tone, write, zeros
from click.testing import CliRunner
from needs import require

from harness.analysis import (
    DEFAULT,
    AnalysisParams,
    analyze_file,
    analyze_samples,
    analyzer_id,
    wavfile,
)
from harness.analysis.evaluate import boundary_errors, confusion, frame_codes, shift
from harness.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from harness.bench.synth import staccato
from harness.cli import main
from harness.vocab import Label, Segment

ONSET_TOL_S = 0.05


def spans(segments: list[Segment], label: Label) -> list[tuple[float, float]]:
    return [(s.start_s, s.end_s) for s in segments if s.label == label]


def covered(segments: list[Segment], label: Label, a: float, b: float) -> float:
    """Fraction of [a, b) labelled ``label``."""
    return sum(max(0.0, min(e, b) - max(s, a)) for s, e in spans(segments, label)) / (b - a)


def assert_tiling(segments: list[Segment], duration_s: float) -> None:
    assert segments[0].start_s == 0.0
    assert segments[-1].end_s == pytest.approx(duration_s, abs=1e-6)
    for a, b in itertools.pairwise(segments):
        assert a.end_s == b.start_s and a.label != b.label


def test_analyzer_id_names_version_and_param_hash() -> None:
    a = analyzer_id(DEFAULT)
    assert a.startswith("harness-phases/1.6+") and len(a.split("+")[1]) == 8
    assert analyzer_id(AnalysisParams()) == a
    assert analyzer_id(AnalysisParams(min_music_s=2.0)) != a


def test_china_ringback_cadence_onsets_within_50ms() -> None:
    x = np.concatenate([zeros(0.3), cadence((450.0,), 1.0, 4.0, 3), tone((450.0,), 1.0)])
    segs = analyze_samples(pcm16(x), SR)
    assert_tiling(segs, len(x) / SR)
    rb = spans(segs, Label.RINGBACK)
    assert len(rb) == 4
    for k, (s, e) in enumerate(rb):
        assert s == pytest.approx(0.3 + 5 * k, abs=ONSET_TOL_S)
        assert e == pytest.approx(1.3 + 5 * k, abs=ONSET_TOL_S)
    assert {s.label for s in segs} == {Label.RINGBACK, Label.SILENCE}


@pytest.mark.parametrize("freqs,on_s,label", [
    ((440.0, 480.0), 2.0, Label.RINGBACK),  # US
    ((425.0,), 1.0, Label.RINGBACK),  # EU
    ((480.0, 620.0), 0.5, Label.BUSY_TONE),  # US busy
    ((425.0,), 0.5, Label.BUSY_TONE),  # EU busy
    ((450.0,), 0.35, Label.BUSY_TONE),  # China busy
])
def test_call_progress_tones(freqs: tuple[float, ...], on_s: float, label: Label) -> None:
    off = 4.0 if label == Label.RINGBACK else on_s
    x = np.concatenate([zeros(0.5), cadence(freqs, on_s, off, 4)])
    segs = analyze_samples(pcm16(x), SR)
    found = spans(segs, label)
    assert len(found) == 4
    assert found[0][0] == pytest.approx(0.5, abs=ONSET_TOL_S)
    assert covered(segs, label, 0.5, 0.5 + on_s) > 0.9


def test_sit_dtmf_and_beep() -> None:
    sit = np.concatenate([tone((913.8,), 0.274), tone((1370.6,), 0.274), tone((1776.7,), 0.380)])
    digits = np.concatenate([np.concatenate([tone((770.0, 1336.0), 0.1), zeros(0.1)]) for _ in range(3)])
    x = np.concatenate([zeros(0.5), sit, zeros(1.0), digits, zeros(1.0), tone((1000.0,), 0.5), zeros(1.0)])
    segs = analyze_samples(pcm16(x), SR)
    assert spans(segs, Label.SIT)[0][0] == pytest.approx(0.5, abs=ONSET_TOL_S)
    assert covered(segs, Label.SIT, 0.5, 1.428) > 0.9
    d = spans(segs, Label.DTMF)
    assert len(d) == 3 and d[0][0] == pytest.approx(2.428, abs=ONSET_TOL_S)
    beep = spans(segs, Label.TONE)
    assert len(beep) == 1 and beep[0][0] == pytest.approx(4.028, abs=ONSET_TOL_S)


def test_beep_off_frame_grid_is_a_tone_but_a_decaying_chord_is_not() -> None:
    # a beep that starts and ends mid-frame has partly empty edge frames: still a steady tone
    beep = tone((800.0,), 0.41)
    # a struck two-note chord decaying 20 dB/s (a staccato note in hold music), also surrounded by silence
    chord = tone((415.0, 519.0), 0.4, level_db=-20.0) * 10 ** (-np.arange(int(0.4 * SR)) / SR)
    x = np.concatenate([zeros(1.013), beep, zeros(1.0), chord.astype(np.float32), zeros(1.0)])
    segs = analyze_samples(pcm16(x), SR)
    t = spans(segs, Label.TONE)
    assert len(t) == 1
    assert t[0][0] == pytest.approx(1.013, abs=ONSET_TOL_S) and t[0][1] == pytest.approx(1.423, abs=ONSET_TOL_S)
    assert covered(segs, Label.TONE, 2.423, 2.823) == 0.0


def test_music_speech_dead_line_real_snippets() -> None:
    music = real(moh(), 30.0, 12.0, -22.0)
    speech = real(prompt(), 0.0, 4.0, -20.0)
    x = np.concatenate([music, zeros(0.8), speech, zeros(6.0)])
    segs = analyze_samples(pcm16(x), SR)
    assert covered(segs, Label.MUSIC, 0.0, 12.0) > 0.97
    assert covered(segs, Label.SPEECH, 12.8, 12.8 + 3.0) > 0.9
    last = segs[-1]
    assert last.label == Label.SILENCE and last.end_s - last.start_s >= 6.0
    music_end = spans(segs, Label.MUSIC)[-1][1]
    assert music_end == pytest.approx(12.0, abs=0.1)


def test_staccato_music_is_music_and_the_greeting_after_it_speech() -> None:
    """Plucked notes separated by silent gaps have more energy dynamics than speech; their
    steady partials make them music (synthetic: harness.bench.synth.staccato)."""
    notes = staccato(np.random.default_rng(3), 10.0)
    notes = notes * 10 ** ((-22.0 - 10 * np.log10(np.mean(notes**2))) / 20)
    speech = real(prompt(), 0.0, 4.0, -20.0)
    x = np.concatenate([notes.astype(np.float32), zeros(0.8), speech, zeros(1.0)])
    segs = analyze_samples(pcm16(x), SR)
    assert covered(segs, Label.SPEECH, 0.0, 10.0) < 0.05
    assert covered(segs, Label.MUSIC, 0.0, 10.0) > 0.9
    assert covered(segs, Label.SPEECH, 10.8, 10.8 + 3.0) > 0.9


def test_announcement_over_music_is_speech() -> None:
    """The voice starts 0.07 s into the clip (5.07 s); its start is held to the issue's
    boundary target, 300 ms (1.4 put it 0.22 s early, 1.5 0.26 s: the music just before
    rises and scores speech-like)."""
    bed = real(moh(), 30.0, 14.0, -22.0)  # (60-68 s of this track is sparse and scores speech-like)
    speech = real(prompt(), 0.0, 4.0, -16.0)
    bed[5 * SR: 5 * SR + len(speech)] += speech
    segs = analyze_samples(pcm16(bed), SR)
    sp = spans(segs, Label.SPEECH)
    assert sp and sp[0][0] == pytest.approx(5.07, abs=0.3)
    assert sum(e - s for s, e in sp) >= 1.5
    assert covered(segs, Label.MUSIC, 0.0, 4.5) > 0.95


def lab_media(name: str) -> np.ndarray:
    """int16 samples of one of the lab's media files (``harness media``, 8 kHz)."""
    path = Path(__file__).resolve().parent.parent / "build" / "media" / f"{name}.wav"
    require(path.exists(), "lab media missing: run `make media`")
    return sf.read(path, dtype="int16")[0]


@pytest.mark.parametrize("track, length_s", [("moh_1", 15.0), ("moh_2", 6.0)])
def test_lab_hold_music_cut_into_mandarin_greeting(track: str, length_s: float) -> None:
    """The lab's own media (``harness media``), as a gentle-disconnect hotline plays it: hold
    music cut straight into the Mandarin greeting (no leading silence), through µ-law. Both
    changes within 150 ms, the campaign's p95 target (1.5 put them 0.24 and 0.28 s early: a
    0.4 s window holding the last 0.2 s of music and the first of the voice scores speech)."""
    music = lab_media(track)[: int(length_s * 8000)]
    x = ulaw_decode(ulaw_encode(np.concatenate([np.zeros(4000, np.int16), music, lab_media("greeting_zh")])))
    segs = analyze_samples(x, 8000)
    cut_s = 0.5 + length_s
    assert spans(segs, Label.MUSIC)[-1][1] == pytest.approx(cut_s, abs=0.15)
    assert spans(segs, Label.SPEECH)[0][0] == pytest.approx(cut_s, abs=0.15)


def test_no_speech_next_to_music_shorter_than_its_minimum() -> None:
    """A 0.1 s dip of 40 dB (not digital silence, so not a dropout) anywhere in 12 s of the
    lab's hold music, through µ-law: speech next to music is never shorter than
    ``min_speech_s``. Boundary placement ran after the minimum durations up to 1.5 and could
    leave shorter runs: without enforcing them again, 0.18-0.36 s of speech beside the dip at
    10 of these 48 places (and, in 1.5, beside a dropout in a lab call under load)."""
    bed = lab_media("moh_1")[: 15 * SR]
    shortest = []
    for gap_s in np.arange(2.0, 14.0, 0.25):
        x = bed.copy()
        dip = slice(int(gap_s * SR), int((gap_s + 0.1) * SR))
        x[dip] = x[dip] // 100
        segs = analyze_samples(ulaw_decode(ulaw_encode(x)), SR)
        shortest += [b.end_s - b.start_s for a, b, c in zip(segs, segs[1:], segs[2:])
                     if b.label == Label.SPEECH and Label.MUSIC in (a.label, c.label)]
    assert min(shortest, default=np.inf) >= DEFAULT.min_speech_s - 1e-6


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_dropout_in_hold_music_is_not_speech(law: str) -> None:
    """A 0.1 or 0.2 s dropout (digital silence: a late or lost packet) anywhere in the lab's
    hold music, after its fade-in, through µ-law or A-law: no speech at all (1.5 found speech
    around 74 of the 576 dropouts of ``python -m harness.bench cuts --dropouts``, up to
    1.8 s of it: the gap looked like a pause between words)."""
    encode, decode = (ulaw_encode, ulaw_decode) if law == "ulaw" else (alaw_encode, alaw_decode)
    bed = lab_media("moh_1")[: 15 * SR]
    found = []
    for length_s in (0.1, 0.2):
        for gap_s in np.arange(3.0, 14.0, 0.5):
            x = bed.copy()
            x[int(gap_s * SR): int((gap_s + length_s) * SR)] = 0
            found += [(gap_s, s) for s in analyze_samples(decode(encode(x)), SR) if s.label == Label.SPEECH]
    assert found == []


def test_music_cut_straight_into_speech_and_back() -> None:
    """No pause either side (a PBX switching hold music off for a prompt): both changes within
    150 ms (the campaign's p95 target), not half a window late."""
    speech = real(prompt(), 0.06, 3.94, -20.0)  # the prompt's 60 ms of leading silence cut off
    x = np.concatenate([real(moh(), 10.0, 8.0, -22.0), speech, real(moh(), 30.0, 6.0, -22.0)])
    segs = analyze_samples(pcm16(x), SR)
    end_s = 8.0 + len(speech) / SR
    assert spans(segs, Label.MUSIC)[0][1] == pytest.approx(8.0, abs=0.15)
    assert spans(segs, Label.SPEECH)[0][0] == pytest.approx(8.0, abs=0.15)
    assert spans(segs, Label.SPEECH)[0][1] == pytest.approx(end_s, abs=0.15)
    assert spans(segs, Label.MUSIC)[-1][0] == pytest.approx(end_s, abs=0.15)


def test_greeting_last_word_after_a_pause_is_speech_up_to_the_music() -> None:
    """A greeting whose last word ("goodbye") follows a 0.25 s pause, then hold music cut
    straight in: the word is speech and the music starts where the word ends (1.2 compared
    band energies across the pause and gave the word to the music, 0.9 s early)."""
    word = real(prompt("goodbye"), 0.0, 0.93, -20.0)
    lead = real(prompt(), 0.06, 2.5, -20.0)
    x = np.concatenate([real(moh(), 10.0, 6.0, -22.0), lead, zeros(0.25), word, real(moh(), 30.0, 6.0, -22.0)])
    active = np.flatnonzero(np.abs(word) > 10 ** (-50 / 20))
    word_end_s = 6.0 + 2.5 + 0.25 + (active[-1] + 1) / SR
    segs = analyze_samples(pcm16(x), SR)
    assert spans(segs, Label.SPEECH)[-1][1] == pytest.approx(word_end_s, abs=0.15)
    assert spans(segs, Label.MUSIC)[-1][0] == pytest.approx(word_end_s, abs=0.15)


def test_short_runs_go_to_the_side_with_less_evidence() -> None:
    """A 1.3 s music run (shorter than min_music_s) between a weakly speech-like 1 s stretch and
    a greeting: the weak stretch is flipped, not the strong music (1.2 flipped the music and
    called 2.7 s of hold music speech)."""
    from harness.analysis.segmenter import _min_runs

    p = np.concatenate([np.full(150, 0.02), np.full(50, 0.7), np.full(65, 0.05), np.full(100, 0.97)])
    r = p >= 0.5
    out = _min_runs(r, 25, 75, p, 50)
    assert not out[:265].any() and out[265:].all()
    # the same runs with strong evidence for the stretch and weak for the short music: that
    # music run is the one flipped
    q = np.concatenate([np.full(150, 0.02), np.full(50, 0.99), np.full(65, 0.45), np.full(100, 0.97)])
    assert _min_runs(r, 25, 75, q, 50)[150:].all()


def test_rhythm_strength_beat_against_irregular_onsets() -> None:
    """Onsets every 0.5 s score a beat; onsets at random times do not, including 1.5 s after
    the beat stopped inside the same active region (the window before the frame still holds
    the beat, the one after does not, and the smaller wins)."""
    from harness.analysis.segmenter import rhythm_strength

    rng = np.random.default_rng(3)
    n = 1000  # 20 s of 20 ms frames
    e = np.full(n, -40.0)
    for k in range(0, 500, 25):  # 10 s of beat
        e[k:k + 3] = -15.0
    t = 500
    while t < n - 5:  # 10 s of syllable-like onsets, 0.12-0.45 s apart
        e[t:t + 3] = -15.0 - rng.uniform(0, 6)
        t += int(rng.integers(6, 23))
    r = rhythm_strength(e.astype(np.float32), DEFAULT, np.ones(n, bool))
    assert np.median(r[150:350]) > 0.8
    assert np.median(r[650:900]) < 0.45
    assert r[575] < 0.45


def test_short_pause_between_music_and_speech_is_silence() -> None:
    """A pause shorter than min_silence_s is bridged inside music or speech, but between the
    two it is where one stopped and the other had not started."""
    x = np.concatenate([real(moh(), 30.0, 8.0, -22.0), zeros(0.3), real(prompt(), 0.06, 3.94, -20.0)])
    segs = analyze_samples(pcm16(x), SR)
    assert spans(segs, Label.MUSIC)[-1][1] == pytest.approx(8.0, abs=0.05)
    assert spans(segs, Label.SPEECH)[0][0] == pytest.approx(8.3, abs=0.05)
    assert covered(segs, Label.SILENCE, 8.02, 8.28) == 1.0


def test_comfort_noise_dead_line_is_silence() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([tone((1000.0,), 0.5), rng.standard_normal(10 * SR).astype(np.float32) * 10 ** (-70 / 20)])
    segs = analyze_samples(pcm16(x), SR)
    assert covered(segs, Label.SILENCE, 0.6, 10.5) == pytest.approx(1.0)


@pytest.mark.parametrize("rate", [16000, 32000, 48000])
def test_higher_rates_are_resampled(tmp_path: Path, rate: int) -> None:
    x = np.concatenate([zeros(0.5, rate), tone((450.0,), 1.0, sr=rate), zeros(4.0, rate), tone((450.0,), 1.0, sr=rate)])
    res = analyze_file(write(tmp_path / f"rb{rate}.wav", x, rate))
    assert res.sample_rate_hz == rate
    rb = spans(res.segments, Label.RINGBACK)
    assert [round(s, 1) for s, _ in rb] == [0.5, 5.5]


def test_blockwise_file_matches_whole_signal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    music = real(moh(), 0.0, 25.0, -22.0)
    x = np.concatenate([cadence((425.0,), 1.0, 4.0, 2), music, zeros(2.0), real(prompt(), 0.0, 4.0), zeros(3.0)])
    whole = analyze_samples(pcm16(x), SR)
    monkeypatch.setattr(wavfile, "BLOCK_S", 8.0)
    monkeypatch.setattr(wavfile, "MARGIN_S", 6.0)
    res = analyze_file(write(tmp_path / "long.wav", x))
    assert_tiling(res.segments, len(x) / SR)
    n = len(x) // 160
    agree = (frame_codes(whole, n) == frame_codes(res.segments, n)).mean()
    assert agree > 0.99
    assert sum(res.summary.values()) == pytest.approx(len(x) / SR, abs=1e-3)


def test_metric_fails_when_labels_are_shifted_by_one_second() -> None:
    truth = [Segment(0.0, 1.0, Label.SILENCE), Segment(1.0, 2.0, Label.RINGBACK), Segment(2.0, 5.0, Label.SILENCE),
             Segment(5.0, 30.0, Label.MUSIC), Segment(30.0, 34.0, Label.SPEECH), Segment(34.0, 40.0, Label.SILENCE)]
    events = {"music_start": [5.0], "music_end": [30.0], "greeting_start": [30.0], "dead_start": [34.0]}
    n = 2000
    tc = frame_codes(truth, n)
    assert np.trace(confusion(tc, tc)) == n
    moved = shift(truth, 1.0)
    c = confusion(tc, frame_codes(moved, n))
    assert np.trace(c) / n < 0.97
    errs = boundary_errors(events, moved)
    assert all(abs(v[0] - 1.0) < 1e-9 for v in errs.values())
    assert all(v[0] == 0.0 for v in boundary_errors(events, truth).values())


def test_g711_reference_values() -> None:
    x = np.array([0, 1000, -1000, 32767, -32768], np.int16)
    assert list(ulaw_encode(x)) == [0xFF, 0xCE, 0x4E, 0x80, 0x00]
    assert list(alaw_encode(x)) == [0xD5, 0xFA, 0x7A, 0xAA, 0x2A]
    y = np.arange(-32000, 32000, 7, dtype=np.int16)
    assert np.all(np.abs(ulaw_decode(ulaw_encode(y)).astype(int) - y) <= np.abs(y.astype(int)) // 16 + 16)
    assert np.all(np.abs(alaw_decode(alaw_encode(y)).astype(int) - y) <= np.abs(y.astype(int)) // 16 + 16)


def test_cli_json_contract(tmp_path: Path) -> None:
    x = np.concatenate([zeros(0.5), cadence((450.0,), 1.0, 4.0, 2)])
    path = write(tmp_path / "call.wav", x)
    r = CliRunner().invoke(main, ["analyze", str(path)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert set(doc) == {"file", "sample_rate_hz", "duration_s", "truncated", "analyzer", "params", "segments",
                        "summary"}
    assert doc["truncated"] is False and r.stderr == ""
    assert doc["sample_rate_hz"] == 8000 and doc["duration_s"] == pytest.approx(10.5)
    assert doc["analyzer"] == analyzer_id(DEFAULT) and doc["params"]["frame_s"] == 0.02
    assert [s["label"] for s in doc["segments"]] == ["silence", "ringback", "silence", "ringback", "silence"]
    assert set(doc["summary"]) == {lab.value for lab in Label}
    r = CliRunner().invoke(main, ["analyze", str(path), "--format", "csv"])
    assert r.exit_code == 0 and r.output.splitlines()[:2] == ["start_s,end_s,label", "0.000,0.500,silence"]
    r = CliRunner().invoke(main, ["analyze", str(path), "--format", "table"])
    assert r.exit_code == 0 and "ringback" in r.output


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    text = tmp / "notes.wav"
    text.write_text("not audio at all\n")
    empty = tmp / "empty.wav"
    empty.write_bytes(b"")
    good = write(tmp / "good.wav", tone((450.0,), 0.5))
    trunc = tmp / "trunc.wav"
    trunc.write_bytes(good.read_bytes()[:30])
    stereo = tmp / "stereo.wav"
    sf.write(stereo, np.zeros((800, 2), np.int16), SR, subtype="PCM_16")
    odd = tmp / "odd.wav"
    sf.write(odd, np.zeros(4410, np.int16), 44100, subtype="PCM_16")
    nosamples = tmp / "nosamples.wav"
    sf.write(nosamples, np.zeros(0, np.int16), SR, subtype="PCM_16")
    return {
        "text": (text, "not a readable audio file"), "empty": (empty, "not a readable audio file"),
        "truncated": (trunc, "not a readable audio file"), "stereo": (stereo, "2 channels; give a mono WAV"),
        "rate": (odd, "unsupported sample rate 44100 Hz"), "nosamples": (nosamples, "no audio samples"),
        "missing": (tmp / "absent.wav", "no such file"),
    }


@pytest.mark.parametrize("case", ["text", "empty", "truncated", "stereo", "rate", "nosamples", "missing"])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    path, message = _bad_files(tmp_path)[case]
    r = CliRunner().invoke(main, ["analyze", str(path)])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: ") and message in lines[0]


def _ringback_call(cycles: int = 2) -> np.ndarray:
    return np.concatenate([zeros(0.5), cadence((450.0,), 1.0, 4.0, cycles)])


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_float_wav_is_scaled_and_analysed_like_pcm16(tmp_path: Path, subtype: str) -> None:
    """A float WAV (samples in -1..1) gives the segments of the same audio in PCM16 (it was read
    unscaled: every sample 0, the whole call silence, exit 0)."""
    x = _ringback_call()
    as_float = tmp_path / "float.wav"
    sf.write(as_float, pcm16(x) / 32768.0, SR, subtype=subtype)  # exactly the PCM16 values
    r = CliRunner().invoke(main, ["analyze", str(as_float)])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    want = json.loads(CliRunner().invoke(main, ["analyze", str(write(tmp_path / "pcm.wav", x))]).stdout)
    assert got["segments"] == want["segments"]
    assert [s["label"] for s in got["segments"]] == ["silence", "ringback", "silence", "ringback", "silence"]


@pytest.mark.parametrize("value, kind", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_float_wav_with_nan_or_inf_is_bad_input(tmp_path: Path, value: float, kind: str) -> None:
    x = _ringback_call().astype(np.float64)
    at = int(1.25 * SR)
    x[at] = value
    x[at + 10] = value
    path = tmp_path / "bad.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    r = CliRunner().invoke(main, ["analyze", str(path)])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert lines == [(f"harness: error: {path}: {kind} sample at 1.250 s (2 NaN or infinite in 0.0-10.5 s); "
                     "a float WAV must hold finite samples")]


def _claims_more(path: Path, factor: int) -> None:
    """Patch the WAV header of ``path`` (written by soundfile: data chunk at byte 36) to declare
    ``factor`` times the data it holds."""
    b = bytearray(path.read_bytes())
    assert b[36:40] == b"data"
    size = int.from_bytes(b[40:44], "little")
    b[40:44] = (size * factor).to_bytes(4, "little")
    path.write_bytes(bytes(b))


@pytest.mark.parametrize("how", ["header claims more", "file cut short"])
def test_truncated_wav_is_analysed_with_a_warning(tmp_path: Path, how: str) -> None:
    """A header declaring more data than the file holds: what is there is analysed, exit 0,
    one warning line on stderr and ``"truncated": true`` (libsndfile says nothing)."""
    x = _ringback_call()
    path = write(tmp_path / "call.wav", x)
    if how == "header claims more":
        _claims_more(path, 2)
        held_s, declared_s = len(x) / SR, 2 * len(x) / SR
    else:
        data = path.read_bytes()
        kept = 44 + 2 * (len(x) // 2)
        path.write_bytes(data[:kept])
        held_s, declared_s = (kept - 44) / 2 / SR, len(x) / SR
    whole = json.loads(CliRunner().invoke(main, ["analyze", str(write(tmp_path / "whole.wav", x))]).stdout)
    r = CliRunner().invoke(main, ["analyze", str(path)])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["truncated"] is True and doc["duration_s"] == pytest.approx(held_s, abs=1e-3)
    assert doc["segments"][-1]["end_s"] == pytest.approx(held_s, abs=1e-3)
    if how == "header claims more":
        assert doc["segments"] == whole["segments"]
    assert r.stderr.splitlines() == [(f"harness: warning: {path}: truncated: the header declares "
                                     f"{declared_s:.3f} s of audio, the file holds {held_s:.3f} s; "
                                     "analysed what is there")]
    for fmt in ("csv", "table"):  # the warning whatever the format
        assert "truncated" in CliRunner().invoke(main, ["analyze", str(path), "--format", fmt]).stderr


def test_declared_frames_reads_the_header(tmp_path: Path) -> None:
    from harness.analysis.wavfile import declared_frames

    path = write(tmp_path / "a.wav", zeros(1.0))
    assert declared_frames(path) == SR
    mulaw = tmp_path / "u.wav"
    sf.write(mulaw, np.zeros(800, np.int16), SR, subtype="ULAW")  # 1 byte a sample, a fact chunk
    assert declared_frames(mulaw) == 800
    _claims_more(path, 3)
    assert declared_frames(path) == 3 * SR
    (tmp_path / "x.wav").write_bytes(b"not a wav file")
    assert declared_frames(tmp_path / "x.wav") is None


# --- the speech model (harness/analysis/speech_model.py, harness/bench/train.py) ---


def test_speech_model_file_is_the_one_the_parameters_name(tmp_path: Path) -> None:
    from harness.analysis import speech_model

    assert speech_model.file_sha256() == DEFAULT.speech_model_sha256
    other = tmp_path / "model.json"
    d = json.loads(speech_model.MODEL_PATH.read_text())
    d["b2"] += 1.0
    other.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="SHA-256"):
        speech_model.load(DEFAULT.speech_model_sha256 + "0", other)


def test_window_inputs_match_the_model() -> None:
    from harness.analysis import speech_model
    from harness.analysis.frames import frame_evidence, to_analysis_rate
    from harness.analysis.segmenter import WindowScore, activity, window_bounds

    x = real(moh(), 5.0, 8.0)
    ev = frame_evidence(to_analysis_rate(x, SR, DEFAULT), DEFAULT)
    _, sounding, active = activity(ev, DEFAULT)
    lo, hi = window_bounds(active, DEFAULT)
    f = WindowScore(ev, DEFAULT, sounding, active).features(lo, hi)
    assert f.shape == (len(speech_model.INPUTS), ev.n) and np.isfinite(f).all()


def test_mlp_training_learns_a_rule_a_line_cannot() -> None:
    """fit_mlp must learn XOR-like data (speech where exactly one input is high), which no
    logistic model separates; the held-out error shows the training can fail."""
    from harness.bench.train import fit_mlp

    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (4000, 3))
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(float)
    model = fit_mlp(x[:3000], y[:3000], epochs=200, lr=1e-2)
    err = np.mean((model.logit(x[3000:].T) > 0) != (y[3000:] == 1))
    assert err < 0.08
