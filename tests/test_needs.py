"""tests/needs.py: a missing system dependency skips on a developer's machine and fails in CI."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from needs import in_ci, missing, require

REASON = "needs frobnicator: sudo apt-get install -y frobnicator"


def outcome(stop: Callable[[], None]) -> tuple[str, str]:
    """What ``stop()`` did to the test: ("fail" | "skip" | "none", message). Caught here so
    that a skip where a failure belongs fails this test instead of skipping it."""
    try:
        stop()
    except pytest.fail.Exception as exc:
        return "fail", str(exc)
    except pytest.skip.Exception as exc:
        return "skip", str(exc)
    return "none", ""


def set_ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_in_ci_a_missing_dependency_fails_the_test(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    set_ci(monkeypatch, value)
    assert in_ci()
    expected = ("fail", f"{REASON} (CI=true: a missing system dependency fails the run)")
    assert outcome(lambda: require(False, REASON)) == expected
    assert outcome(lambda: missing(REASON)) == expected


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_elsewhere_a_missing_dependency_skips_the_test(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    set_ci(monkeypatch, value)
    assert not in_ci()
    assert outcome(lambda: require(False, REASON)) == ("skip", REASON)
    assert outcome(lambda: missing(REASON)) == ("skip", REASON)


@pytest.mark.parametrize("value", [None, "true"])
def test_a_present_dependency_lets_the_test_run(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    set_ci(monkeypatch, value)
    assert outcome(lambda: require(True, REASON)) == ("none", "")
