"""Shared fixtures: a real lab PBX subprocess on 127.0.0.1 (any free port) with its ground truth."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from needs import in_ci, require

from harness.lab.runner import LabProcess
from harness.lab.truth import read_truth

ROOT = Path(__file__).resolve().parent.parent
TEST_HOTLINES = ROOT / "tests" / "data" / "lab_test_hotlines.yaml"
MEDIA_DIR = ROOT / "build" / "media"


@dataclass
class Lab:
    """A running lab PBX (``harness.lab.runner.LabProcess``): where it listens and where its truth goes."""

    host: str
    port: int
    truth_file: Path
    process: LabProcess

    def uri(self, number: str) -> str:
        return f"sip:{number}@{self.host}:{self.port}"

    def truth_for(self, sip_call_id: str, timeout_s: float = 3.0) -> dict:
        """The truth line of one call (the lab writes it when the call ends)."""
        deadline = time.monotonic() + timeout_s
        while True:
            row = read_truth(self.truth_file).get(sip_call_id) if self.truth_file.exists() else None
            if row is not None:
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"no lab truth for Call-ID {sip_call_id}")
            time.sleep(0.05)


def start_lab(hotlines: Path, workdir: Path, media_dir: Path = MEDIA_DIR) -> Lab:
    """Start ``harness lab`` on a free port and wait for its "listening" line."""
    require((media_dir / "MEDIA.json").exists(), "lab media missing: run `make media`")
    truth = workdir / "truth.jsonl"
    process = LabProcess(hotlines, truth, media_dir).__enter__()
    return Lab(host=process.host, port=process.port, truth_file=truth, process=process)


def stop_lab(lab: Lab) -> None:
    lab.process.__exit__(None, None, None)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The short-timing test hotlines (tests/data/lab_test_hotlines.yaml), shared by the session."""
    running = start_lab(TEST_HOTLINES, tmp_path_factory.mktemp("lab"))
    yield running
    stop_lab(running)


@pytest.fixture(scope="session")
def survey_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The ten survey hotlines (scenarios/lab/hotlines.yaml)."""
    running = start_lab(ROOT / "scenarios" / "lab" / "hotlines.yaml", tmp_path_factory.mktemp("survey-lab"))
    yield running
    stop_lab(running)


os.environ.setdefault("PYTHONUNBUFFERED", "1")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """In CI, a skip that did not go through ``needs`` (a ``skipif``, an ``importorskip``) fails too.

    ``needs.missing`` already fails in CI; this catches the skips written without it, so a
    fresh machine cannot pass CI by not running a test.
    """
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true ({reason}): CI must run every test"
