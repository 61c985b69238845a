"""The evidence chain verified as text in memory (harness.evidence.chain): no file is written or read."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

import pytest

from harness.evidence.chain import (
    COLUMNS,
    DATA_COLUMNS,
    HEADER_HASH,
    chained_line,
    csv_line,
    manifest_state,
    row_hash,
    verify_anchors,
    verify_rows,
    verify_text,
)

SOURCE = "reports/bank/evidence.csv"
MANIFEST = "reports/bank/manifest.json"


def row(i: int) -> dict[str, Any]:
    return {"campaign": "bank", "round": 1, "hotline_id": "bank-a", "attempt": i, "chain_id": "c1",
            "call_uid": f"call-{i}", "answered": True, "music_s": 20.0 + i, "outcome": "gentle_disconnect"}


def chain_text(n: int) -> tuple[str, list[str]]:
    """A chain of ``n`` rows as the writer lays it out, and each row's row_hash (index 0: the header's)."""
    text, hashes = csv_line(COLUMNS), [HEADER_HASH]
    for i in range(1, n + 1):
        line, digest = chained_line(row(i), hashes[-1])
        text += line
        hashes.append(digest)
    return text, hashes


def cells_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def text_of(table: list[list[str]]) -> str:
    return "".join(csv_line(cells) for cells in table)


def manifest_of(text: str, rows: int, head: str, state: str = "finished") -> dict[str, Any]:
    return {"campaign": "bank", "campaign_file": "bank.yaml", "state": state,
            "evidence": {"file": "evidence.csv", "sha256": hashlib.sha256(text.encode()).hexdigest(),
                         "rows": rows, "last_row_hash": head}}


def test_an_intact_chain_and_its_manifest_verify() -> None:
    text, hashes = chain_text(3)
    res = verify_text(text, SOURCE, manifest_of(text, 3, hashes[3]), manifest_name=MANIFEST, head=hashes[3])
    assert res.ok, res.message
    assert (res.rows, res.last_row_hash, res.state, res.notes) == (3, hashes[3], "finished", ())
    assert res.message == (f"{SOURCE}: intact (3 rows, chain intact, manifest agrees (finished), "
                           f"head matches --head); head {hashes[3]}")


def test_each_row_hash_is_the_canonical_text_of_its_cells() -> None:
    text, hashes = chain_text(2)
    table = cells_of(text)
    assert table[0] == list(COLUMNS)
    for n in (1, 2):
        assert table[n][-2] == hashes[n - 1]
        assert table[n][-1] == row_hash(table[n][:len(DATA_COLUMNS)], hashes[n - 1])


def test_a_forged_row_fails_at_that_row() -> None:
    table = cells_of(chain_text(3)[0])
    table[2][COLUMNS.index("outcome")] = "agent_reached"
    res = verify_text(text_of(table), SOURCE, require_manifest=False)
    assert (res.ok, res.first_bad_row, res.rows) == (False, 2, 1)
    assert res.message == f"{SOURCE}: row 2: row_hash does not match its content (the row was edited)"


def test_a_broken_prev_hash_fails_where_a_row_was_removed() -> None:
    table = cells_of(chain_text(3)[0])
    del table[2]
    res = verify_text(text_of(table), SOURCE, require_manifest=False)
    assert (res.ok, res.first_bad_row) == (False, 2)
    assert "row 2: prev_hash does not follow row 1 (a row was removed, inserted or moved here)" in res.message


def test_an_incomplete_last_line_fails_after_the_complete_rows() -> None:
    text, hashes = chain_text(2)
    res = verify_text(text[:-7], SOURCE, require_manifest=False)
    # the cut row no longer ends with a newline: it is the incomplete line, not a bad row
    assert (res.ok, res.first_bad_row, res.rows, res.last_row_hash) == (False, 2, 1, hashes[1])
    assert "row 2: incomplete last line" in res.message


def test_the_manifest_tail_catches_rows_removed_and_added_at_the_end() -> None:
    text, hashes = chain_text(3)
    full = manifest_of(text, 3, hashes[3])
    shorter = "".join(text.splitlines(keepends=True)[:3])  # header and two rows: still a valid chain
    res = verify_text(shorter, SOURCE, full, manifest_name=MANIFEST)
    assert (res.ok, res.first_bad_row) == (False, None)
    assert res.message == f"{SOURCE}: 2 rows, the manifest counted 3 (rows were removed at the end)"
    longer, more = chain_text(4)
    res = verify_text(longer, SOURCE, full, manifest_name=MANIFEST)
    assert (res.ok, res.first_bad_row) == (False, 4)
    assert "rows 4-4 were added after it was written" in res.message
    assert more[:4] == hashes


def test_the_manifest_tail_catches_changed_bytes_and_a_rewritten_chain() -> None:
    text, hashes = chain_text(2)
    stale = manifest_of(text + " ", 2, hashes[2])  # the sha256 of other bytes
    res = verify_text(text, SOURCE, stale, manifest_name=MANIFEST)
    assert not res.ok and "the file's bytes changed although every row still chains" in res.message
    rewritten = manifest_of(text, 2, "f" * 64)
    res = verify_text(text, SOURCE, rewritten, manifest_name=MANIFEST)
    assert (res.ok, res.first_bad_row) == (False, 2)
    assert "row 2: row_hash differs from the manifest's last_row_hash (the chain was rewritten)" in res.message


def test_a_running_manifest_anchors_its_rows_and_notes_the_rest() -> None:
    text, hashes = chain_text(3)
    res = verify_text(text, SOURCE, manifest_of(text, 1, hashes[1], state="running"), manifest_name=MANIFEST)
    assert res.ok and res.state == "running"
    assert res.notes == (("the run did not finish (manifest state running: killed, or still going): the manifest "
                          "anchors rows 1-1; the 2 row(s) after them are not anchored; finish it with "
                          "harness run bank.yaml --resume"),)


def test_no_manifest_fails_unless_not_required() -> None:
    text, _ = chain_text(1)
    assert verify_text(text, SOURCE, None, manifest_name=MANIFEST).message.startswith(f"{MANIFEST}: no manifest")
    assert verify_text(text, SOURCE, None, require_manifest=False).ok


def test_a_row_check_is_asked_about_each_good_row_in_order() -> None:
    text, _ = chain_text(3)
    asked: list[int] = []

    def files(n: int, cells: Any) -> str | None:
        asked.append(n)
        return f"recording of {cells['call_uid']} is missing" if n == 2 else None

    verdict = verify_rows(text, SOURCE, files)
    assert asked == [1, 2]
    assert verdict.result().message == f"{SOURCE}: row 2: recording of call-2 is missing"
    assert verify_anchors(verdict, text, None).failure == verdict.failure  # a failure stays the first one


@pytest.mark.parametrize(("data", "state"), [({"state": "running"}, "running"), ({"interrupted": True}, "interrupted"),
                                             ({}, "finished")])
def test_manifest_state(data: dict[str, Any], state: str) -> None:
    assert manifest_state(data) == state


def test_an_unknown_column_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown evidence column"):
        chained_line({"nope": 1}, HEADER_HASH)
