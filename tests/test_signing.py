"""The manifest's Ed25519 signature: made by harness keygen / run --sign-key, checked by verify.

The signature covers the manifest, which holds the CSV's sha256 and head hash, whose rows hold every
file's sha256: a chain rewritten whole with its manifest is caught against a pinned public key.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_evidence import campaign_of, finish, make_row, rewrite

from harness.errors import BadInput
from harness.evidence import EvidenceWriter, verify_evidence
from harness.signing import KEY_ENV, keygen, load_private_key, sign_manifest

ROOT = Path(__file__).resolve().parent.parent


def harness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False, env=env)


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A finished run, its manifest signed: (evidence, private key, public key)."""
    path, _, _ = campaign_of(tmp_path / "run")
    key_file = tmp_path / "keys" / "harness.key"
    key_file.parent.mkdir()
    pub, _ = keygen(key_file)
    sign_manifest(path.parent / "manifest.json", load_private_key(key_file))
    return path, key_file, pub


def test_keygen_writes_a_private_key_no_one_else_can_read(tmp_path: Path) -> None:
    key_file = tmp_path / "k"
    pub, fp = keygen(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert pub == tmp_path / "k.pub" and pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert fp.startswith("sha256:") and len(fp) == 7 + 16
    with pytest.raises(BadInput, match="exists: keygen never overwrites"):
        keygen(key_file)


def test_signature_good(signed: tuple[Path, Path, Path]) -> None:
    path, _, pub = signed
    manifest = path.parent / "manifest.json"
    assert (manifest.parent / "manifest.json.sig").stat().st_size == 64
    assert (manifest.parent / "manifest.json.pub").read_bytes() == pub.read_bytes()
    beside = verify_evidence(path)
    assert beside.ok and beside.signed_by and "the one beside the evidence" in beside.message
    pinned = verify_evidence(path, public_key=pub)
    assert pinned.ok and "pinned" in pinned.message and pinned.signed_by == beside.signed_by


def test_bad_signature_fails(signed: tuple[Path, Path, Path]) -> None:
    path, _, _ = signed
    manifest = path.parent / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"host": "', '"host": "x', 1))
    result = verify_evidence(path)
    assert not result.ok and "bad signature: the manifest was changed after it was signed" in result.message


def test_wrong_public_key_fails(signed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    path, _, _ = signed
    other_pub, _ = keygen(tmp_path / "other.key")
    result = verify_evidence(path, public_key=other_pub)
    assert not result.ok and "does not verify with the pinned key" in result.message


def test_whole_rewrite_re_signed_with_another_key_fails_against_the_pinned_one(
        signed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """The forger rewrites the chain and the manifest, signs with their own key and puts their public
    key beside the evidence: consistent in itself; only the published (pinned) key catches it."""
    path, _, pub = signed
    rewrite(path, lambda rows: rows[0].update(outcome="agent_reached"))
    forger = tmp_path / "forger.key"
    keygen(forger)
    sign_manifest(path.parent / "manifest.json", load_private_key(forger))
    assert verify_evidence(path).ok
    result = verify_evidence(path, public_key=pub)
    assert not result.ok and "does not verify with the pinned key" in result.message


def test_signature_removed_fails(signed: tuple[Path, Path, Path]) -> None:
    path, _, pub = signed
    (path.parent / "manifest.json.sig").unlink()
    result = verify_evidence(path)
    assert not result.ok and "no signature beside manifest.json.pub" in result.message
    result = verify_evidence(path, public_key=pub)
    assert not result.ok and "requires one" in result.message


def test_rewriting_the_manifest_drops_its_old_signature(signed: tuple[Path, Path, Path]) -> None:
    """A resume rewrites the manifest to running: the old signature no longer applies and is removed;
    verify says the run is not signed yet rather than calling the signature bad."""
    path, _, _ = signed
    finish(path, state="running")
    assert not (path.parent / "manifest.json.sig").exists()
    with EvidenceWriter(path) as w:
        w.append(make_row(9))
    result = verify_evidence(path, check_recordings=False)
    assert result.ok and any("not signed yet" in n for n in result.notes)


def test_private_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "k"
    keygen(key_file)
    os.chmod(key_file, 0o644)
    with pytest.raises(BadInput, match=r"readable by others \(mode 0644\): chmod 600"):
        load_private_key(key_file)
    survey = ROOT / "tests" / "data" / "survey_short.yaml"
    proc = harness("run", str(survey), "--sign-key", str(key_file), "--reports", str(tmp_path / "r"),
                   "--recordings", str(tmp_path / "rec"))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "readable by others" in lines[0] and "PRIVATE" not in proc.stderr
    assert not (tmp_path / "r").exists()  # refused before anything was called or written


def test_key_from_the_environment_and_bad_key_text(tmp_path: Path) -> None:
    key_file = tmp_path / "k"
    keygen(key_file)
    assert load_private_key(None, {KEY_ENV: key_file.read_text()}) is not None
    assert load_private_key(None, {}) is None
    secret = "not-a-key-Zq7xSECRET"
    with pytest.raises(BadInput, match=f"environment variable {KEY_ENV}: not an unencrypted Ed25519") as err:
        load_private_key(None, {KEY_ENV: secret})
    assert secret not in str(err.value)


def test_cli_keygen_and_verify_with_head_and_public_key(signed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    path, _, pub = signed
    made = harness("keygen", str(tmp_path / "cli.key"))
    assert made.returncode == 0 and "mode 0600" in made.stdout, made.stderr
    head = verify_evidence(path).last_row_hash
    ok = harness("verify", str(path), "--head", head, "--public-key", str(pub))
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout and "head matches --head" in ok.stdout and "pinned" in ok.stdout
    bad = harness("verify", str(path), "--head", "0" * 64)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "published head" in bad.stderr


def test_run_command_signs_the_final_manifest_and_prints_the_head(tmp_path: Path, monkeypatch, capsys) -> None:
    """harness run's edge (run_command) with the scripted dialer of test_runner_logic: the key from the
    environment signs the manifest the run ends with; the head hash printed is the evidence's."""
    import yaml
    from test_runner_logic import FakeDialer

    from harness.campaign import command

    camp = {"campaign": "signed", "default_host": "127.0.0.1:5060",
            "hotlines": [{"id": "busy", "name": "Busy", "target": "2"}, {"id": "ok", "name": "Rejects", "target": "3"}],
            "limits": {"per_hotline_concurrency": 1, "min_interval_s": 0, "calls_per_minute": 600}}
    camp_file = tmp_path / "signed.yaml"
    camp_file.write_text(yaml.safe_dump(camp))
    key_file = tmp_path / "k"
    pub, fp = keygen(key_file)
    monkeypatch.setenv(KEY_ENV, key_file.read_text())
    monkeypatch.setattr(command, "pool_factory", lambda campaign: FakeDialer)
    result = command.run_command(camp_file, resume=False, host=None, reports_root=tmp_path / "r",
                                 recordings_root=tmp_path / "rec")
    out = capsys.readouterr()
    check = verify_evidence(result.evidence, public_key=pub)
    assert check.ok and check.signed_by == fp, check.message
    assert f"head hash: {check.last_row_hash} (publish it; check with: harness verify" in out.out
    assert f"--head {check.last_row_hash})" in out.out
    assert f"manifest signed: {result.manifest}.sig" in out.err and fp in out.err
    assert "PRIVATE KEY" not in out.out + out.err
    # a resume of signed evidence needs the same key: unsigned or another key would fail verify later
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(BadInput, match="this evidence was signed; continue it with --sign-key"):
        command.run_command(camp_file, resume=True, host=None, reports_root=tmp_path / "r",
                            recordings_root=tmp_path / "rec")
    keygen(tmp_path / "other")
    with pytest.raises(BadInput, match=r"this evidence was signed with key .*continue it with the same key"):
        command.run_command(camp_file, resume=True, host=None, reports_root=tmp_path / "r",
                            recordings_root=tmp_path / "rec", sign_key=tmp_path / "other")
    command.run_command(camp_file, resume=True, host=None, reports_root=tmp_path / "r",
                        recordings_root=tmp_path / "rec", sign_key=key_file)
    assert verify_evidence(result.evidence, public_key=pub).ok
