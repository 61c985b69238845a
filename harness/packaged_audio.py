"""Where Debian's packages put the real audio the project reads: the one place that knows.

The lab media (``harness.lab.media``), the labelled analysis sets (``harness.bench.synth``)
and the analysis tests all read Asterisk hold music and recorded prompts from here.

Debian's ``asterisk-core-sounds-<lang>-wav`` packages install each voice in a folder named
after its speaker (``en_US_f_Allison``, ``fr_CA_f_June``, ...). The short language folder
(``en``) is only an alternatives link that some set-ups add and a fresh Debian 12 machine
does not have, so a voice is looked for in its speaker's folder first and the short folder
second. When both exist the short one is a link to the same recordings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import BadInput

ASTERISK_DIR = Path("/usr/share/asterisk")
MOH_DIR = ASTERISK_DIR / "moh"
SOUNDS_DIR = ASTERISK_DIR / "sounds"

PKG_MOH = "asterisk-moh-opsound-wav"


class MissingAudio(BadInput):
    """A packaged recording the caller needs is not on this machine (the message names the package)."""


def install_hint(package: str) -> str:
    """The command that installs ``package`` on Debian."""
    return f"sudo apt-get install -y {package}"


@dataclass(frozen=True)
class Voice:
    """One speaker's recorded prompts, as one Debian package installs them.

    ``folders`` are names under ``SOUNDS_DIR``, searched in order; ``suffix`` is the file
    format the package ships (``.wav``, or ``.gsm`` for raw GSM 06.10).
    """

    package: str
    folders: tuple[str, ...]
    suffix: str = ".wav"

    def candidates(self, name: str) -> list[Path]:
        """Every place prompt ``name`` (e.g. ``queue-youarenext``, ``followme/sorry``) may be, in order."""
        # SOUNDS_DIR is read at call time so that tests can point it at a folder of their own.
        return [SOUNDS_DIR / folder / f"{name}{self.suffix}" for folder in self.folders]

    def find(self, name: str) -> Path | None:
        """The first existing file of prompt ``name``, or None."""
        return next((p for p in self.candidates(name) if p.exists()), None)

    def expected(self, name: str) -> Path:
        """The existing file of prompt ``name``, else where the package puts it (for lists of
        sources checked later, so that what is missing can be reported all at once)."""
        return self.find(name) or self.candidates(name)[0]

    def path(self, name: str) -> Path:
        """The existing file of prompt ``name``; raises ``MissingAudio`` naming the package to install."""
        found = self.find(name)
        if found is not None:
            return found
        tried = ", ".join(str(p) for p in self.candidates(name))
        if not any(p.parent.is_dir() for p in self.candidates(name)):
            raise MissingAudio(f"{self.package} is not installed (no {tried}); "
                               f"install it: {install_hint(self.package)}")
        raise MissingAudio(f"prompt {name!r} missing from {self.package} (looked for {tried}); "
                           f"reinstall it: sudo apt-get install -y --reinstall {self.package}")


# The voices the project reads. Folder names are those the packages install.
ENGLISH = Voice("asterisk-core-sounds-en-wav", ("en_US_f_Allison", "en"))
FRENCH_JUNE = Voice("asterisk-core-sounds-fr-wav", ("fr_CA_f_June",))
ITALIAN_CARLO = Voice("asterisk-core-sounds-it-wav", ("it_IT_m_Carlo",))
RUSSIAN = Voice("asterisk-core-sounds-ru-wav", ("ru_RU_f_IvrvoiceRU",))
SPANISH_ALLISON = Voice("asterisk-core-sounds-es-wav", ("es_MX_f_Allison",))
ITALIAN_MENARDI = Voice("asterisk-prompt-it-menardi-wav", ("it_IT_f_Menardi",))
SPANISH_CO = Voice("asterisk-prompt-es-co", ("es",), ".gsm")
FRENCH_ARMELLE = Voice("asterisk-prompt-fr-armelle", ("fr",), ".gsm")


def moh_tracks() -> list[Path]:
    """Every packaged hold-music WAV, sorted by name (empty when the package is absent)."""
    return sorted(MOH_DIR.glob("*.wav"))


def moh_path(stem: str) -> Path:
    """The packaged hold-music track ``stem`` (e.g. ``macroform-cold_day``); raises ``MissingAudio``."""
    path = MOH_DIR / f"{stem}.wav"
    if not path.exists():
        raise MissingAudio(f"{PKG_MOH} is not installed ({path} is missing); install it: {install_hint(PKG_MOH)}")
    return path


def prompt_path(name: str, voice: Voice = ENGLISH) -> Path:
    """The packaged prompt ``name`` of ``voice`` (English by default); raises ``MissingAudio``."""
    return voice.path(name)
