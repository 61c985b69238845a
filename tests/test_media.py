"""Lab media: every file is 8 kHz mono PCM16, not silent, of a plausible length, and in the manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness import packaged_audio
from harness.errors import BadInput
from harness.lab import media

# Plausible length per file, seconds (min, max).
EXPECTED_S = {
    "moh_1.wav": (60.0, 91.0),
    "moh_2.wav": (60.0, 91.0),
    "moh_3.wav": (60.0, 91.0),
    "greeting_en.wav": (3.0, 15.0),
    "greeting_zh.wav": (2.0, 10.0),
    "ivr_menu.wav": (8.0, 40.0),
    "agent_en.wav": (5.0, 20.0),
    "agent_reply.wav": (1.0, 4.0),
    "caller_hello.wav": (1.5, 5.0),
}


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("media")
    media.prepare_media(out)
    return out


def test_every_file_is_8k_mono_pcm16_and_not_silent(media_dir: Path) -> None:
    written = sorted(p.name for p in media_dir.glob("*.wav"))
    assert written == sorted(EXPECTED_S)
    for name, (lo, hi) in EXPECTED_S.items():
        info = sf.info(media_dir / name)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (8000, 1, "PCM_16", "WAV"), name
        assert lo <= info.duration <= hi, f"{name}: {info.duration:.2f} s not in [{lo}, {hi}]"
        pcm, _ = sf.read(media_dir / name, dtype="int16")
        rms_dbfs = 20 * np.log10(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) / 32768 + 1e-12)
        assert rms_dbfs > -40.0, f"{name}: RMS {rms_dbfs:.1f} dBFS, nearly silent"
        assert np.max(np.abs(pcm.astype(np.int32))) < 32767, f"{name}: clipped"


def test_manifest_matches_files(media_dir: Path) -> None:
    manifest = json.loads((media_dir / "MEDIA.json").read_text())["files"]
    assert sorted(manifest) == sorted(EXPECTED_S)
    for name, entry in manifest.items():
        path = media_dir / name
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), name
        assert entry["duration_s"] == pytest.approx(sf.info(path).duration, abs=0.001), name
        assert entry["source_package"] in {"asterisk-moh-opsound-wav", "asterisk-core-sounds-en-wav", "espeak-ng"}
        assert entry["source_files"] and entry["licence"], name
        if entry["source_package"] != "espeak-ng":
            assert all(Path(src).exists() for src in entry["source_files"]), name
    assert manifest["greeting_zh.wav"]["source_files"][0].endswith("-v cmn -s 150 '先生您好，我们即将为您提供服务'")
    assert "CC-BY-SA-3.0" in manifest["moh_1.wav"]["licence"]


def test_second_run_keeps_files_and_redoes_a_changed_one(media_dir: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in media_dir.iterdir()}
    media.prepare_media(media_dir)
    assert {p.name: p.stat().st_mtime_ns for p in media_dir.iterdir()} == before

    target = media_dir / "agent_reply.wav"
    good = target.read_bytes()
    target.write_bytes(good[:-100])  # damaged: hash no longer matches the manifest
    media.prepare_media(media_dir)
    assert target.read_bytes() == good


def test_missing_package_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packaged_audio, "MOH_DIR", tmp_path / "no-moh")
    with pytest.raises(BadInput, match=r"sudo apt-get install -y asterisk-moh-opsound-wav"):
        media.prepare_media(tmp_path / "out")

    monkeypatch.setattr(media, "ESPEAK", "espeak-ng-not-here")
    monkeypatch.setattr(media, "RECIPES", tuple(r for r in media.RECIPES if r.package == "espeak-ng"))
    with pytest.raises(BadInput, match=r"sudo apt-get install -y espeak-ng$"):
        media.prepare_media(tmp_path / "out2")
