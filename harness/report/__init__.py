"""The survey report: tables, plots, report.md/.html, CI thresholds and junit.xml from evidence CSVs."""
