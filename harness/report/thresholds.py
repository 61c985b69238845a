"""CI thresholds: parse ``--fail-if`` expressions, check them against the summary, write junit.xml.

An expression states the failing condition::

    drop_rate>0.05              every hotline (one check per hotline)
    hotline:1001:drop_rate>0.2  one hotline
    overall:drop_rate>=5%       all hotlines pooled

METRIC is a numeric column of summary_by_hotline.csv; OP one of ``> >= < <=``; VALUE a number or a
percentage. The check compares the point estimate; the message also gives the 95% interval and the
evidence rows behind the figure. A figure that does not exist (no answered calls: no drop rate) is
reported as skipped, not passed or failed.
"""

from __future__ import annotations

import math
import operator
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import BadInput
from harness.report.evidence_io import DROP_OUTCOMES
from harness.report.tables import ALL, SUMMARY_COLUMNS

METRICS: tuple[str, ...] = tuple(c for c in SUMMARY_COLUMNS if c not in ("hotline_id", "target"))
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}
_EXPR = re.compile(r"^\s*(?:(?P<scope>overall|hotline:(?P<hotline>[^:\s]+)):)?\s*(?P<metric>[a-z0-9_]+)\s*"
                   r"(?P<op>>=|<=|>|<)\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<pct>%)?\s*$")
ALLOWED_FORM = ("allowed: [hotline:ID:|overall:]METRIC OP VALUE with OP one of > >= < <=, "
                "e.g. drop_rate>0.05, hotline:1001:drop_rate>0.2, overall:drop_rate>=5%")
MAX_ROWS_CITED = 20


@dataclass(frozen=True)
class Threshold:
    """One parsed expression; ``hotline`` is None for every hotline, ``ALL`` for the pooled figure."""

    text: str
    hotline: str | None
    metric: str
    op: str
    limit: float


@dataclass(frozen=True)
class Check:
    """One threshold checked on one hotline (a junit test case)."""

    threshold: Threshold
    hotline: str
    value: float
    status: str  # "passed" | "failed" | "skipped"
    message: str
    detail: str


def parse_threshold(text: str) -> Threshold:
    """Parse one ``--fail-if`` expression; BadInput with the allowed form when malformed."""
    m = _EXPR.match(text)
    if not m:
        raise BadInput(f"bad --fail-if {text!r}: {ALLOWED_FORM}")
    metric = m["metric"]
    if metric not in METRICS:
        raise BadInput(f"bad --fail-if {text!r}: unknown metric {metric!r}; metrics: {', '.join(METRICS)}")
    limit = float(m["value"]) / (100.0 if m["pct"] else 1.0)
    hotline = ALL if m["scope"] == "overall" else m["hotline"]
    return Threshold(text=text.strip(), hotline=hotline, metric=metric, op=m["op"], limit=limit)


def thresholds_from_campaign(thresholds: Mapping[str, Any] | None) -> list[str]:
    """Expressions from a campaign file's ``thresholds`` section.

    Accepts the campaign schema (``drop_rate_max``, ``per_hotline``) and ``fail_if``: a list of
    expressions in the ``--fail-if`` form.
    """
    if not thresholds:
        return []
    unknown = set(thresholds) - {"drop_rate_max", "per_hotline", "fail_if"}
    if unknown:
        raise BadInput(f"thresholds: unknown key(s) {', '.join(sorted(unknown))}; "
                       "allowed drop_rate_max, per_hotline, fail_if")
    out: list[str] = []
    cap = thresholds.get("drop_rate_max")
    if cap is not None:
        out.append(f"{'' if thresholds.get('per_hotline') else 'overall:'}drop_rate>{float(cap):g}")
    extra = thresholds.get("fail_if") or []
    if isinstance(extra, str) or not all(isinstance(e, str) for e in extra):
        raise BadInput("thresholds.fail_if: a list of expressions such as 'drop_rate>0.05'")
    return out + list(extra)


def _rows_behind(metric: str, calls: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The evidence rows a figure counts (its numerator, or the calls it measures) and what they are."""
    o = calls["outcome"]
    if metric in ("drop_rate", "drop_rate_low", "drop_rate_high", "drops", "music_before_drop_median_s",
                  "music_before_drop_p90_s", "loss_share", "loss_share_low", "loss_share_high",
                  "max_drop_streak"):
        return calls[o.isin(DROP_OUTCOMES)], "dropped calls"
    if metric in ("gentle_disconnect", "dropped_silent", "busy", "no_answer", "rejected", "error",
                  "gave_up_on_hold"):
        return calls[o == metric], f"{metric} calls"
    if metric.startswith(("agent_reached", "time_to_agent")):
        return calls[o == "agent_reached"], "calls that reached an agent"
    if metric.startswith("time_to_answer") or metric in ("answered", "answer_rate"):
        return calls[calls["answered"]], "answered calls"
    if metric == "billed_no_service_s":
        return calls[calls["answered"] & (o != "agent_reached")], "answered calls without an agent"
    return calls, "calls"


def _fmt(metric: str, v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    if metric.endswith("_s"):
        return f"{v:.1f} s"
    if "rate" in metric or "share" in metric:
        return f"{v:.3f}"
    return f"{v:g}"


def check_thresholds(exprs: Sequence[str], summary: pd.DataFrame, calls: pd.DataFrame) -> list[Check]:
    """Check every expression on its hotlines (in summary order). Raises BadInput for a malformed
    expression or a hotline that is not in the evidence."""
    parsed = [parse_threshold(e) for e in exprs]
    hotlines = [h for h in summary["hotline_id"] if h != ALL]
    checks: list[Check] = []
    for th in parsed:
        if th.hotline is not None and th.hotline not in set(summary["hotline_id"]):
            raise BadInput(f"--fail-if {th.text!r}: hotline {th.hotline} is not in the evidence "
                           f"(hotlines: {', '.join(hotlines)})")
        scope = hotlines if th.hotline is None else [th.hotline]
        for h in scope:
            s = summary[summary["hotline_id"] == h].iloc[0]
            value = float(s[th.metric])
            sel = calls if h == ALL else calls[calls["hotline_id"] == h]
            who = "all hotlines" if h == ALL else f"hotline {h}"
            basis = []
            if f"{th.metric}_low" in summary.columns:
                basis.append(f"95% CI {_fmt(th.metric, float(s[th.metric + '_low']))}"
                             f"-{_fmt(th.metric, float(s[th.metric + '_high']))}")
            if th.metric.startswith("drop_rate"):
                basis.append(f"{int(s['drops'])} of {int(s['answered'])} answered calls dropped")
            rows, what = _rows_behind(th.metric, sel)
            cited = [f"{src} row {r} ({uid})" for src, r, uid in zip(rows["_source"], rows["_row"], rows["call_uid"])]
            more = len(cited) - MAX_ROWS_CITED
            figure = f"{who}: {th.metric} {_fmt(th.metric, value)}"
            detail = (f"{figure} ({'; '.join(basis + [f'{int(s.attempts)} attempts'])})\n"
                      f"evidence rows ({len(rows)} {what}):\n") + "\n".join(cited[:MAX_ROWS_CITED])
            if more > 0:
                detail += f"\n... and {more} more"
            why = f" ({'; '.join(basis)})" if basis else ""
            if math.isnan(value):
                checks.append(Check(th, h, value, "skipped",
                                    f"{who}: no {th.metric} to check ({int(s['answered'])} answered of "
                                    f"{int(s['attempts'])} attempts)", detail))
            elif OPS[th.op](value, th.limit):
                checks.append(Check(th, h, value, "failed",
                                    f"{figure} {th.op} {th.limit:g}{why} [{th.text}]", detail))
            else:
                checks.append(Check(th, h, value, "passed", f"{figure}, not {th.op} {th.limit:g}{why} [{th.text}]",
                                    detail))
    return checks


def write_junit(checks: Sequence[Check], path: Path) -> None:
    """junit.xml: one test suite, one test case per (threshold, hotline); failures carry the figure,
    its interval and the evidence rows."""
    suite = ET.Element("testsuite", {
        "name": "harness.report.thresholds", "tests": str(len(checks)),
        "failures": str(sum(c.status == "failed" for c in checks)),
        "skipped": str(sum(c.status == "skipped" for c in checks)), "errors": "0",
    })
    for c in checks:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"hotline.{c.hotline}", "name": c.threshold.text})
        if c.status == "failed":
            ET.SubElement(case, "failure", {"message": c.message, "type": "ThresholdFailed"}).text = c.detail
        elif c.status == "skipped":
            ET.SubElement(case, "skipped", {"message": c.message})
        else:
            ET.SubElement(case, "system-out").text = c.detail
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise BadInput(f"{path}: cannot write junit file: {exc.strerror or exc}") from exc
