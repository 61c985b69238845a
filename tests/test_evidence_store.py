"""The manifest anchored from the writer's own account of the file matches the one read from the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.evidence import EvidenceWriter, verify_evidence, write_manifest


def row(i: int) -> dict[str, Any]:
    return {"campaign": "bank", "round": 1, "hotline_id": "bank-a", "attempt": i, "chain_id": "c1",
            "call_uid": f"call-{i}", "answered": True, "music_s": 20.0 + i, "outcome": "gentle_disconnect"}


def both_manifests(tmp_path: Path, writer: EvidenceWriter) -> tuple[dict[str, Any], dict[str, Any]]:
    campaign = tmp_path / "bank.yaml"
    campaign.write_text("campaign: bank\n")
    manifest = writer.path.parent / "manifest.json"
    from_writer = write_manifest(manifest, campaign, "bank", "2026-12-01T00:00:00Z", None, evidence=writer,
                                 state="running")
    from_file = write_manifest(manifest, campaign, "bank", "2026-12-01T00:00:00Z", None, evidence=writer.path,
                               state="running")
    return from_writer, from_file


@pytest.mark.parametrize("rows", [0, 3])
def test_a_new_file(tmp_path: Path, rows: int) -> None:
    with EvidenceWriter(tmp_path / "r" / "evidence.csv") as w:
        for i in range(1, rows + 1):
            w.append(row(i))
        from_writer, from_file = both_manifests(tmp_path, w)
    assert from_writer["evidence"] == from_file["evidence"]
    assert from_writer["evidence"]["rows"] == rows


def test_a_reopened_file_whose_partial_line_was_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "r" / "evidence.csv"
    with EvidenceWriter(path) as w:
        w.append(row(1))
        w.append(row(2))
    path.write_bytes(path.read_bytes() + b"1,bank,1,bank-a,tar")  # a kill during a write
    with EvidenceWriter(path) as w:
        assert w.recovered_fragment
        w.append(row(3))
        from_writer, from_file = both_manifests(tmp_path, w)
    assert from_writer["evidence"] == from_file["evidence"]
    assert verify_evidence(path, check_recordings=False).ok


def test_after_a_write_that_could_not_be_cut_back_the_file_is_read(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.evidence import store

    path = tmp_path / "r" / "evidence.csv"
    w = EvidenceWriter(path)
    w.append(row(1))
    real_write = store.os.write

    def half_then_fail(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[:10]))
        raise OSError(28, "No space left on device")

    def no_truncate(fd: int, length: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.os, "write", half_then_fail)
    monkeypatch.setattr(store.os, "ftruncate", no_truncate)
    with pytest.raises(OSError):
        w.append(row(2))
    monkeypatch.undo()
    assert w.anchor() is None
    from_writer, from_file = both_manifests(tmp_path, w)
    w.close()
    assert from_writer["evidence"] == from_file["evidence"]
    assert from_writer["evidence"]["chain_ok"] is False
