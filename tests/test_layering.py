"""Layers that do not reach up: what each part of the package may import, checked without running SIP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from imports import imported_names

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "harness"

# A dead worker's call, recovered in a fresh interpreter: its partial events and a WAV whose header
# still says "no samples" (pjsua2 writes the sizes only on a clean close), as a SIGKILL leaves them.
RECOVER = r"""
import json, struct, sys
from pathlib import Path

from harness.sip import pool
from harness.vocab import CallEvent, CallRecord, CallSpec

out = Path(sys.argv[1])
events = [CallEvent(t_s=0.0, type="invite_sent"), CallEvent(t_s=0.5, type="answered", code=200)]
partial = CallRecord(call_uid="victim", target="sip:2007@127.0.0.1:5060", answered_s=0.5,
                     media_start_s=0.4, events=events)
(out / "victim.events.partial.json").write_text(partial.model_dump_json(indent=1))
samples = b"\x10\x00" * 8000
fmt = struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)  # PCM16 mono 8 kHz
header = b"RIFF" + struct.pack("<I", 36) + b"WAVE" + b"fmt " + fmt + b"data" + struct.pack("<I", 0)
(out / "victim.wav").write_bytes(header + samples)
spec = CallSpec(call_uid="victim", target=partial.target, out_dir=out)
record = pool.recover_record(spec, "SIP worker 0 died mid-call")
print(json.dumps({"pjsua2_loaded": "pjsua2" in sys.modules, "record": record.model_dump(mode="json")}))
"""


def test_a_dead_workers_call_is_recovered_without_loading_pjsua2(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", RECOVER, str(tmp_path)], capture_output=True, text=True,
                          check=False, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["pjsua2_loaded"] is False
    record = result["record"]
    assert (record["call_uid"], record["answered_s"]) == ("victim", 0.5)
    assert record["error"] == "SIP worker 0 died mid-call"
    assert [e["type"] for e in record["events"]] == ["invite_sent", "answered"]
    assert record["recording"] == "victim.wav" and record["recording_repaired"] is True
    assert record["recording_duration_s"] == 1.0
    assert json.loads((tmp_path / "victim.events.json").read_text()) == record
    assert not (tmp_path / "victim.events.partial.json").exists()


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py")) if folder else sorted(PACKAGE.glob("*.py"))


def test_only_the_adapter_imports_pjsua2() -> None:
    importers = [p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")
                 if any(n == "pjsua2" or n.startswith("pjsua2.") for n in imported_names(p))]
    assert importers == ["harness/sip/pjsua_adapter.py"]


def test_vocab_and_the_seam_import_nothing_above_them() -> None:
    assert not {n for n in imported_names(PACKAGE / "vocab.py") if n.startswith("harness")}
    assert {n for n in imported_names(PACKAGE / "sip" / "seam.py") if n.startswith("harness.")} <= {
        "harness.vocab", "harness.vocab.CallRecord", "harness.vocab.CallSpec"}


def test_the_campaign_does_not_import_the_lab() -> None:
    for path in _modules("campaign"):
        lab = [n for n in imported_names(path) if n.startswith("harness.lab")]
        assert not lab, f"{path.relative_to(ROOT)} imports {lab}"


def test_the_lab_does_not_import_the_analyzer() -> None:
    """The fake PBX must not depend on the thing it checks: its truth uses harness.audio, and the
    comparison with the analyzer's verdicts is tooling (harness.bench.against_lab)."""
    for path in _modules("lab"):
        analyzer = [n for n in imported_names(path) if n.startswith(("harness.analysis", "harness.bench"))]
        assert not analyzer, f"{path.relative_to(ROOT)} imports {analyzer}"


def test_the_printing_is_left_to_the_cli() -> None:
    for rel in ("sip/probe.py", "analysis/command.py"):
        path = PACKAGE / rel
        names = imported_names(path)
        assert not any(n == "click" or n.startswith("click.") for n in names), rel
        assert "print(" not in path.read_text(encoding="utf-8"), rel
