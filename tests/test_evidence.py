"""Evidence CSV: the hash chain catches edits, removals, swaps, insertions and changed recordings."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from harness.campaign import Outcome
from harness.errors import BadInput
from harness.evidence import (COLUMNS, HEADER_HASH, US, EvidenceWriter, read_evidence, row_hash, sha256_file,
                              verify_evidence, write_manifest)

CONTRACT = ("schema_version, campaign, round, hotline_id, target, attempt, chain_id, call_uid, sip_call_id, "
            "started_at, final_status, final_reason, answered, ring_s, answer_s, early_media_s, music_s, "
            "speech_s, "
            "silence_s, tone_s, first_speech_s, disconnect_by, duration_s, billed_s, outcome, recording, "
            "recording_sha256, recording_duration_s, recording_gap_s, analyzer").split(", ")


def make_row(i: int, recording: str | None = None, digest: str | None = None) -> dict[str, object]:
    return {
        "campaign": "bank-survey", "round": 1, "hotline_id": "bank-a", "target": "sip:1001@127.0.0.1:5060",
        "attempt": i, "chain_id": "c1", "call_uid": f"call-{i}", "sip_call_id": f"abc{i}@host",
        "started_at": f"2026-01-01T00:00:0{i}.000Z", "final_status": 200,
        "final_reason": "Normal call clearing",
        "answered": True, "ring_s": 2.0, "answer_s": 2.0, "early_media_s": 0.0, "music_s": 20.0 + i,
        "speech_s": 3.25, "silence_s": 0.5, "tone_s": 0.0, "first_speech_s": 20.1234,
        "disconnect_by": "remote",
        "duration_s": 25.5, "billed_s": 23.5, "outcome": Outcome.GENTLE_DISCONNECT, "recording": recording,
        "recording_sha256": digest, "recording_duration_s": 23.4, "recording_gap_s": 0.1,
        "analyzer": "harness-phases/1.0/abcd", "agent_start_s": None, "note": "line one\nline two",
    }


def write_rows(path: Path, n: int) -> list[str]:
    with EvidenceWriter(path) as w:
        return [w.append(make_row(i)) for i in range(1, n + 1)]


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_columns_keep_the_contract_order() -> None:
    assert list(COLUMNS[:len(CONTRACT)]) == CONTRACT
    assert COLUMNS[-2:] == ("prev_hash", "row_hash")


def test_chain_valid_and_formatting(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "c" / "evidence.csv"
    hashes = write_rows(path, 3)
    result = verify_evidence(path)
    assert (result.ok, result.rows, result.first_bad_row) == (True, 3, None)
    rows = read_evidence(path)
    assert [r["row_hash"] for r in rows] == hashes
    assert rows[0]["prev_hash"] == HEADER_HASH and rows[1]["prev_hash"] == hashes[0]
    r = rows[0]
    assert (r["schema_version"], r["ring_s"], r["first_speech_s"], r["answered"], r["agent_start_s"]) == \
        ("1", "2.000", "20.123", "true", "")
    assert (r["outcome"], r["note"]) == ("gentle_disconnect", "line one line two")
    assert len(lines_of(path)) == 4  # header + one physical line per call


def test_row_hash_is_the_documented_canonical_text(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    write_rows(path, 2)
    with path.open(encoding="utf-8", newline="") as f:
        header, first, second = list(csv.reader(f))
    assert HEADER_HASH == hashlib.sha256(US.join(header).encode()).hexdigest()
    for cells in (first, second):
        canonical = US.join(cells[:-2]) + US + cells[-2]
        assert cells[-1] == hashlib.sha256(canonical.encode()).hexdigest() == row_hash(cells[:-2], cells[-2])


def test_edited_cell_fails_at_that_row(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    write_rows(path, 4)
    lines = lines_of(path)
    lines[3] = lines[3].replace("gentle_disconnect", "agent_reached")
    path.write_text("".join(lines), encoding="utf-8")
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row, result.rows) == (False, 3, 2)
    assert "row 3: row_hash does not match its content" in result.message


def test_edited_cell_with_recomputed_hash_fails_at_next_row(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    write_rows(path, 3)
    with path.open(encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    table[2][COLUMNS.index("outcome")] = "agent_reached"
    table[2][-1] = row_hash(table[2][:-2], table[2][-2])
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(table)
    assert verify_evidence(path).first_bad_row == 3


@pytest.mark.parametrize("removed", [1, 2, 3])
def test_deleted_row_fails_at_its_place(tmp_path: Path, removed: int) -> None:
    path = tmp_path / "evidence.csv"
    write_rows(path, 4)
    lines = lines_of(path)
    del lines[removed]
    path.write_text("".join(lines), encoding="utf-8")
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row) == (False, removed)
    assert f"row {removed}: prev_hash does not follow" in result.message


def test_swapped_rows_fail(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    write_rows(path, 4)
    lines = lines_of(path)
    lines[2], lines[3] = lines[3], lines[2]
    path.write_text("".join(lines), encoding="utf-8")
    assert verify_evidence(path).first_bad_row == 2


def test_inserted_row_fails(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    write_rows(path, 3)
    lines = lines_of(path)
    lines.insert(2, lines[1])  # a copy of row 1, with its valid hash, after row 1
    path.write_text("".join(lines), encoding="utf-8")
    assert verify_evidence(path).first_bad_row == 2


def test_bad_header_fails(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    write_rows(path, 1)
    path.write_text(path.read_text(encoding="utf-8").replace("music_s", "musik_s", 1), encoding="utf-8")
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row) == (False, None)
    assert "header is not the evidence schema v1 header" in result.message
    with pytest.raises(BadInput, match="refusing to append"):
        EvidenceWriter(path)


def test_missing_file(tmp_path: Path) -> None:
    result = verify_evidence(tmp_path / "none.csv")
    assert not result.ok and result.message.endswith("none.csv: no such file")


def test_append_after_reopen_keeps_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    first = write_rows(path, 2)
    with EvidenceWriter(path) as w:
        assert (w.count, w.last_hash) == (2, first[-1])
        third = w.append(make_row(3))
        assert [r["row_hash"] for r in w.rows()] == first + [third]
    assert lines_of(path)[0].startswith("schema_version,") and len(lines_of(path)) == 4
    assert verify_evidence(path).rows == 3


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    with EvidenceWriter(path):
        with pytest.raises(BadInput, match="another process is writing"):
            EvidenceWriter(path)


def test_unknown_column_refused(tmp_path: Path) -> None:
    with EvidenceWriter(tmp_path / "evidence.csv") as w, pytest.raises(ValueError, match="outcom"):
        w.append({"outcom": "busy"})


def test_recordings_checked(tmp_path: Path) -> None:
    csv_dir = tmp_path / "reports" / "c"
    rec_dir = tmp_path / "recordings" / "c"
    rec_dir.mkdir(parents=True)
    a, b = rec_dir / "a.wav", rec_dir / "b.wav"
    a.write_bytes(b"RIFF-a")
    b.write_bytes(b"RIFF-b")
    path = csv_dir / "evidence.csv"
    with EvidenceWriter(path) as w:
        w.append(make_row(1, "../../recordings/c/a.wav", sha256_file(a)))  # relative to the CSV's folder
        w.append(make_row(2, str(b), sha256_file(b)))  # absolute
    assert verify_evidence(path).ok
    b.write_bytes(b"RIFF-b changed")
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row) == (False, 2)
    assert "row 2: recording" in result.message and "does not match recording_sha256" in result.message
    assert verify_evidence(path, check_recordings=False).ok
    a.unlink()
    result = verify_evidence(path)
    assert result.first_bad_row == 1 and "is missing" in result.message


def test_recording_without_hash_fails(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    (tmp_path / "a.wav").write_bytes(b"x")
    with EvidenceWriter(path) as w:
        w.append(make_row(1, "a.wav", None))
    assert "has no recording_sha256" in verify_evidence(path).message


def test_partial_last_line_from_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    hashes = write_rows(path, 2)
    whole = lines_of(path)
    with EvidenceWriter(tmp_path / "other.csv") as other:
        other.append(make_row(1))
        other.append(make_row(2))
        cut = lines_of(tmp_path / "other.csv")[2][:40]  # a row cut mid-write, no newline
    with path.open("a", encoding="utf-8") as f:
        f.write(cut)
    result = verify_evidence(path)
    assert (result.ok, result.rows, result.first_bad_row) == (False, 2, 3)
    assert "row 3: incomplete last line" in result.message
    with EvidenceWriter(path) as w:  # what --resume does
        assert w.recovered_fragment == cut
        assert (w.count, w.last_hash) == (2, hashes[-1])
        w.append(make_row(3))
    assert (tmp_path / "evidence.csv.partial").read_text(encoding="utf-8") == cut + "\n"
    assert lines_of(path)[:3] == whole
    result = verify_evidence(path)
    assert (result.ok, result.rows) == (True, 3)


def test_manifest_and_tail_truncation(tmp_path: Path) -> None:
    folder = tmp_path / "reports" / "c"
    path = folder / "evidence.csv"
    hashes = write_rows(path, 3)
    campaign = tmp_path / "c.yaml"
    campaign.write_text("campaign: c\n", encoding="utf-8")
    data = write_manifest(folder / "manifest.json", campaign, "c", "2026-01-01T00:00:00Z",
                          "2026-01-01T01:00:00Z",
                          {"rounds": 1}, evidence=path)
    on_disk = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == data
    assert data["campaign_file_sha256"] == hashlib.sha256(b"campaign: c\n").hexdigest()
    assert data["evidence"] == {"file": "evidence.csv", "sha256": sha256_file(path), "rows": 3,
                                "last_row_hash": hashes[-1], "chain_ok": True}
    assert set(data["versions"]) >= {"harness", "python", "pjsua2", "numpy", "pandas", "webrtcvad"}
    assert data["versions"]["harness"] and data["host"] and data["rounds"] == 1
    assert verify_evidence(path).ok
    with EvidenceWriter(path) as w:  # a resumed run appends after the manifest was written
        w.append(make_row(4))
    assert verify_evidence(path).ok
    lines = lines_of(path)
    path.write_text("".join(lines[:3]), encoding="utf-8")  # the last two rows removed
    result = verify_evidence(path)
    assert not result.ok and "2 rows, the manifest counted 3" in result.message
    with pytest.raises(BadInput, match="none.json: no such file"):
        verify_evidence(path, manifest=tmp_path / "none.json")
