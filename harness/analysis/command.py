"""``harness analyze FILE.wav [--format json|csv|table]``: the analysis as the CLI shows it.

Each function turns an ``AnalysisResult`` into what one output format holds; ``harness.cli``
analyses the file, picks the format and prints.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

from harness.analysis.model import AnalysisResult

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["as_csv", "as_json", "as_table", "summary_line", "truncation_warning"]


def truncation_warning(file: Path, res: AnalysisResult) -> str | None:
    """The warning for a file whose header declares more audio than it holds (None when whole)."""
    if not res.truncated:
        return None
    declared = f"{res.declared_duration_s:.3f} s" if res.declared_duration_s is not None else "more"
    return (f"harness: warning: {file}: truncated: the header declares {declared} of audio, the file "
            f"holds {res.duration_s:.3f} s; analysed what is there")


def as_json(res: AnalysisResult) -> str:
    """The whole result as indented JSON (no trailing newline)."""
    return json.dumps(res.to_dict(), indent=1, ensure_ascii=False)


def as_csv(res: AnalysisResult) -> str:
    """The segments as CSV: a ``start_s,end_s,label`` header, then one line per segment."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["start_s", "end_s", "label"])
    for s in res.segments:
        w.writerow([f"{s.start_s:.3f}", f"{s.end_s:.3f}", s.label.value])
    return buf.getvalue()


def as_table(res: AnalysisResult) -> Table:
    """The segments as a table (times in seconds, two decimals), titled with the file and analyzer."""
    from rich.table import Table

    t = Table(title=f"{res.file}  {res.duration_s:.2f} s @ {res.sample_rate_hz} Hz  {res.analyzer}")
    for col in ("start_s", "end_s", "duration_s", "label"):
        t.add_column(col, justify="right" if col != "label" else "left")
    for s in res.segments:
        t.add_row(f"{s.start_s:.2f}", f"{s.end_s:.2f}", f"{s.duration_s:.2f}", s.label.value)
    return t


def summary_line(res: AnalysisResult) -> str:
    """Seconds per label heard, in label order, labels absent left out."""
    return "summary: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.summary.items() if v > 0)
