"""The command line: one-line errors and the documented exit codes (0 ok, 1 thresholds, 2 bad input, 3 SIP)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def harness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False, env=env)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_validate_all_scenarios_ok() -> None:
    files = sorted(str(p) for p in (ROOT / "scenarios").rglob("*.yaml"))
    proc = harness("validate", *files)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(": ok") == len(files)


def test_validate_bad_file_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("campaign: x\ndefault_host: 127.0.0.1:5060\nhotlines:\n  - {id: a, name: A, target: '1'}\n"
                   "limits:\n  per_hotline_concurency: 2\n")
    proc = harness("validate", str(bad))
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert f"{bad}:6:" in line and "per_hotline_concurency" in line and "per_hotline_concurrency" in line


def test_run_refuses_a_password_in_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "pw.yaml"
    bad.write_text("campaign: x\ndefault_host: 127.0.0.1:5060\naccount: {registrar: 'sip:127.0.0.1:5070', "
                   "username: u, password: hunter2}\nhotlines:\n  - {id: a, name: A, target: '1'}\n")
    proc = harness("run", str(bad), "--reports", str(tmp_path / "r"), "--recordings", str(tmp_path / "rec"))
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "password_env" in line and "hunter2" not in line
    assert not (tmp_path / "r").exists()  # nothing was called, nothing written


def test_missing_and_non_csv_inputs(tmp_path: Path) -> None:
    assert harness("run", str(tmp_path / "nope.yaml")).returncode == 2
    assert harness("verify", str(tmp_path / "nope.csv")).returncode == 2
    junk = tmp_path / "junk.csv"
    junk.write_text("not,an,evidence,file\n")
    proc = harness("verify", str(junk))
    assert proc.returncode == 2 and "header" in one_error_line(proc)
    proc = harness("report", str(junk), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    one_error_line(proc)


def test_credentials_file_must_be_private(tmp_path: Path) -> None:
    from harness.errors import BadInput
    from harness.sip.pjsua_adapter import resolve_password
    from harness.sip.seam import Account

    secret = tmp_path / "sip.pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    acc = Account(registrar="sip:127.0.0.1:5070", username="u", credentials_file=secret)
    try:
        resolve_password(acc)
    except BadInput as exc:
        assert "chmod 600" in str(exc) and "s3cret" not in str(exc)
    else:
        raise AssertionError("a world-readable credentials file was accepted")
    secret.chmod(0o600)
    assert resolve_password(acc) == "s3cret"
    missing = Account(registrar="sip:127.0.0.1:5070", username="u", password_env="HARNESS_TEST_UNSET_PW")
    proc = harness("call", "sip:1@127.0.0.1:9", "--out", str(tmp_path / "o"), "--registrar",
                   "sip:127.0.0.1:9", "--username", "u", "--password-env", missing.password_env)
    assert proc.returncode == 2 and "HARNESS_TEST_UNSET_PW" in one_error_line(proc)


def test_call_to_a_dead_target_is_an_infrastructure_failure(tmp_path: Path) -> None:
    import json
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a UDP port that swallows everything
    sock.bind(("127.0.0.1", 0))
    try:
        port = sock.getsockname()[1]
        proc = harness("call", f"sip:1001@127.0.0.1:{port}", "--out", str(tmp_path), "--ring-timeout-s", "2",
                       "--max-call-s", "5")
    finally:
        sock.close()
    assert proc.returncode == 3
    assert "no response from" in one_error_line(proc)
    (events,) = tmp_path.glob("*.events.json")
    rec = json.loads(events.read_text())
    assert rec["error"].startswith("no response") and rec["final_status"] is None
    types = [e["type"] for e in rec["events"]]
    assert types[0] == "invite_sent" and "invite_resent" in types and "provisional" not in types


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.sip
@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "nonexistent.invalid"], ids=["nothing-listening", "unresolvable"])
def test_a_small_campaign_whose_every_call_fails_exits_3(tmp_path: Path, host: str) -> None:
    """Issue 12: four calls to a port with nothing listening, or to a host that does not resolve, gave exit 0
    (the early stop needs max(5, concurrency) failures). Real calls through ``harness run``."""
    from harness.evidence import read_evidence

    camp = tmp_path / "all-fail.yaml"
    camp.write_text(f"campaign: all-fail\ndefault_host: \"{host.format(port=_free_udp_port())}\"\nhotlines:\n"
                    + "".join(f"  - {{id: h{i}, name: H{i}, target: '100{i}'}}\n" for i in range(1, 5))
                    + "concurrency: 4\nlimits: {per_hotline_concurrency: 1, min_interval_s: 0, calls_per_minute: 600}\n"
                    "call: {ring_timeout_s: 2, max_hold_s: 5, max_call_s: 10}\n")
    proc = harness("run", str(camp), "--reports", str(tmp_path / "r"), "--recordings", str(tmp_path / "rec"))
    assert proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("harness: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "all 4 calls placed failed and none got through" in errors[0]
    evidence = tmp_path / "r" / "all-fail" / "evidence.csv"
    rows = read_evidence(evidence)
    assert len(rows) == 4 and {r["outcome"] for r in rows} == {"error"}  # the evidence is kept
    assert harness("verify", str(evidence)).returncode == 0
