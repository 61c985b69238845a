"""Evidence CSV: the hash chain catches edits, removals, swaps, insertions and changed recordings;
the manifest catches rows added or removed at the end; the files each row names are hashed, kept in
the campaign's recordings folder and bound to their call; the head hash and the manifest's Ed25519
signature anchor a chain rewritten whole."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from harness.digest import sha256_file
from harness.errors import BadInput
from harness.evidence import (
    COLUMNS,
    HEADER_HASH,
    US,
    EvidenceWriter,
    read_evidence,
    row_hash,
    verify_evidence,
    write_manifest,
)
from harness.vocab import Outcome

ANALYZER = "harness-phases/1.0/abcd"

CONTRACT = [
    "schema_version", "campaign", "round", "hotline_id", "target", "attempt", "chain_id", "call_uid",
    "sip_call_id", "started_at", "final_status", "final_reason", "answered", "ring_s", "answer_s",
    "early_media_s", "music_s", "speech_s", "silence_s", "tone_s", "first_speech_s", "disconnect_by",
    "duration_s", "billed_s", "outcome", "recording", "recording_sha256", "recording_duration_s",
    "recording_gap_s", "analyzer",
]


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
        "analyzer": ANALYZER, "agent_start_s": None, "note": "line one\nline two",
    }


def write_wav(path: Path, seconds: float, tone_hz: float = 440.0) -> None:
    """A real 8 kHz PCM16 mono WAV of ``seconds``."""
    t = np.arange(int(seconds * 8000)) / 8000
    samples = (3000 * np.sin(2 * np.pi * tone_hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())


def call_row(rec_dir: Path, i: int, seconds: float | None = None, relative_to: Path | None = None
             ) -> dict[str, object]:
    """What a finished call leaves (recording, timeline, SIP log, analysis, as the runner names them in
    ``rec_dir``) and its row, every file hashed; paths absolute, or relative to ``relative_to``."""
    rec_dir.mkdir(parents=True, exist_ok=True)
    uid, call_id = f"call-{i}", f"abc{i}@host"
    seconds = seconds if seconds is not None else 1.0 + i / 4
    files = {"recording": rec_dir / f"{uid}.wav", "events": rec_dir / f"{uid}.events.json",
             "sip_log": rec_dir / f"{uid}.sip.log", "segments": rec_dir / f"{uid}.wav.segments.json"}
    write_wav(files["recording"], seconds, 300.0 + 50 * i)
    files["events"].write_text(json.dumps({"call_uid": uid, "sip_call_id": call_id, "target": "sip:1001@x"}))
    files["sip_log"].write_text(f"--- 2026-01-01T00:00:00.000Z out\nINVITE sip:1001@x SIP/2.0\nCall-ID: {call_id}\n")
    files["segments"].write_text(json.dumps({"file": str(files["recording"]), "analyzer": ANALYZER,
                                             "duration_s": round(seconds, 3),
                                             "segments": [{"start_s": 0, "end_s": seconds, "label": "music"}]}))
    row = make_row(i)
    row["recording_duration_s"] = round(seconds, 3)
    for col, f in files.items():
        row[col] = str(f) if relative_to is None else os.path.relpath(f, relative_to)
        row[f"{col}_sha256"] = sha256_file(f)
    return row


def write_rows(path: Path, n: int) -> list[str]:
    with EvidenceWriter(path) as w:
        return [w.append(make_row(i)) for i in range(1, n + 1)]


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def finish(evidence: Path, state: str = "finished") -> dict[str, object]:
    """The manifest harness run writes at the end (its recordings folder: ../../recordings/<campaign>)."""
    campaign = evidence.parent / "campaign.yaml"
    if not campaign.exists():
        campaign.write_text("campaign: c\n", encoding="utf-8")
    rec = f"../../recordings/{evidence.parent.name}"
    return write_manifest(evidence.parent / "manifest.json", campaign, "c", "2026-01-01T00:00:00Z",
                          None if state == "running" else "2026-01-01T01:00:00Z", {"recordings": rec},
                          evidence=evidence, state=state)


def test_columns_keep_the_contract_order() -> None:
    assert list(COLUMNS[:len(CONTRACT)]) == CONTRACT
    assert COLUMNS[-2:] == ("prev_hash", "row_hash")


def test_chain_valid_and_formatting(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "c" / "evidence.csv"
    hashes = write_rows(path, 3)
    finish(path)
    result = verify_evidence(path)
    assert (result.ok, result.rows, result.first_bad_row) == (True, 3, None), result.message
    rows = read_evidence(path)
    assert [r["row_hash"] for r in rows] == hashes
    assert rows[0]["prev_hash"] == HEADER_HASH and rows[1]["prev_hash"] == hashes[0]
    r = rows[0]
    assert (r["schema_version"], r["ring_s"], r["first_speech_s"], r["answered"], r["agent_start_s"]) == \
        ("2", "2.000", "20.123", "true", "")
    assert (r["outcome"], r["note"]) == ("gentle_disconnect", "line one line two")
    assert len(lines_of(path)) == 4  # header + one physical line per call


def test_row_hash_is_the_documented_canonical_text(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    write_rows(path, 2)
    with path.open(encoding="utf-8", newline="") as f:
        header, first, second = list(csv.reader(f))
    assert hashlib.sha256(US.join(header).encode()).hexdigest() == HEADER_HASH
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
    assert "header is not the evidence schema v2 header" in result.message
    with pytest.raises(BadInput, match="refusing to append"):
        EvidenceWriter(path)


def test_schema_v1_evidence_is_named(tmp_path: Path) -> None:
    path = tmp_path / "evidence.csv"
    v1 = [c for c in COLUMNS if not c.endswith("_sha256") or c == "recording_sha256"]
    v1.remove("segments")
    path.write_text(",".join(v1) + "\n" + ",".join(["1"] + [""] * (len(v1) - 1)) + "\n", encoding="utf-8")
    result = verify_evidence(path)
    assert not result.ok and "evidence schema v1; this harness reads v2 only" in result.message


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
    with EvidenceWriter(path), pytest.raises(BadInput, match="another process is writing"):
        EvidenceWriter(path)


def test_unknown_column_refused(tmp_path: Path) -> None:
    with EvidenceWriter(tmp_path / "evidence.csv") as w, pytest.raises(ValueError, match="outcom"):
        w.append({"outcom": "busy"})


def test_recordings_checked(tmp_path: Path) -> None:
    path, rec_dir = tmp_path / "reports" / "c" / "evidence.csv", tmp_path / "recordings" / "c"
    with EvidenceWriter(path) as w:
        w.append(call_row(rec_dir, 1, relative_to=path.parent))  # relative to the CSV's folder
        w.append(call_row(rec_dir, 2))  # absolute
    finish(path)
    assert verify_evidence(path).ok, verify_evidence(path).message
    wav = rec_dir / "call-2.wav"
    wav.write_bytes(wav.read_bytes()[:-2] + b"\x01\x00")
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row) == (False, 2)
    assert "row 2: recording" in result.message and "does not match recording_sha256" in result.message
    assert verify_evidence(path, check_recordings=False).ok
    (rec_dir / "call-1.wav").unlink()
    result = verify_evidence(path)
    assert result.first_bad_row == 1 and "is missing" in result.message


def test_recording_without_hash_fails(tmp_path: Path) -> None:
    path, rec_dir = tmp_path / "reports" / "c" / "evidence.csv", tmp_path / "recordings" / "c"
    with EvidenceWriter(path) as w:
        w.append({**call_row(rec_dir, 1), "recording_sha256": None})
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
    finish(path)
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
    assert data["state"] == "finished" and data["evidence_schema_version"] == 2
    assert verify_evidence(path).ok
    lines = lines_of(path)
    path.write_text("".join(lines[:3]), encoding="utf-8")  # the last row removed
    result = verify_evidence(path)
    assert not result.ok and "2 rows, the manifest counted 3" in result.message
    result = verify_evidence(path, manifest=tmp_path / "none.json")
    assert not result.ok and "none.json: no manifest" in result.message


# --- the blind spots of issue 12 (section 3): each test fails without its fix ------------------------

def campaign_of(tmp_path: Path, n: int = 3) -> tuple[Path, Path, list[str]]:
    """A finished run: ``n`` calls with every file, evidence and the finished manifest."""
    path, rec_dir = tmp_path / "reports" / "c" / "evidence.csv", tmp_path / "recordings" / "c"
    with EvidenceWriter(path) as w:
        hashes = [w.append(call_row(rec_dir, i, relative_to=path.parent)) for i in range(1, n + 1)]
    finish(path)
    assert verify_evidence(path).ok, verify_evidence(path).message
    return path, rec_dir, hashes


def rewrite(path: Path, edit, manifest: bool = True) -> None:
    """What a forger with write access does: edit the table, recompute every row's chain, and (with
    ``manifest``) write the manifest again so that it agrees."""
    with path.open(encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    header, rows = table[0], [dict(zip(table[0], r)) for r in table[1:]]
    edit(rows)
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header)
        prev = HEADER_HASH
        for r in rows:
            cells = [r[c] for c in header[:-2]]
            digest = row_hash(cells, prev)
            out.writerow(cells + [prev, digest])
            prev = digest
    if manifest:
        finish(path)


def test_forged_append_with_a_chained_hash_fails(tmp_path: Path) -> None:
    """A forged row appended with a correctly chained hash: the chain is intact, the manifest of the
    finished run counted 8 rows (used to say 'intact … manifest agrees')."""
    path = tmp_path / "reports" / "c" / "evidence.csv"
    write_rows(path, 8)
    finish(path)
    assert verify_evidence(path).ok
    with EvidenceWriter(path) as w:  # the writer chains it correctly
        w.append(make_row(9))
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row, result.rows) == (False, 9, 9)
    assert "9 rows, the manifest of the finished run counted 8: rows 9-9 were added after it" in result.message


def test_file_bytes_changed_without_changing_a_row_fails(tmp_path: Path) -> None:
    """The manifest's own evidence.sha256 is compared: a cell re-quoted decodes to the same text (every
    row still chains) but the file is no longer the one the run wrote."""
    path = tmp_path / "reports" / "c" / "evidence.csv"
    write_rows(path, 3)
    finish(path)
    path.write_text(path.read_text(encoding="utf-8").replace(",bank-survey,", ',"bank-survey",', 1),
                    encoding="utf-8")
    result = verify_evidence(path, check_recordings=False)
    assert not result.ok and "differs from the manifest's" in result.message and "still chains" in result.message


def test_deleted_manifest_fails(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "c" / "evidence.csv"
    write_rows(path, 3)
    finish(path)
    (path.parent / "manifest.json").unlink()
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row) == (False, None)
    assert f"{path.parent / 'manifest.json'}: no manifest" in result.message
    assert verify_evidence(path, require_manifest=False).ok  # the chain alone, for the API's callers


def test_running_manifest_anchors_what_it_saw_and_says_the_rest_is_not(tmp_path: Path) -> None:
    """A run killed after it (re)started leaves a manifest in state running: the rows it saw at the start
    are held to it, the rows after are intact but unanchored, and the result says so."""
    path = tmp_path / "reports" / "c" / "evidence.csv"
    write_rows(path, 2)
    finish(path, state="running")  # a resume starts: 2 rows so far
    with EvidenceWriter(path) as w:
        w.append(make_row(3))
    result = verify_evidence(path)
    assert (result.ok, result.state, result.rows) == (True, "running", 3)
    assert len(result.notes) == 1 and "the run did not finish" in result.notes[0]
    assert "anchors rows 1-2; the 1 row(s) after them are not anchored" in result.notes[0]
    assert "--resume" in result.notes[0]
    rewrite(path, lambda rows: rows[0].update(outcome="agent_reached"), manifest=False)
    result = verify_evidence(path)  # the anchored part rewritten: refused
    assert not result.ok and "row 2: row_hash differs from the manifest's last_row_hash" in result.message


def test_interrupted_manifest_is_held_exactly_and_says_the_run_did_not_finish(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "c" / "evidence.csv"
    write_rows(path, 2)
    finish(path, state="interrupted")
    result = verify_evidence(path)
    assert (result.ok, result.state) == (True, "interrupted")
    assert "did not finish (interrupted)" in result.notes[0]
    with EvidenceWriter(path) as w:
        w.append(make_row(3))
    assert "rows 3-3 were added" in verify_evidence(path).message


def test_resume_rewrites_the_manifest_so_appended_rows_are_anchored_again(tmp_path: Path) -> None:
    """A finished run's manifest no longer accepts rows after it; a resume (running at its start,
    finished at its end) is what makes rows appended later valid."""
    path = tmp_path / "reports" / "c" / "evidence.csv"
    write_rows(path, 2)
    finish(path, state="interrupted")
    finish(path, state="running")  # harness run --resume starts
    with EvidenceWriter(path) as w:
        w.append(make_row(3))
    assert verify_evidence(path).state == "running"
    finish(path)  # ... and ends
    result = verify_evidence(path)
    assert (result.ok, result.state, result.notes) == (True, "finished", ())


def test_recording_swapped_with_another_calls_and_chain_recomputed_fails(tmp_path: Path) -> None:
    """Row 1 made to point at call 2's recording, recording_sha256 updated, chain and manifest
    recomputed: the file is not named after row 1's call."""
    path, _, _ = campaign_of(tmp_path)

    def swap(rows: list[dict[str, str]]) -> None:
        for col in ("recording", "recording_sha256", "recording_duration_s"):
            rows[0][col] = rows[1][col]
    rewrite(path, swap)
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row) == (False, 1)
    assert "recording ../../recordings/c/call-2.wav is not named after this row's call (call-1.wav)" in result.message


def test_recording_content_swapped_and_chain_recomputed_fails(tmp_path: Path) -> None:
    """The two calls' WAVs exchanged under their own names, both hashes updated, chain and manifest
    recomputed: the recording is not as long as the call's analysis (hashed in the row) says."""
    path, rec_dir, _ = campaign_of(tmp_path)
    a, b = rec_dir / "call-1.wav", rec_dir / "call-2.wav"
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)

    def rehash(rows: list[dict[str, str]]) -> None:
        rows[0]["recording_sha256"], rows[1]["recording_sha256"] = sha256_file(a), sha256_file(b)
    rewrite(path, rehash)
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row) == (False, 1)
    assert ("recording ../../recordings/c/call-1.wav lasts 1.500 s, its analysis "
            "../../recordings/c/call-1.wav.segments.json 1.250 s: the analysis is not of this file") in result.message


def test_timeline_of_another_call_fails(tmp_path: Path) -> None:
    """call-1's events.json replaced by call-2's, its hash updated, chain and manifest recomputed."""
    path, rec_dir, _ = campaign_of(tmp_path)
    (rec_dir / "call-1.events.json").write_bytes((rec_dir / "call-2.events.json").read_bytes())
    rewrite(path, lambda rows: rows[0].update(events_sha256=sha256_file(rec_dir / "call-1.events.json")))
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row) == (False, 1)
    assert "are the timeline of call 'call-2', not of call-1" in result.message


@pytest.mark.parametrize("where", ["absolute", "dotdot", "symlink"])
def test_recording_outside_the_recordings_folder_fails(tmp_path: Path, where: str) -> None:
    path, rec_dir, _ = campaign_of(tmp_path)
    outside = tmp_path / "elsewhere" / "call-1.wav"  # named after the call, but not in the folder
    outside.parent.mkdir()
    outside.write_bytes((rec_dir / "call-1.wav").read_bytes())
    if where == "absolute":
        target, cell = Path("/etc/hostname"), "/etc/hostname"
    elif where == "dotdot":
        target, cell = outside, "../../recordings/c/../../elsewhere/call-1.wav"
    else:
        (rec_dir / "call-1.wav").unlink()
        (rec_dir / "call-1.wav").symlink_to(outside)
        target, cell = outside, "../../recordings/c/call-1.wav"
    rewrite(path, lambda rows: rows[0].update(recording=cell, recording_sha256=sha256_file(target)))
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row) == (False, 1)
    assert f"recording {cell} is outside the campaign's recordings folder" in result.message
    assert f"resolves to {target.resolve()}" in result.message


@pytest.mark.parametrize("col", ["events", "sip_log", "segments"])
def test_each_sidecar_is_hashed_into_its_row(tmp_path: Path, col: str) -> None:
    path, _, _ = campaign_of(tmp_path)
    rows = read_evidence(path)
    assert all(r[f"{col}_sha256"] for r in rows)
    side = path.parent / rows[1][col]
    side.write_text(side.read_text(encoding="utf-8").replace("abc2@host", "abc2@host ").replace(
        '"music"', '"speech"'), encoding="utf-8")
    result = verify_evidence(path)
    assert (result.ok, result.first_bad_row) == (False, 2)
    assert f"row 2: {col} ../../recordings/c/call-2" in result.message
    assert f"does not match {col}_sha256" in result.message


def test_analysis_of_another_recording_fails(tmp_path: Path) -> None:
    path, rec_dir, _ = campaign_of(tmp_path)
    seg = rec_dir / "call-1.wav.segments.json"
    seg.write_bytes((rec_dir / "call-2.wav.segments.json").read_bytes())
    rewrite(path, lambda rows: rows[0].update(segments_sha256=sha256_file(seg)))
    result = verify_evidence(path)
    assert result.first_bad_row == 1 and "are the analysis of" in result.message and "not of call-1.wav" in result.message


def test_head_hash_anchor(tmp_path: Path) -> None:
    """A chain rewritten whole with its manifest passes every check inside the files; the head hash
    published at the end of the run does not."""
    path, _, hashes = campaign_of(tmp_path)
    assert verify_evidence(path, head=hashes[-1]).ok
    assert verify_evidence(path, head=hashes[-1].upper()).ok
    rewrite(path, lambda rows: rows[1].update(outcome="agent_reached", note="forged"))
    assert verify_evidence(path).ok  # consistent with itself: only an anchor outside the files can tell
    result = verify_evidence(path, head=hashes[-1])
    assert not result.ok and "the published head" in result.message and "is no row's row_hash" in result.message
    path2, _, hashes2 = campaign_of(tmp_path / "two")
    with EvidenceWriter(path2) as w:
        w.append(make_row(9))
    finish(path2)  # rows appended and the manifest rewritten: the published head is now row 3's
    result = verify_evidence(path2, head=hashes2[-1])
    assert (result.ok, result.first_bad_row) == (False, 4)
    assert "the published head is row 3's row_hash, but 1 row(s) follow it" in result.message
    assert "not a head hash" in verify_evidence(path2, head="abc").message


# --- through the CLI: one line, exit 2, the first bad row; a run that did not finish is a warning ----

def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=60, check=False)


def test_cli_verify_forged_append_deleted_manifest_and_unfinished_run(tmp_path: Path) -> None:
    path, _, hashes = campaign_of(tmp_path)
    ok = cli("verify", str(path))
    assert ok.returncode == 0 and "intact (3 rows" in ok.stdout and "manifest agrees (finished)" in ok.stdout
    assert ok.stdout.strip().endswith(f"head {hashes[-1]}") and ok.stderr == ""
    elsewhere = cli("verify", str(path), "--recordings-folder", str(tmp_path / "other"))
    assert elsewhere.returncode == 2 and "outside the campaign's recordings folder" in elsewhere.stderr
    with EvidenceWriter(path) as w:
        w.append(make_row(9))
    forged = cli("verify", str(path), "--no-recordings")
    assert forged.returncode == 2 and forged.stderr.count("\n") == 1 and "Traceback" not in forged.stderr
    assert forged.stderr.startswith("harness: error: ") and "rows 4-4 were added after it" in forged.stderr
    finish(path, state="running")
    unfinished = cli("verify", str(path), "--no-recordings")
    assert unfinished.returncode == 0 and "intact (4 rows" in unfinished.stdout
    assert unfinished.stderr.startswith("harness: warning: the run did not finish (manifest state running")
    (path.parent / "manifest.json").unlink()
    gone = cli("verify", str(path))
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1 and "manifest.json: no manifest" in gone.stderr
