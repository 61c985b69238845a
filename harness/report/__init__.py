"""The survey report: tables, plots, report.md/.html, CI thresholds and junit.xml from evidence CSVs.

Public API: :func:`build_report` and :class:`ReportResult`. Definitions of every figure: docs/REPORT.md.
"""

from harness.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
