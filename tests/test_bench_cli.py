"""The tooling's one command (``python -m harness.bench NAME``) and its separation from the product."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from imports import imported_names

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("analysis", "calls", "survey", "stress", "synth", "cuts", "score", "train")


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.bench", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)


def test_help_lists_every_part() -> None:
    res = _bench("--help")
    assert res.returncode == 0, res.stderr
    listed = [line.split()[0] for line in res.stdout.splitlines() if line.startswith("    ") and line.split()]
    assert [p for p in listed if p in PARTS] == list(PARTS)


@pytest.mark.parametrize("part", PARTS)
def test_each_part_has_its_help(part: str) -> None:
    res = _bench(part, "--help")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"usage: python -m harness.bench {part} ")


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "harness.bench: error: argument NAME: invalid choice: 'nope'"),
    (["calls", "--calls", "12,x"], "harness.bench calls: error: argument --calls: must be comma-separated integers"),
    (["stress", "--sizes", "0"], "harness.bench stress: error: argument --sizes: '0': expected comma-separated"),
    (["score"], "harness.bench score: error: the following arguments are required: SET_DIR"),
    (["cuts", "--media-dir", "/nonexistent"], "harness.bench cuts: error: /nonexistent: lab media missing"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(args: list[str], message: str) -> None:
    res = _bench(*args)
    assert res.returncode == 2
    assert res.stdout == ""
    assert len(res.stderr.splitlines()) == 1 and res.stderr.startswith(message), res.stderr


def test_the_product_does_not_import_the_tooling() -> None:
    product = [p for p in sorted((ROOT / "harness").rglob("*.py")) if "bench" not in p.relative_to(ROOT).parts]
    assert len(product) > 20
    offenders = [str(p.relative_to(ROOT)) for p in product
                 if any(n == "harness.bench" or n.startswith("harness.bench.") for n in imported_names(p))]
    assert offenders == []


def test_the_corpus_file_declares_every_set() -> None:
    from harness.bench import synth

    assert list(synth.SOURCE_SETS) == ["dev", "heldout", "unseen", "val", "final", "train"]
    for s in synth.SOURCE_SETS.values():
        assert s.music and s.prompts and s.espeak_greetings and s.espeak_agent and s.packages


def test_a_malformed_corpus_is_refused_with_its_line(tmp_path: Path) -> None:
    from harness.bench import synth
    from harness.errors import BadInput

    bad = tmp_path / "corpus.yaml"
    bad.write_text("sets:\n  dev:\n    music: packaged\n    prompts:\n      - voices: [KLINGON]\n        names: [x]\n"
                   "    espeak_greetings: []\n    espeak_agent: []\n")
    with pytest.raises(BadInput, match=r"corpus.yaml:5: sets.dev.prompts\[0\].voices: unknown voice 'KLINGON'"):
        synth.load_source_sets(bad)


def test_no_name_runs_the_parts_of_make_bench_and_exits_with_the_worst(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib

    from harness.bench.__main__ import MAKE_BENCH, main
    from harness.errors import InfraError

    ran: list[str] = []

    def fake(name: str, code: int) -> object:
        def run(args: object) -> int:
            ran.append(name)
            if name == "calls":
                raise InfraError("the lab did not start")
            return code
        return run

    codes = {"analysis": 0, "calls": 0, "survey": 1, "stress": 0}
    for name in MAKE_BENCH:
        monkeypatch.setattr(importlib.import_module(f"harness.bench.{name}"), "run", fake(name, codes[name]))
    assert main([]) == 3
    assert ran == ["analysis", "calls", "survey", "stress"]
    out, err = capsys.readouterr()
    assert "===== stress: python -m harness.bench stress =====" in out
    assert err == "harness.bench calls: error: the lab did not start\n"
