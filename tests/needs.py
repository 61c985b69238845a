"""What a test needs from the machine (a Debian package, a system file, the lab media).

On a developer's machine a missing one skips the test, with the reason in ``pytest -rs``'s
list. In CI (``CI=true``) set-up must have provided it, so a missing one fails the test:
a fresh machine that silently skips tests would pass CI without running them.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

# The values CI services set (GitHub, GitLab and others set CI=true; some use 1).
_CI_VALUES = {"true", "1", "yes"}


def in_ci() -> bool:
    """Whether this run is CI's (the environment has ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() in _CI_VALUES


def missing(reason: str) -> NoReturn:
    """Stop the current test for a missing system dependency: fail in CI, skip elsewhere.

    ``reason`` says what is missing and how to install it.
    """
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing system dependency fails the run)", pytrace=False)
    pytest.skip(reason)


def require(present: bool, reason: str) -> None:
    """``missing(reason)`` unless ``present``."""
    if not present:
        missing(reason)
