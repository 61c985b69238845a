"""harness.packaged_audio: the one place that knows where Debian puts the Asterisk audio."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import packaged_audio
from harness.packaged_audio import ENGLISH, MissingAudio, Voice

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty sounds folder in place of /usr/share/asterisk/sounds."""
    monkeypatch.setattr(packaged_audio, "SOUNDS_DIR", tmp_path)
    return tmp_path


def put(sounds: Path, folder: str, name: str, data: bytes = b"RIFF") -> Path:
    path = sounds / folder / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_english_prompt_is_found_in_the_speakers_folder_without_an_en_link(sounds: Path) -> None:
    """A fresh Debian 12 machine: asterisk-core-sounds-en-wav installs en_US_f_Allison and no ``en``."""
    path = put(sounds, "en_US_f_Allison", "queue-youarenext")
    assert packaged_audio.prompt_path("queue-youarenext") == path


def test_english_prompt_falls_back_to_the_en_folder(sounds: Path) -> None:
    path = put(sounds, "en", "queue-youarenext")
    assert packaged_audio.prompt_path("queue-youarenext") == path


def test_speakers_folder_wins_when_both_exist(sounds: Path) -> None:
    allison = put(sounds, "en_US_f_Allison", "vm-intro", b"allison")
    put(sounds, "en", "vm-intro", b"other")
    assert packaged_audio.prompt_path("vm-intro") == allison
    assert ENGLISH.expected("vm-intro") == allison


def test_prompt_in_a_subfolder_and_another_suffix(sounds: Path) -> None:
    voice = Voice("asterisk-prompt-xx", ("xx",), ".gsm")
    path = sounds / "xx" / "followme" / "sorry.gsm"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"gsm")
    assert voice.path("followme/sorry") == path


def test_missing_package_names_the_install_command(sounds: Path) -> None:
    with pytest.raises(MissingAudio, match=r"^asterisk-core-sounds-en-wav is not installed \(no .*"
                       r"en_US_f_Allison/queue-youarenext\.wav, .*/en/queue-youarenext\.wav\); "
                       r"install it: sudo apt-get install -y asterisk-core-sounds-en-wav$") as err:
        packaged_audio.prompt_path("queue-youarenext")
    assert err.value.exit_code == 2
    # a list of sources checked later still gets where the package would put the file
    assert ENGLISH.expected("queue-youarenext") == sounds / "en_US_f_Allison" / "queue-youarenext.wav"


def test_missing_prompt_of_an_installed_package_says_reinstall(sounds: Path) -> None:
    put(sounds, "en_US_f_Allison", "queue-youarenext")
    with pytest.raises(MissingAudio, match=r"^prompt 'no-such-prompt' missing from asterisk-core-sounds-en-wav "
                       r"\(looked for .*\); reinstall it: sudo apt-get install -y --reinstall "
                       r"asterisk-core-sounds-en-wav$"):
        packaged_audio.prompt_path("no-such-prompt")


def test_missing_hold_music_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packaged_audio, "MOH_DIR", tmp_path / "moh")
    with pytest.raises(MissingAudio, match=r"^asterisk-moh-opsound-wav is not installed \(.*/moh/x\.wav is "
                       r"missing\); install it: sudo apt-get install -y asterisk-moh-opsound-wav$"):
        packaged_audio.moh_path("x")
    assert packaged_audio.moh_tracks() == []


def test_no_other_file_names_the_asterisk_folders() -> None:
    """The package, its tools and the tests find packaged audio through harness.packaged_audio only."""
    owner = ROOT / "harness" / "packaged_audio.py"
    here = Path(__file__).resolve()
    pattern = re.compile(r"/usr/share/asterisk\b")
    offenders = [f"{p.relative_to(ROOT)}:{i}" for top in ("harness", "tests") for p in sorted((ROOT / top).rglob("*.py"))
                 if p not in (owner, here)
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []
