"""``harness analyze FILE.wav [--format json|csv|table]``: the CLI edge of the analysis."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

from harness.analysis.wavfile import analyze_file


def analyze_command(file: Path, fmt: str) -> None:
    """Analyse ``file`` and print it as JSON, CSV (start_s,end_s,label) or a table.
    Bad input raises ``harness.errors.BadInput`` (one red line, exit code 2). A truncated
    file is analysed as far as it goes, with one warning line on stderr (exit code 0)."""
    res = analyze_file(file)
    if res.truncated:
        declared = f"{res.declared_duration_s:.3f} s" if res.declared_duration_s is not None else "more"
        click.secho(f"harness: warning: {file}: truncated: the header declares {declared} of audio, the file "
                    f"holds {res.duration_s:.3f} s; analysed what is there", fg="yellow", err=True)
    if fmt == "json":
        click.echo(json.dumps(res.to_dict(), indent=1, ensure_ascii=False))
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["start_s", "end_s", "label"])
        for s in res.segments:
            w.writerow([f"{s.start_s:.3f}", f"{s.end_s:.3f}", s.label.value])
        click.echo(buf.getvalue(), nl=False)
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"{res.file}  {res.duration_s:.2f} s @ {res.sample_rate_hz} Hz  {res.analyzer}")
        for col in ("start_s", "end_s", "duration_s", "label"):
            t.add_column(col, justify="right" if col != "label" else "left")
        for s in res.segments:
            t.add_row(f"{s.start_s:.2f}", f"{s.end_s:.2f}", f"{s.duration_s:.2f}", s.label.value)
        Console(width=100).print(t)
        click.echo("summary: " + ", ".join(f"{k} {v:.1f} s" for k, v in res.summary.items() if v > 0))
