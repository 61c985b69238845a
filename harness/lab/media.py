"""The lab's audio, prepared from Debian packages (never downloaded).

``prepare_media(out_dir)`` writes 8 kHz mono PCM16 WAVs with fixed names (the hotline
scenarios refer to them) plus ``MEDIA.json``, a manifest with each file's source package,
source files, duration, SHA-256 and licence. Sources and licences: docs/MEDIA.md.

    moh_1.wav .. moh_3.wav  real hold music (asterisk-moh-opsound-wav), at most 90 s each
    greeting_en.wav         real English prompts: "please hold ... next available representative"
    greeting_zh.wav         espeak-ng Mandarin (-v cmn): "先生您好，我们即将为您提供服务"
    ivr_menu.wav            real English IVR menu prompt ("... press one ... press zero")
    agent_en.wav            espeak-ng English agent turn with natural pauses
    agent_reply.wav         espeak-ng short agent reply (about 2 s)
    caller_hello.wav        espeak-ng caller line the dialer speaks to an agent

Idempotent: a file whose manifest entry has the same recipe and whose bytes still hash to
the recorded SHA-256 is left alone, so a second run only reads and hashes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from harness import packaged_audio
from harness.audio.resample import resample
from harness.digest import sha256_file
from harness.errors import BadInput, InfraError

SAMPLE_RATE_HZ = 8000
MAX_MOH_S = 90.0
MANIFEST = "MEDIA.json"
RECIPE_VERSION = 1  # bump when the processing below changes the output

ESPEAK = "espeak-ng"

# Where the packaged sources are is harness.packaged_audio's business.
PKG_MOH = packaged_audio.PKG_MOH
PKG_PROMPTS = packaged_audio.ENGLISH.package
PKG_ESPEAK = "espeak-ng"
MOH_AUTHORS = {
    "macroform-robot_dity": "Paul Shuler (Macroform)",
    "manolo_camp-morning_coffee": "Manolo Camp",
    "reno_project-system": "Reno Project",
}
LICENCE = {
    PKG_MOH: "CC-BY-SA-3.0 (asterisk-moh-opsound; author in source_authors)",
    PKG_PROMPTS: "CC-BY-SA-3.0 (prompts recorded by Allison Smith, asterisk-core-sounds)",
    PKG_ESPEAK: "synthesised with espeak-ng (GPL-3+ program); the generated audio is the project's (MIT)",
}

_PEAK_DBFS = -3.0  # synthetic speech is peak-normalised to this level
_JOIN_FADE_S = 0.005  # short fades at joins so concatenation does not click


@dataclass(frozen=True)
class Part:
    """One piece of an output file: a packaged WAV, espeak-ng text, or a pause."""

    kind: str  # "moh" | "prompt" | "espeak" | "pause"
    value: str = ""  # file stem, or text for espeak
    voice: str = ""  # espeak voice
    speed_wpm: int = 150
    seconds: float = 0.0  # pause length, or max length for moh

    def recipe(self) -> dict[str, Any]:
        fields = {"moh": ("value", "seconds"), "prompt": ("value",), "pause": ("seconds",),
                  "espeak": ("value", "voice", "speed_wpm")}[self.kind]
        return {"kind": self.kind, **{k: getattr(self, k) for k in fields}}


@dataclass(frozen=True)
class Recipe:
    """How one output file is made."""

    name: str
    package: str
    parts: tuple[Part, ...] = field(default_factory=tuple)

    def key(self) -> dict[str, Any]:
        return {"version": RECIPE_VERSION, "parts": [p.recipe() for p in self.parts]}


def _pause(s: float) -> Part:
    return Part("pause", seconds=s)


RECIPES: tuple[Recipe, ...] = (
    Recipe("moh_1.wav", PKG_MOH, (Part("moh", "macroform-robot_dity", seconds=MAX_MOH_S),)),
    Recipe("moh_2.wav", PKG_MOH, (Part("moh", "manolo_camp-morning_coffee", seconds=MAX_MOH_S),)),
    Recipe("moh_3.wav", PKG_MOH, (Part("moh", "reno_project-system", seconds=MAX_MOH_S),)),
    # "Please hold while we try to connect you. ... Your call is now first in line and will be
    # answered by the next available representative."
    Recipe("greeting_en.wav", PKG_PROMPTS, (
        Part("prompt", "pls-hold-while-try"), _pause(0.5), Part("prompt", "queue-youarenext"),
    )),
    Recipe("greeting_zh.wav", PKG_ESPEAK, (Part("espeak", "先生您好，我们即将为您提供服务", voice="cmn"),)),
    # "Thank you for calling ... To establish a sales partnership, press one. ... For an operator,
    # press zero."
    Recipe("ivr_menu.wav", PKG_PROMPTS, (Part("prompt", "basic-pbx-ivr-main"),)),
    Recipe("agent_en.wav", PKG_ESPEAK, (
        _pause(0.3),
        Part("espeak", "Hello, this is Anna speaking.", voice="en-us", speed_wpm=155),
        _pause(0.45),
        Part("espeak", "How can I help you today?", voice="en-us", speed_wpm=155),
        _pause(0.8),
        Part("espeak", "Of course. Let me pull up your account.", voice="en-us", speed_wpm=150),
        _pause(0.6),
        Part("espeak", "Could you please confirm your full name and date of birth?", voice="en-us",
             speed_wpm=150),
        _pause(0.4),
    )),
    Recipe("agent_reply.wav", PKG_ESPEAK, (
        Part("espeak", "Sure, let me check that for you.", voice="en-us", speed_wpm=160), _pause(0.2),
    )),
    Recipe("caller_hello.wav", PKG_ESPEAK, (
        Part("espeak", "Hello, I have a question about my bill.", voice="en-us", speed_wpm=150), _pause(0.2),
    )),
)


def _install_hint(pkg: str) -> str:
    return f"sudo apt-get install -y {pkg}"


def _source_path(part: Part) -> Path:
    if part.kind == "moh":
        return packaged_audio.moh_path(part.value)
    return packaged_audio.prompt_path(part.value)


def _check_espeak() -> str:
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise BadInput(f"espeak-ng is not installed (no `{ESPEAK}` on PATH); install it: {_install_hint(PKG_ESPEAK)}")
    return exe


def _read_mono(path: Path) -> np.ndarray:
    data, rate = sf.read(path, dtype="float64", always_2d=True)
    return resample(data.mean(axis=1), int(rate), SAMPLE_RATE_HZ)


def _fade(x: np.ndarray, in_s: float = _JOIN_FADE_S, out_s: float = _JOIN_FADE_S) -> np.ndarray:
    x = x.copy()
    n_in, n_out = min(len(x), int(in_s * SAMPLE_RATE_HZ)), min(len(x), int(out_s * SAMPLE_RATE_HZ))
    if n_in:
        x[:n_in] *= np.linspace(0.0, 1.0, n_in)
    if n_out:
        x[-n_out:] *= np.linspace(1.0, 0.0, n_out)
    return x


def _espeak(exe: str, part: Part, tmp: Path) -> np.ndarray:
    raw = tmp / "espeak.wav"
    cmd = [exe, "-v", part.voice, "-s", str(part.speed_wpm), "-w", str(raw), part.value]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise InfraError(f"espeak-ng failed for voice {part.voice!r} ({' '.join(cmd[:-1])} ...): "
                         f"{detail.decode(errors='replace').strip() or exc}") from exc
    x = _read_mono(raw)
    # espeak pads with silence; trim it so the pauses in the recipe are the only pauses.
    loud = np.flatnonzero(np.abs(x) > 10 ** (-50 / 20))
    if len(loud):
        x = x[max(0, loud[0] - 80): loud[-1] + 80]
    peak = float(np.max(np.abs(x))) or 1.0
    return x * (10 ** (_PEAK_DBFS / 20) / peak)


def _render(recipe: Recipe, tmp: Path) -> tuple[np.ndarray, list[str]]:
    """The float samples of one output file and the source files it used."""
    pieces: list[np.ndarray] = []
    sources: list[str] = []
    for part in recipe.parts:
        if part.kind == "pause":
            pieces.append(np.zeros(int(round(part.seconds * SAMPLE_RATE_HZ))))
        elif part.kind == "espeak":
            exe = _check_espeak()
            pieces.append(_fade(_espeak(exe, part, tmp)))
            sources.append(f"{exe} -v {part.voice} -s {part.speed_wpm} {part.value!r}")
        else:
            path = _source_path(part)
            x = _read_mono(path)
            if part.kind == "moh" and part.seconds:
                x = _fade(x[: int(part.seconds * SAMPLE_RATE_HZ)], in_s=0.05, out_s=1.0)
            else:
                x = _fade(x)
            pieces.append(x)
            sources.append(str(path))
    return np.concatenate(pieces), sources


def _authors(recipe: Recipe) -> list[str]:
    if recipe.package == PKG_MOH:
        return [MOH_AUTHORS.get(p.value, "see /usr/share/doc/asterisk-moh-opsound-wav/copyright")
                for p in recipe.parts]
    if recipe.package == PKG_PROMPTS:
        return ["Allison Smith (recorded), Digium, Inc. (financial contribution)"]
    return ["espeak-ng synthesis generated by this project"]


def _package_version(pkg: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], check=False,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def _load_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def _up_to_date(out_dir: Path, recipe: Recipe, entry: Any) -> bool:
    path = out_dir / recipe.name
    return (isinstance(entry, dict) and entry.get("recipe") == recipe.key() and path.exists()
            and entry.get("sha256") == sha256_file(path))


def prepare_media(out_dir: Path) -> dict[str, Path]:
    """Write the lab's WAVs (8 kHz mono PCM16) and ``MEDIA.json`` into ``out_dir``; returns name → path.

    Files already present with a matching manifest entry are kept as they are. Raises
    ``BadInput`` naming the ``apt-get install`` command when a source package is missing.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    old = _load_manifest(manifest_path)
    files: dict[str, Any] = {}
    written: dict[str, Path] = {}
    versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="harness-media-") as tmp_name:
        tmp = Path(tmp_name)
        for recipe in RECIPES:
            path = out_dir / recipe.name
            written[recipe.name] = path
            if _up_to_date(out_dir, recipe, old.get(recipe.name)):
                files[recipe.name] = old[recipe.name]
                continue
            samples, sources = _render(recipe, tmp)
            pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)
            part_path = path.with_name(path.name + ".part")
            sf.write(part_path, pcm, SAMPLE_RATE_HZ, subtype="PCM_16", format="WAV")
            os.replace(part_path, path)
            if recipe.package not in versions:
                versions[recipe.package] = _package_version(recipe.package)
            files[recipe.name] = {
                "source_package": recipe.package,
                "package_version": versions[recipe.package],
                "source_files": sources,
                "source_authors": _authors(recipe),
                "duration_s": round(len(pcm) / SAMPLE_RATE_HZ, 3),
                "sample_rate_hz": SAMPLE_RATE_HZ,
                "sha256": sha256_file(path),
                "licence": LICENCE[recipe.package],
                "recipe": recipe.key(),
            }
    manifest = {"about": "lab media prepared by `harness media` from Debian packages; see docs/MEDIA.md",
                "files": files}
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    if not manifest_path.exists() or manifest_path.read_text() != text:
        manifest_path.write_text(text)
    return written


def load_media(media_dir: Path, names: set[str]) -> dict[str, np.ndarray]:
    """Load the WAVs the hotlines use as 8 kHz int16 mono arrays."""
    out: dict[str, np.ndarray] = {}
    for name in sorted(names):
        path = media_dir / name
        if not path.exists():
            raise BadInput(f"{path}: lab media file is missing (prepare it with `make media`)")
        data, rate = sf.read(path, dtype="int16", always_2d=True)
        mono = data[:, 0]
        if rate != SAMPLE_RATE_HZ:  # media made by `harness media` are 8 kHz already; a hand-made file may not be
            mono = np.clip(np.round(resample(mono / 32768.0, int(rate), SAMPLE_RATE_HZ) * 32768.0),
                           -32768, 32767).astype(np.int16)
        out[name] = mono
    return out

