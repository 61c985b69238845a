"""Which schema a scenario file answers to, and the check ``harness validate`` runs on each.

A file in a ``lab/`` folder (``scenarios/lab/*.yaml``) declares the lab PBX's hotlines; any
other is a campaign. This sits above both the campaign and the lab, so that neither imports
the other.
"""

from __future__ import annotations

from pathlib import Path

from harness.campaign.config import load_campaign
from harness.errors import BadInput
from harness.lab.scenario import LabConfig
from harness.yamlfile import load_model, one_line

MAX_LINE_CHARS = 4000  # one_line's cut, well above any message validate writes


def is_lab_file(path: Path) -> bool:
    """Lab hotline declarations live in ``scenarios/lab/``; everything else is a campaign."""
    return path.parent.name == "lab"


def validate_files(paths: list[Path]) -> list[str]:
    """Validate each file (campaign, or lab hotlines under ``lab/``); one error line per bad file."""
    errors = []
    for path in paths:
        try:
            if is_lab_file(path):
                load_model(path, LabConfig)
            else:
                load_campaign(path)
        except BadInput as exc:
            errors.append(str(exc))
    return errors


def validate_lines(files: list[Path]) -> tuple[list[str], list[str], int]:
    """What ``harness validate FILES`` prints: ``FILE: ok`` lines (stdout), one error line per bad
    file (stderr), and the exit code (0 all good, 2 any bad)."""
    if not files:
        raise BadInput("give at least one file, e.g. harness validate scenarios/*.yaml")
    ok: list[str] = []
    errors: list[str] = []
    for f in files:  # one file at a time: a file name may itself hold ':' or a newline
        found = validate_files([f])
        errors += found
        if not found:
            ok.append(f"{f}: ok")
    return ok, [f"harness: error: {one_line(e, MAX_LINE_CHARS)}" for e in errors], 2 if errors else 0
