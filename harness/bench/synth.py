"""Labelled synthetic calls built from real Debian audio, with exactly known boundaries.

Sources (licences in docs/ANALYSIS.md): Asterisk hold music (asterisk-moh-opsound-wav,
CC-BY-SA-3.0), Asterisk English prompts (asterisk-core-sounds-en-wav, CC-BY-SA-3.0) and
espeak-ng speech (English and Mandarin ``-v cmn``). Tones are generated to the national
plans. Each call is mixed at 8 kHz with a per-sample label track, passed through G.711
(µ-law or A-law) and, for the 16 kHz variant, upsampled after the codec as pjsua2 does
when its bridge runs at 16 kHz.

``python -m harness.bench synth --out build/analysis-set`` writes ``<name>.wav`` plus
``<name>.json`` (segments and boundary events) for every call. The real audio and the
espeak-ng lines of each set are listed in ``corpus.yaml`` beside this file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
from pydantic import BaseModel, ConfigDict, field_validator

from harness.analysis.tones import BUSY_ONLY_HZ, DTMF_HIGH_HZ, DTMF_LOW_HZ, RINGBACK_ONLY_HZ, SIT_HZ
from harness.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from harness.errors import BadInput
from harness.packaged_audio import (
    ENGLISH,
    FRENCH_ARMELLE,
    FRENCH_JUNE,
    ITALIAN_CARLO,
    ITALIAN_MENARDI,
    PKG_MOH,
    RUSSIAN,
    SPANISH_ALLISON,
    SPANISH_CO,
    moh_tracks,
)
from harness.vocab import Label
from harness.yamlfile import load_model

SR = 8000
LABEL_CODE = {lab: i for i, lab in enumerate(Label)}
CODE_LABEL = list(Label)

# Tone frequencies come from the analyzer's tables (harness.analysis.tones), so that the set is
# generated to the plans the analyzer names. Single-tone plans (China's 450 Hz, Europe's 425 Hz)
# and the on/off cadences are only needed here: the analyzer finds those by band and cadence.
US_RINGBACK_HZ, UK_RINGBACK_HZ = RINGBACK_ONLY_HZ
(US_BUSY_HZ,) = BUSY_ONLY_HZ
RINGBACK = {  # country: (freqs, [(on_s, off_s), ...] one cycle)
    "cn": ((450.0,), [(1.0, 4.0)]),
    "us": (US_RINGBACK_HZ, [(2.0, 4.0)]),
    "eu": ((425.0,), [(1.0, 4.0)]),
    "uk": (UK_RINGBACK_HZ, [(0.4, 0.2), (0.4, 2.0)]),
}
BUSY = {
    "cn": ((450.0,), [(0.35, 0.35)]),
    "us": (US_BUSY_HZ, [(0.5, 0.5)]),
    "eu": ((425.0,), [(0.5, 0.5)]),
}
SIT_FREQS = SIT_HZ[0::2]  # the low-frequency variant of each of the three SIT segments
SIT_DUR_S = (0.274, 0.274, 0.380)
DTMF_KEYS = "123A456B789C*0#D"


def db(x: float) -> float:
    return 10 ** (x / 20)


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20))


def read_8k(path: Path) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=False)
    if sr != SR:
        raise ValueError(f"{path}: expected {SR} Hz, got {sr}")
    return x


def activity(x: np.ndarray, bridge_s: float = 0.4) -> np.ndarray:
    """Per-sample oracle activity of a clean clip: 20 ms frames above max(peak-35, -55) dBFS,
    pauses shorter than ``bridge_s`` bridged."""
    n = len(x) // 160
    fr = x[: n * 160].reshape(n, 160).astype(np.float64)
    e = 10 * np.log10(np.mean(fr**2, axis=1) + 1e-12)
    act = e > max(float(e.max()) - 35.0, -55.0)
    idx = np.flatnonzero(act)
    if len(idx) == 0:
        return np.zeros(len(x), bool)
    gaps = np.flatnonzero(np.diff(idx) > 1)
    for g in gaps:
        a, b = idx[g], idx[g + 1]
        if (b - a - 1) * 0.02 < bridge_s:
            act[a:b] = True
    out = np.zeros(len(x), bool)
    out[: n * 160] = np.repeat(act, 160)
    return out


def at_level(x: np.ndarray, level_db: float) -> np.ndarray:
    """``x`` scaled so that its active part (``activity``; the whole clip if none) has an RMS
    of ``level_db`` dBFS."""
    act = activity(x)
    return x * db(level_db - rms_db(x[act] if act.any() else x))


@dataclass
class Call:
    """A call under construction: audio, per-sample labels and boundary events (seconds)."""

    name: str
    rng: np.random.Generator
    audio: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    events: dict[str, list[float]] = field(default_factory=dict)
    n: int = 0

    def t(self) -> float:
        return self.n / SR

    def event(self, name: str, t_s: float | None = None) -> None:
        self.events.setdefault(name, []).append(round(self.t() if t_s is None else t_s, 4))

    def add(self, x: np.ndarray, lab: np.ndarray) -> None:
        self.audio.append(x.astype(np.float32))
        self.labels.append(lab.astype(np.int8))
        self.n += len(x)

    def silence(self, dur_s: float, noise_db: float | None = None) -> None:
        k = round(dur_s * SR)
        x = np.zeros(k) if noise_db is None else self.rng.standard_normal(k) * db(noise_db)
        self.add(x, np.full(k, LABEL_CODE[Label.SILENCE]))

    def tone(self, freqs: tuple[float, ...], dur_s: float, level_db: float, label: Label) -> None:
        k = round(dur_s * SR)
        t = np.arange(k) / SR
        x = sum(np.sin(2 * np.pi * f * t + self.rng.uniform(0, 6.28)) for f in freqs)
        x = np.asarray(x) * db(level_db) * np.sqrt(2 / len(freqs))
        self.add(x, np.full(k, LABEL_CODE[label]))

    def cadence(self, spec: tuple[tuple[float, ...], list[tuple[float, float]]], cycles: int,
                level_db: float, label: Label, noise_db: float | None = None) -> None:
        freqs, pattern = spec
        for _ in range(cycles):
            for on, off in pattern:
                self.tone(freqs, on, level_db, label)
                self.silence(off, noise_db)

    def clip(self, x: np.ndarray, label: Label, level_db: float, bed: np.ndarray | None = None) -> None:
        """Add a clean clip labelled ``label`` where active (silence elsewhere), optionally over
        a music bed (then the inactive parts are music)."""
        x = at_level(x, level_db)
        act = activity(x)
        lab = np.where(act, LABEL_CODE[label], LABEL_CODE[Label.SILENCE])
        if bed is not None:
            bed = bed[: len(x)]
            lab = np.where(act, lab, np.where(activity(bed), LABEL_CODE[Label.MUSIC], lab))
            x = x + bed
        self.add(x, lab)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate(self.audio)
        return np.clip(x, -1.0, 32767 / 32768), np.concatenate(self.labels)


@dataclass(frozen=True)
class SourceSet:
    """The real audio a labelled set is built from: hold-music tracks (any format and rate sox
    reads; brought to 8 kHz mono), recorded prompts, and espeak-ng lines for greetings and
    the agent's dialogue."""

    name: str
    music: tuple[Path, ...]
    prompts: tuple[Path, ...]
    espeak_greetings: tuple[tuple[str, str], ...]
    espeak_agent: tuple[tuple[str, str], ...]
    packages: tuple[str, ...]  # Debian packages that hold music and prompts

    def missing(self) -> list[Path]:
        """Music and prompt files of this set that are not on this machine."""
        return [p for p in self.music + self.prompts if not p.exists()]


CORPUS_FILE = Path(__file__).with_name("corpus.yaml")
# The voices a prompt block of the corpus may name (the constants of harness.packaged_audio).
VOICES = {"ENGLISH": ENGLISH, "FRENCH_JUNE": FRENCH_JUNE, "ITALIAN_CARLO": ITALIAN_CARLO, "RUSSIAN": RUSSIAN,
          "SPANISH_ALLISON": SPANISH_ALLISON, "ITALIAN_MENARDI": ITALIAN_MENARDI, "SPANISH_CO": SPANISH_CO,
          "FRENCH_ARMELLE": FRENCH_ARMELLE}


class _PromptBlock(BaseModel):
    """Every prompt of ``names`` read by each voice of ``voices``."""

    model_config = ConfigDict(extra="forbid")
    voices: list[str]
    names: list[str]

    @field_validator("voices")
    @classmethod
    def _known(cls, voices: list[str]) -> list[str]:
        for v in voices:
            if v not in VOICES:
                raise ValueError(f"unknown voice {v!r}; choose from {', '.join(VOICES)}")
        return voices


class _SetEntry(BaseModel):
    """One source set as the corpus file declares it."""

    model_config = ConfigDict(extra="forbid")
    music: Literal["packaged"] | list[str]
    music_packages: list[str] = []
    prompts: list[_PromptBlock]
    espeak_greetings: list[tuple[str, str]]
    espeak_agent: list[tuple[str, str]]


class _Corpus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sets: dict[str, _SetEntry]


def load_source_sets(path: Path = CORPUS_FILE) -> dict[str, SourceSet]:
    """The source sets ``path`` declares, by name in file order (BadInput naming the line if malformed).

    ``music: packaged`` is every packaged hold-music track; a prompt path is where its voice's
    package has (or would put) it; packages are the music packages, then the voices' packages.
    """
    corpus = load_model(path, _Corpus)
    sets: dict[str, SourceSet] = {}
    for name, entry in corpus.sets.items():
        if entry.music == "packaged":
            music, music_packages = tuple(moh_tracks()), [PKG_MOH]
        else:
            music, music_packages = tuple(Path(p) for p in entry.music), entry.music_packages
        voices = [VOICES[v] for block in entry.prompts for v in block.voices]
        prompts = tuple(VOICES[v].expected(n) for block in entry.prompts for v in block.voices for n in block.names)
        packages = tuple(dict.fromkeys([*music_packages, *(v.package for v in voices)]))
        sets[name] = SourceSet(name, music, prompts, tuple(entry.espeak_greetings), tuple(entry.espeak_agent),
                               packages)
    return sets


SOURCE_SETS = load_source_sets()
DEV, HELDOUT, UNSEEN, VAL, FINAL, TRAIN = (SOURCE_SETS[n] for n in ("dev", "heldout", "unseen", "val", "final",
                                                                      "train"))


def load_8k(path: Path, cache: Path) -> np.ndarray:
    """8 kHz mono float samples of an audio file: read as is when it already is, else converted
    once with sox into ``cache`` (downmix, resample; ``-G`` guards against clipping: some
    tracks exceed full scale; ``-D``: no dither, which sox otherwise adds at random, so the
    same sources give the same set on every machine)."""
    if path.suffix != ".gsm":  # raw GSM 06.10 (8 kHz, no header): only sox reads it
        info = sf.info(str(path))
        if info.samplerate == SR and info.channels == 1:
            return read_8k(path)
    out = cache / f"{path.parent.name}-{path.stem}-8k.wav".replace(" ", "_")  # same stems in two folders
    if not out.exists():
        if shutil.which("sox") is None:
            raise BadInput("sox is needed: apt-get install sox")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["sox", "-G", "-D", str(path), "-r", str(SR), "-c", "1", "-b", "16", str(out)], check=True)
    return read_8k(out)


class Sources:
    """Loads and caches the real audio of a ``SourceSet`` (converted files and espeak-ng lines
    are written once to ``cache``)."""

    def __init__(self, cache: Path, sources: SourceSet = DEV) -> None:
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)
        missing = sources.missing()
        if missing:
            raise BadInput(f"{len(missing)} source files missing (first: {missing[0]}): "
                               f"apt-get install {' '.join(sources.packages)}")
        self.moh = [load_8k(p, cache) for p in sources.music]
        self.prompts = [load_8k(p, cache) for p in sources.prompts]
        self.greetings = [self._espeak(v, t, i) for i, (v, t) in enumerate(sources.espeak_greetings)]
        self.agent = [self._espeak(v, t, 100 + i) for i, (v, t) in enumerate(sources.espeak_agent)]

    def _espeak(self, voice: str, text: str, idx: int) -> np.ndarray:
        out = self.cache / f"espeak-{idx:03d}-{voice}.wav"
        if not out.exists():
            if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
                raise BadInput("espeak-ng and sox are needed: apt-get install espeak-ng sox")
            raw = out.with_suffix(".raw.wav")
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
            subprocess.run(["sox", "-D", str(raw), "-r", str(SR), "-c", "1", "-b", "16", str(out)], check=True)
            raw.unlink()
        return read_8k(out)

    def music(self, rng: np.random.Generator, dur_s: float, track: int | None = None,
              fade_in: bool = True, fade_out: bool = True) -> np.ndarray:
        """A random stretch of a hold-music track; 50 ms fades unless the switch is a hard cut."""
        k = int(dur_s * SR)
        m = self.moh[int(rng.integers(len(self.moh))) if track is None else track % len(self.moh)]
        start = int(rng.integers(0, max(1, len(m) - k)))
        seg = m[start: start + k]
        if len(seg) < k:
            seg = np.concatenate([seg, m[: k - len(seg)]])
        fade = min(k // 4, 400)  # 50 ms fades: MOH is switched, not cut mid-sample
        seg = seg.copy()
        if fade_in:
            seg[:fade] *= np.linspace(0, 1, fade)
        if fade_out:
            seg[-fade:] *= np.linspace(1, 0, fade)
        return seg

    def greeting(self, rng: np.random.Generator) -> np.ndarray:
        pool = self.prompts + self.greetings
        return pool[int(rng.integers(len(pool)))]


def _music(c: Call, src: Sources, dur_s: float, level_db: float, fade_in: bool = True,
           fade_out: bool = True) -> None:
    m = src.music(c.rng, dur_s, fade_in=fade_in, fade_out=fade_out)
    m = m * db(level_db - rms_db(m))
    lab = np.where(activity(m), LABEL_CODE[Label.MUSIC], LABEL_CODE[Label.SILENCE])
    c.event("music_start", c.t() + _first(lab == LABEL_CODE[Label.MUSIC]))
    c.event("music_end", c.t() + _last(lab == LABEL_CODE[Label.MUSIC]))
    c.add(m, lab)


def staccato(rng: np.random.Generator, dur_s: float) -> np.ndarray:
    """Synthetic staccato music: plucked notes (harmonic partials decaying exponentially) on a
    metrical grid with rests, so that silent gaps of 50-400 ms separate the notes (the hard case
    for energy-dynamics features: hold music that opens this way was called speech)."""
    k = int(dur_s * SR)
    x = np.zeros(k + SR)
    beat_s = 60.0 / float(rng.uniform(80, 160))
    step_s = beat_s / float(rng.choice([1, 2]))
    root = float(rng.uniform(180, 400))
    scale = np.array([0, 2, 4, 7, 9, 12, 14, 16]) if rng.random() < 0.5 else np.array([0, 3, 5, 7, 10, 12, 15, 17])
    pattern = rng.random(int(rng.integers(4, 9))) < 0.75  # onsets of a repeated bar (True = note)
    pattern[0] = True
    n_harm = int(rng.integers(3, 9))
    t_s, i = 0.0, 0
    while t_s < dur_s:
        if pattern[i % len(pattern)]:
            notes = [root * 2 ** (float(rng.choice(scale)) / 12)]
            if rng.random() < 0.3:  # a dyad now and then
                notes.append(notes[0] * 2 ** (float(rng.choice([3, 4, 7])) / 12))
            length = int(float(rng.uniform(0.35, 0.8)) * step_s * SR)
            t = np.arange(length) / SR
            tau = float(rng.uniform(0.04, 0.15))
            note = sum(np.sin(2 * np.pi * f * h * t) / h ** float(rng.uniform(0.7, 1.5))
                       for f in notes for h in range(1, n_harm + 1) if f * h < 3600)
            env = np.exp(-t / tau) * np.minimum(1.0, t / 0.004)
            env[-40:] *= np.linspace(1, 0, min(40, length))
            a = int(t_s * SR)
            x[a: a + length] += np.asarray(note) * env
        t_s += step_s * float(rng.uniform(0.98, 1.02))
        i += 1
    return x[:k].astype(np.float32)


def _staccato(c: Call, dur_s: float, level_db: float) -> None:
    m = staccato(c.rng, dur_s)
    m = m * db(level_db - rms_db(m[activity(m)]))
    lab = np.where(activity(m), LABEL_CODE[Label.MUSIC], LABEL_CODE[Label.SILENCE])
    c.event("music_start", c.t() + _first(lab == LABEL_CODE[Label.MUSIC]))
    c.event("music_end", c.t() + _last(lab == LABEL_CODE[Label.MUSIC]))
    c.add(m, lab)


def _first(mask: np.ndarray) -> float:
    idx = np.flatnonzero(mask)
    return float(idx[0]) / SR if len(idx) else 0.0


def _last(mask: np.ndarray) -> float:
    idx = np.flatnonzero(mask)
    return float(idx[-1] + 1) / SR if len(idx) else 0.0


def _speech(c: Call, x: np.ndarray, level_db: float, event: str | None, bed: np.ndarray | None = None) -> None:
    t0 = c.t()
    act = activity(x)
    if event:
        c.event(f"{event}_start", t0 + _first(act))
        c.event(f"{event}_end", t0 + _last(act))
    c.clip(x, Label.SPEECH, level_db, bed)


def _trim(x: np.ndarray) -> np.ndarray:
    """The clip without its leading and trailing silence (so it can follow music directly)."""
    idx = np.flatnonzero(activity(x))
    return x[idx[0]: idx[-1] + 1] if len(idx) else x


def _dead(c: Call, dur_s: float) -> None:
    c.event("dead_start")
    c.silence(dur_s, None if c.rng.random() < 0.5 else float(c.rng.uniform(-78, -66)))


def build_call(kind: str, seed: int, src: Sources) -> tuple[np.ndarray, np.ndarray, dict[str, list[float]]]:
    """One synthetic call of ``kind``; returns (audio float32 at 8 kHz, per-sample label codes, events)."""
    rng = np.random.default_rng(seed)
    c = Call(f"{kind}-{seed}", rng)
    country = ["cn", "us", "eu", "uk"][seed % 4]
    tone_db = float(rng.uniform(-22, -12))
    speech_db = float(rng.uniform(-26, -16))
    music_db = float(rng.uniform(-28, -18))
    c.silence(float(rng.uniform(0.05, 0.5)))
    if kind in ("gentle", "agent", "direct", "ivr"):
        c.cadence(RINGBACK[country], int(rng.integers(1, 4)), tone_db, Label.RINGBACK)
    if kind == "gentle":  # answer, music, greeting, music, hang-up -> dead line
        _music(c, src, float(rng.uniform(15, 45)), music_db)
        if rng.random() < 0.5:
            c.silence(float(rng.uniform(0.4, 1.5)))
        _speech(c, src.greeting(rng), speech_db, "greeting")
        if rng.random() < 0.5:
            c.silence(float(rng.uniform(0.4, 1.0)))
        _music(c, src, float(rng.uniform(5, 20)), music_db)
        _dead(c, float(rng.uniform(4, 12)))
    elif kind == "agent":  # greeting, music, announcement over music, music, agent dialogue
        _speech(c, src.greeting(rng), speech_db, "greeting")
        c.silence(float(rng.uniform(0.3, 1.0)))
        _music(c, src, float(rng.uniform(8, 25)), music_db)
        bed_db = music_db - float(rng.uniform(6, 14))
        ann = src.greeting(rng)
        bed = src.music(rng, len(ann) / SR + 0.1)
        _speech(c, ann, speech_db, "announcement", bed * db(bed_db - rms_db(bed)))
        _music(c, src, float(rng.uniform(5, 15)), music_db)
        c.silence(float(rng.uniform(0.3, 1.2)))
        noise_db = float(rng.uniform(-60, -50))
        first = True
        for i in rng.permutation(len(src.agent))[:4]:
            x = src.agent[int(i)]
            x = x * db(speech_db - rms_db(x[activity(x)]))
            x = x + rng.standard_normal(len(x)) * db(noise_db)
            t0 = c.t()
            if first:
                c.event("agent_start", t0 + _first(activity(src.agent[int(i)])))
                first = False
            c.add(x, np.where(activity(src.agent[int(i)]), LABEL_CODE[Label.SPEECH], LABEL_CODE[Label.SILENCE]))
            c.silence(float(rng.uniform(0.6, 2.0)), noise_db)
        _dead(c, float(rng.uniform(2, 6)))
    elif kind == "direct":  # hold music cut straight into a greeting and back, no pause either side
        _music(c, src, float(rng.uniform(8, 30)), music_db, fade_out=False)
        c.event("music_to_speech")
        _speech(c, _trim(src.greeting(rng)), speech_db, "greeting")
        c.event("speech_to_music")
        _music(c, src, float(rng.uniform(5, 15)), music_db, fade_in=False, fade_out=False)
        c.event("music_to_speech")
        _speech(c, _trim(src.greeting(rng)), speech_db, "greeting")
        c.silence(float(rng.uniform(0.4, 1.0)))
        _music(c, src, float(rng.uniform(5, 15)), music_db)
        _dead(c, float(rng.uniform(2, 6)))
    elif kind == "staccato":  # answer, staccato music, greeting, staccato music, dead line
        _staccato(c, float(rng.uniform(8, 25)), music_db)
        if rng.random() < 0.5:
            c.silence(float(rng.uniform(0.4, 1.5)))
        _speech(c, src.greeting(rng), speech_db, "greeting")
        c.silence(float(rng.uniform(0.4, 1.0)))
        _staccato(c, float(rng.uniform(5, 15)), music_db)
        _dead(c, float(rng.uniform(2, 6)))
    elif kind == "busy":
        b = BUSY[["cn", "us", "eu"][seed % 3]]
        c.cadence(b, int(rng.integers(4, 10)), tone_db, Label.BUSY_TONE)
        _dead(c, float(rng.uniform(1, 5)))
    elif kind == "sit":  # SIT then the not-in-service announcement, twice
        for _ in range(2):
            for f, d in zip(SIT_FREQS, SIT_DUR_S):
                c.tone((f,), d, tone_db, Label.SIT)
            c.silence(float(rng.uniform(0.1, 0.4)))
            _speech(c, src.greeting(rng), speech_db, None)
            c.silence(float(rng.uniform(0.5, 1.5)))
        _dead(c, float(rng.uniform(2, 6)))
    elif kind == "ivr":  # menu prompt, caller keys heard in-band, beep, prompt
        _speech(c, src.greeting(rng), speech_db, "greeting")
        c.silence(float(rng.uniform(0.5, 1.5)))
        for key in rng.choice(list(DTMF_KEYS), size=int(rng.integers(2, 6))):
            k = DTMF_KEYS.index(str(key))
            c.tone((DTMF_LOW_HZ[k // 4], DTMF_HIGH_HZ[k % 4]), float(rng.uniform(0.08, 0.2)), tone_db, Label.DTMF)
            c.silence(float(rng.uniform(0.08, 0.3)))
        c.silence(float(rng.uniform(0.5, 1.0)))
        c.tone((float(rng.choice([1000.0, 1400.0, 800.0])),), float(rng.uniform(0.3, 0.8)), tone_db, Label.TONE)
        c.silence(float(rng.uniform(0.3, 1.0)))
        _speech(c, src.greeting(rng), speech_db, None)
        c.silence(float(rng.uniform(0.5, 1.0)))
        _music(c, src, float(rng.uniform(8, 20)), music_db)
        _dead(c, float(rng.uniform(2, 6)))
    else:
        raise ValueError(f"unknown call kind {kind!r}")
    x, lab = c.finish()
    # the line went dead where the final silence begins (what the audio can show)
    loud = np.flatnonzero(lab != LABEL_CODE[Label.SILENCE])
    c.events["dead_start"] = [round(float(loud[-1] + 1) / SR, 4)] if len(loud) else [0.0]
    return x, lab, c.events


KINDS = ("gentle", "agent", "direct", "staccato", "busy", "sit", "ivr")
CODECS = ("ulaw", "alaw", "pcm16k")
# the held-out set: the kinds where music and speech meet, at the target rate
HELDOUT_KINDS = ("gentle", "agent", "direct")
HELDOUT_CODECS = ("ulaw", "alaw")


def through_codec(x: np.ndarray, codec: str) -> tuple[np.ndarray, int]:
    """Float audio at 8 kHz -> (int16 samples, rate) as the recording would hold them."""
    pcm = np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16)
    if codec == "ulaw":
        return ulaw_decode(ulaw_encode(pcm)), SR
    if codec == "alaw":
        return alaw_decode(alaw_encode(pcm)), SR
    if codec == "pcm16k":  # G.711 on the wire, bridge at 16 kHz
        y = ulaw_decode(ulaw_encode(pcm)).astype(np.float64)
        spec = np.fft.rfft(y)
        up = np.fft.irfft(np.concatenate([spec, np.zeros(len(spec) - 1)]), 2 * len(y)) * 2
        return np.clip(np.round(up), -32768, 32767).astype(np.int16), 2 * SR
    raise ValueError(codec)


def label_segments(lab: np.ndarray) -> list[dict[str, object]]:
    """Per-sample label codes -> [{start_s, end_s, label}] covering the whole call."""
    change = np.flatnonzero(np.diff(lab)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(lab)]])
    return [{"start_s": s / SR, "end_s": e / SR, "label": CODE_LABEL[int(lab[s])].value}
            for s, e in zip(starts, ends)]


def generate(out: Path, seeds: range = range(8), kinds: tuple[str, ...] = KINDS,
             codecs: tuple[str, ...] = CODECS, sources: SourceSet = DEV) -> list[Path]:
    """Write the labelled set to ``out``; returns the WAV paths. Reuses files already there."""
    src: Sources | None = None
    written = []
    for kind in kinds:
        for seed in seeds:
            x = lab = events = None
            for codec in codecs:
                wav = out / f"{kind}-{seed:03d}-{codec}.wav"
                written.append(wav)
                if wav.exists() and wav.with_suffix(".json").exists():
                    continue
                if x is None:
                    src = src or Sources(out / "src", sources)
                    x, lab, events = build_call(kind, seed, src)
                assert x is not None and lab is not None  # built above for this call's first codec
                pcm, rate = through_codec(x, codec)
                sf.write(wav, pcm, rate, subtype="PCM_16")
                meta = {"kind": kind, "seed": seed, "codec": codec, "sample_rate_hz": rate,
                        "duration_s": len(lab) / SR, "segments": label_segments(lab), "events": events}
                wav.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return written


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``python -m harness.bench synth``."""
    ap.add_argument("--out", type=Path, default=Path("build/analysis-set"))
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--sources", choices=sorted(SOURCE_SETS), default="dev",
                    help="dev: the tracks and voices the analyzer was tuned on; heldout, unseen, val, final: others (docs/ANALYSIS.md)")


def run(args: argparse.Namespace) -> int:
    """Write the labelled set the options name; returns the exit code."""
    heldout = args.sources != "dev"
    paths = generate(args.out, range(args.seeds), HELDOUT_KINDS if heldout else KINDS,
                     HELDOUT_CODECS if heldout else CODECS, SOURCE_SETS[args.sources])
    print(f"{len(paths)} labelled calls in {args.out}")
    return 0
