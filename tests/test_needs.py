"""tests/needs.py: a missing system dependency skips on a developer's machine and fails in CI."""

from __future__ import annotations

import pytest
from needs import in_ci, missing, require

REASON = "needs frobnicator: sudo apt-get install -y frobnicator"


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_in_ci_a_missing_dependency_fails_the_test(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match=f"^{REASON} \\(CI=true: "):
        require(False, REASON)
    with pytest.raises(pytest.fail.Exception, match=REASON):
        missing(REASON)


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_elsewhere_a_missing_dependency_skips_the_test(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception, match=f"^{REASON}$"):
        require(False, REASON)
    with pytest.raises(pytest.skip.Exception, match=f"^{REASON}$"):
        missing(REASON)


@pytest.mark.parametrize("value", [None, "true"])
def test_a_present_dependency_lets_the_test_run(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert require(True, REASON) is None
