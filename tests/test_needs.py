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


def test_in_ci_any_skip_fails_the_run(tmp_path) -> None:
    """The conftest hook: a bare ``pytest.skip`` or ``skipif`` that bypasses ``needs`` fails under CI=true."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    shutil.copy(here / "conftest.py", tmp_path / "conftest.py")
    shutil.copy(here / "needs.py", tmp_path / "needs.py")
    (tmp_path / "test_bare.py").write_text(
        "import pytest\n\n"
        "def test_bare_skip():\n    pytest.skip('no frobnicator')\n\n"
        "@pytest.mark.skipif(True, reason='no widget')\n"
        "def test_marked():\n    pass\n\n"
        "def test_plain():\n    pass\n")

    def run(ci: str | None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        if ci is not None:
            env["CI"] = ci
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                               str(tmp_path)], check=False, cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    in_ci_run = run("true")
    assert in_ci_run.returncode == 1, in_ci_run.stdout
    # the bare skip fails in the call, the marked one at set-up (an error): both turn CI red
    assert "1 failed, 1 passed, 1 error" in in_ci_run.stdout, in_ci_run.stdout
    assert "skipped under CI=true (no frobnicator)" in in_ci_run.stdout
    assert "skipped under CI=true (no widget)" in in_ci_run.stdout
    local = run(None)
    assert local.returncode == 0, local.stdout
    assert "1 passed, 2 skipped" in local.stdout, local.stdout
