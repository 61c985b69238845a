"""Rewrite a hand-made evidence fixture in the current schema through the real writer.

    .venv/bin/python tests/data/regenerate_evidence.py tests/data/evidence_small.csv

Cells are kept by column name (columns the schema no longer has are dropped, new ones are empty);
the hash chain is recomputed by ``EvidenceWriter``, never edited by hand. An inline JSON segment list
in a ``segments`` cell (schema 1 fixtures) becomes the file ``<call_uid>.wav.segments.json`` beside
the fixture, which the cell then names (schema 2: ``segments`` is the analysis file's path).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from harness.evidence import DATA_COLUMNS, EvidenceWriter


def regenerate(path: Path) -> None:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        seg = row.get("segments", "")
        if seg.startswith("["):
            name = f"{row['call_uid']}.wav.segments.json"
            (path.parent / name).write_text(seg + "\n", encoding="utf-8")
            row["segments"], row["segments_sha256"] = name, "0"  # fake, like the fixture's recording_sha256
    fresh = path.with_name(path.name + ".new")
    fresh.unlink(missing_ok=True)
    with EvidenceWriter(fresh) as w:
        for row in rows:
            w.append({k: v for k, v in row.items() if k in DATA_COLUMNS and k != "schema_version"})
    fresh.replace(path)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        regenerate(Path(arg))
