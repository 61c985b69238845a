"""``build_report``: evidence CSVs in, tables/plots/report.md/report.html/junit.xml and an exit code out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.digest import sha256_file
from harness.errors import EXIT_OK, EXIT_THRESHOLDS, BadInput
from harness.report import plots
from harness.report.evidence_io import call_segments, read_evidence
from harness.report.render import Context, headline_frame, render_html, render_markdown, text_table
from harness.report.tables import Tables, build_tables
from harness.report.thresholds import (
    Check,
    check_thresholds,
    parse_threshold,
    thresholds_from_campaign,
    write_junit,
)
from harness.vocab import DEFAULT_REDIAL_PROPENSITY


@dataclass
class ReportResult:
    """What ``build_report`` did: ``exit_code`` 0 (thresholds passed or none) or 1 (one exceeded)."""

    exit_code: int
    headline: str
    tables: Tables
    checks: list[Check]
    files: list[Path] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "failed"]


def _propensity(values: Sequence[float] | None) -> list[float]:
    if values is None:
        return list(DEFAULT_REDIAL_PROPENSITY)
    out = list(values)
    if not out:
        raise BadInput("redial_propensity: give at least one fraction, e.g. [0.82, 0.54, 0.02]")
    for i, p in enumerate(out):
        if not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise BadInput(f"redial_propensity[{i}] = {p!r} is not a fraction between 0 and 1")
    return [float(p) for p in out]


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def build_report(evidence: list[Path], out_dir: Path, *, fail_if: list[str], junit: Path | None,
                 verify: bool = True, thresholds: Mapping[str, Any] | None = None,
                 redial_propensity: list[float] | None = None,
                 rounds: Sequence[str] | int | None = None) -> ReportResult:
    """Compute the survey's figures from ``evidence`` and write them to ``out_dir``.

    Writes summary_by_hotline.csv, redial_ladder.csv, by_round.csv, round_changes.csv, drop_streaks.csv,
    report.md, report.html (self-contained) and drop_rates.png, redial_ladder.png, timelines.png; and
    ``junit`` when given. ``fail_if`` expressions and ``thresholds`` (a campaign file's section) are
    checked on the summary; ``rounds`` (declared round labels, or a count: "1".."N") makes rounds without
    calls appear. Raises BadInput for unreadable, tampered (when ``verify``) or malformed input and for
    a malformed expression.
    """
    propensity = _propensity(redial_propensity)
    exprs = thresholds_from_campaign(thresholds) + list(fail_if)
    for e in exprs:  # fail fast, before any work
        parse_threshold(e)
    declared = [str(i) for i in range(1, rounds + 1)] if isinstance(rounds, int) else \
        [str(r) for r in rounds] if rounds is not None else None
    paths = [Path(p) for p in evidence]
    calls = read_evidence(paths, verify=verify)
    tables = build_tables(calls, propensity=propensity, declared_rounds=declared)
    checks = check_thresholds(exprs, tables.summary, calls)

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{out_dir}: cannot create the report folder: {exc.strerror or exc}") from exc
    files = [
        _write_csv(tables.summary, out_dir / "summary_by_hotline.csv"),
        _write_csv(tables.ladder, out_dir / "redial_ladder.csv"),
        _write_csv(tables.by_round, out_dir / "by_round.csv"),
        _write_csv(tables.round_changes, out_dir / "round_changes.csv"),
        _write_csv(tables.streaks, out_dir / "drop_streaks.csv"),
    ]
    segments = []
    for _, ex in tables.examples.iterrows():
        row = calls[calls["call_uid"] == ex["call_uid"]].iloc[0]
        segments.append(call_segments(row, Path(row["_source"]).parent))
    images = {
        "drop rates": plots.plot_drop_rates(tables.summary, out_dir / "drop_rates.png"),
        "redial ladder": plots.plot_ladder(tables.ladder, out_dir / "redial_ladder.png"),
        "timelines": plots.plot_timelines(tables.examples, segments, out_dir / "timelines.png"),
    }
    files += list(images.values())
    ctx = Context(
        sources=[(str(p), int((calls["_source"] == str(p)).sum()), sha256_file(p)) for p in paths],
        verified=verify, campaigns=sorted(set(calls["campaign"])), propensity=propensity, checks=checks,
        images=images)
    (out_dir / "report.md").write_text(render_markdown(tables, ctx) + "\n", encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(tables, ctx) + "\n", encoding="utf-8")
    files += [out_dir / "report.md", out_dir / "report.html"]
    if junit is not None:
        write_junit(checks, junit)
        files.append(junit)

    failed = [c for c in checks if c.status == "failed"]
    headline = text_table(headline_frame(tables.summary))
    if checks:
        headline += f"\nthresholds: {len(checks) - len(failed)} of {len(checks)} checks not exceeded"
        headline += "".join(f"\nFAILED {c.message}" for c in failed)
    return ReportResult(exit_code=EXIT_THRESHOLDS if failed else EXIT_OK, headline=headline, tables=tables,
                        checks=checks, files=files)
