"""Render the tables as text: the terminal headline, report.md and a self-contained report.html."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.report.definitions import DEFINITIONS
from harness.report.tables import ALL, Tables
from harness.report.thresholds import Check


@dataclass
class Context:
    """What the renderers show besides the tables."""

    sources: list[tuple[str, int, str]]  # (file, rows, sha256)
    verified: bool
    campaigns: list[str]
    propensity: list[float]
    checks: list[Check]
    images: dict[str, Path] = field(default_factory=dict)  # title -> PNG


def pct(v: object, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    # v is a table cell: an int, a float or a numpy number, all of which float() takes
    return f"{float(v) * 100:.{digits}f}%"  # type: ignore[arg-type]


def interval(v: object, lo: object, hi: object) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    return f"{pct(v)} [{pct(lo)}, {pct(hi)}]"


def secs(v: object) -> str:
    # v is a table cell, as in pct()
    return "n/a" if isinstance(v, float) and math.isnan(v) else f"{float(v):.1f}"  # type: ignore[arg-type]


def _name(h: str) -> str:
    return "all hotlines" if h == ALL else h


def headline_frame(summary: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "hotline": [_name(h) for h in summary["hotline_id"]],
        "attempts": summary["attempts"],
        "answered": summary["answered"],
        "drop rate [95% CI]": [interval(*t) for t in zip(summary["drop_rate"], summary["drop_rate_low"],
                                                         summary["drop_rate_high"])],
        "gentle": summary["gentle_disconnect"],
        "agent reached": [pct(v) for v in summary["agent_reached_rate"]],
        "lost to drops": [pct(v) for v in summary["loss_share"]],
    })


def outcomes_frame(summary: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "hotline": [_name(h) for h in summary["hotline_id"]],
        "target": summary["target"],
        "answer rate": [pct(v) for v in summary["answer_rate"]],
        "drops": summary["drops"],
        "dropped_silent": summary["dropped_silent"],
        "agent reached [95% CI]": [interval(*t) for t in zip(summary["agent_reached_rate"],
                                                             summary["agent_reached_rate_low"],
                                                             summary["agent_reached_rate_high"])],
        "busy": summary["busy"], "no answer": summary["no_answer"], "rejected": summary["rejected"],
        "error": summary["error"], "gave up on hold": summary["gave_up_on_hold"],
        "chains": summary["chains"], "longest drop streak": summary["max_drop_streak"],
    })


def timing_frame(summary: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "hotline": [_name(h) for h in summary["hotline_id"]],
        "answer median s": [secs(v) for v in summary["time_to_answer_median_s"]],
        "answer p90 s": [secs(v) for v in summary["time_to_answer_p90_s"]],
        "music before drop median s": [secs(v) for v in summary["music_before_drop_median_s"]],
        "music before drop p90 s": [secs(v) for v in summary["music_before_drop_p90_s"]],
        "to agent median s": [secs(v) for v in summary["time_to_agent_median_s"]],
        "to agent p90 s": [secs(v) for v in summary["time_to_agent_p90_s"]],
        "billed s": [secs(v) for v in summary["billed_s"]],
        "billed without service s": [secs(v) for v in summary["billed_no_service_s"]],
    })


def ladder_frame(ladder: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "round": ladder["round"].map(lambda r: "all" if r == ALL else r),
        "hotline": [_name(h) for h in ladder["hotline_id"]],
        "attempt k": ladder["attempt"],
        "chains reaching k": ladder["reached"],
        "dropped at k": ladder["dropped"],
        "drop rate at k [95% CI]": [interval(*t) for t in zip(
            ladder["conditional_drop_rate"], ladder["conditional_drop_rate_low"],
            ladder["conditional_drop_rate_high"])],
        "no agent within k": [f"{n}/{c} ({pct(s)})" for n, c, s in
                              zip(ladder["never_agent"], ladder["chains"], ladder["never_agent_share"])],
    })


def rounds_frame(by_round: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "round": by_round["round"],
        "hotline": [_name(h) for h in by_round["hotline_id"]],
        "attempts": by_round["attempts"], "answered": by_round["answered"],
        "drop rate [95% CI]": [interval(*t) for t in zip(by_round["drop_rate"], by_round["drop_rate_low"],
                                                         by_round["drop_rate_high"])],
        "agent reached": [pct(v) for v in by_round["agent_reached_rate"]],
        "lost to drops": [pct(v) for v in by_round["loss_share"]],
    })


def changes_frame(ch: pd.DataFrame) -> pd.DataFrame:
    def delta(v: float) -> str:
        return "n/a" if math.isnan(v) else f"{v * 100:+.1f} pts"
    return pd.DataFrame({
        "hotline": [_name(h) for h in ch["hotline_id"]],
        "rounds": [f"{a} → {b}" for a, b in zip(ch["from_round"], ch["to_round"])],
        "answer rate": [f"{pct(a)} → {pct(b)} ({delta(c)})" for a, b, c in
                        zip(ch["answer_rate_from"], ch["answer_rate_to"], ch["answer_rate_change"])],
        "drop rate": [f"{pct(a)} → {pct(b)} ({delta(c)})" for a, b, c in
                      zip(ch["drop_rate_from"], ch["drop_rate_to"], ch["drop_rate_change"])],
        "agent reached": [f"{pct(a)} → {pct(b)} ({delta(c)})" for a, b, c in
                          zip(ch["agent_reached_rate_from"], ch["agent_reached_rate_to"],
                              ch["agent_reached_rate_change"])],
    })


def loss_frame(summary: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "hotline": [_name(h) for h in summary["hotline_id"]],
        "drop rate": [pct(v) for v in summary["drop_rate"]],
        "callers lost to drops [range]": [interval(*t) for t in zip(
            summary["loss_share"], summary["loss_share_low"], summary["loss_share_high"])],
    })


def examples_frame(ex: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "outcome": ex["outcome"], "hotline": ex["hotline_id"], "round": ex["round"], "call_uid": ex["call_uid"],
        "evidence": [f"{Path(s).name} row {r}" for s, r in zip(ex["_source"], ex["_row"])],
        "answer s": [secs(v) for v in ex["answer_s"]], "duration s": [secs(v) for v in ex["duration_s"]],
        "hangup by": ex["disconnect_by"], "recording": ex["recording"],
    })


def checks_frame(checks: Sequence[Check]) -> pd.DataFrame:
    return pd.DataFrame({
        "threshold": [c.threshold.text for c in checks],
        "hotline": [_name(c.hotline) for c in checks],
        "result": [c.status.upper() for c in checks],
        "figure": [c.message for c in checks],
    }, columns=["threshold", "hotline", "result", "figure"])


def streaks_frame(streaks: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"hotline": streaks["hotline_id"], "longest consecutive drops in a chain":
                         streaks["streak"], "chains": streaks["chains"]})


def definitions_frame() -> pd.DataFrame:
    return pd.DataFrame(list(DEFINITIONS), columns=["column", "definition", "standard alignment"])


def sections(t: Tables, ctx: Context) -> list[tuple[str, str, str, pd.DataFrame]]:
    """(table id, title, note, frame) in report order: the md and html renderers show the same."""
    p = ", ".join(f"{v * 100:g}%" for v in ctx.propensity)
    return [
        ("headline", "Headline", ("Drop rate = (gentle_disconnect + dropped_silent) / answered, Wilson 95% "
         "interval. Callers lost: projection (see below)."), headline_frame(t.summary)),
        ("outcomes", "Outcomes per hotline", "", outcomes_frame(t.summary)),
        ("timing", "Timing and billing per hotline", "Seconds from the INVITE; median and 90th percentile.",
         timing_frame(t.summary)),
        ("ladder", "Redial ladder", ("For each attempt k: chains (simulated customers) that made attempt k, "
         "how many of those dropped there, and chains with no agent within k attempts."),
         ladder_frame(t.ladder[t.ladder["round"] == ALL])),
        ("streaks", "Consecutive-drop streaks", "Chains by their longest run of consecutive dropped attempts.",
         streaks_frame(t.streaks)),
        ("rounds", "Rounds side by side", "Every round × hotline, including rounds or hotlines without calls.",
         rounds_frame(t.by_round)),
        ("round-ladders", "Redial ladder per round", "", ladder_frame(t.ladder[t.ladder["round"] != ALL])),
        ("changes", "Change between rounds", "Overlapping intervals mean the change may be sampling noise.",
         changes_frame(t.round_changes)),
        ("loss", "Customer loss projection", (f"Redial propensity after the 1st, 2nd, 3rd… drop: {p} "
         "(the last repeats). Range from each drop rate's 95% bounds."), loss_frame(t.summary)),
        ("thresholds", "CI thresholds", "" if ctx.checks else "No thresholds were set.",
         checks_frame(ctx.checks)),
        ("examples", "Cited calls", "One call per outcome (the earliest); timelines in the figure.",
         examples_frame(t.examples)),
        ("definitions", "Metric definitions", "Full text and sources: docs/REPORT.md.", definitions_frame()),
    ]


def text_table(df: pd.DataFrame) -> str:
    """A plain aligned text table (the terminal headline)."""
    cols = [str(c) for c in df.columns]
    cells = [[str(v) for v in row] for row in df.itertuples(index=False)]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def md_table(df: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |",
             "|" + "|".join("---" for _ in df.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _sources_lines(ctx: Context) -> list[str]:
    state = "verified (hash chain and recordings)" if ctx.verified else "NOT verified (--no-verify)"
    out = [f"Campaign: {', '.join(ctx.campaigns) or 'n/a'}. Evidence {state}:"]
    out += [f"- {f}: {n} rows, sha256 {h}" for f, n, h in ctx.sources]
    return out


def render_markdown(t: Tables, ctx: Context) -> str:
    out = ["# Survey report", ""] + _sources_lines(ctx) + [""]
    for tid, title, note, frame in sections(t, ctx):
        out += [f"## {title}", ""]
        if note:
            out += [note, ""]
        if len(frame):
            out += [md_table(frame), ""]
        if tid == "headline" and "drop rates" in ctx.images:
            out += [f"![Drop rate per hotline]({ctx.images['drop rates'].name})", ""]
        if tid == "ladder" and "redial ladder" in ctx.images:
            out += [f"![Redial ladder]({ctx.images['redial ladder'].name})", ""]
        if tid == "examples" and "timelines" in ctx.images:
            out += [f"![Timelines of the cited calls]({ctx.images['timelines'].name})", ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0} tr:nth-child(even) td{background:#fafafa}
td.FAILED{color:#b00;font-weight:bold} td.PASSED{color:#070} img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:13px}
"""
_CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; } }
  document.body.setAttribute('data-images-loaded', String(ok));
  document.body.setAttribute('data-tables', String(document.querySelectorAll('table').length));
});
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def render_html(t: Tables, ctx: Context) -> str:
    """One self-contained HTML file: inline CSS, tables, PNGs embedded as data URIs, no network."""
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>Survey report</title>", f"<style>{_CSS}</style>", "</head>",
             f'<body data-images-expected="{len(ctx.images)}">', "<h1>Survey report</h1>"]
    src = _sources_lines(ctx)
    parts.append(f"<p>{e(src[0])}</p><ul>" + "".join(f"<li>{e(s[2:])}</li>" for s in src[1:]) + "</ul>")
    figs = {"headline": ("drop rates", "Drop rate per hotline"), "ladder": ("redial ladder", "Redial ladder"),
            "examples": ("timelines", "Timelines of the cited calls")}
    for tid, title, note, frame in sections(t, ctx):
        parts.append(f'<h2 id="{tid}">{e(title)}</h2>')
        if note:
            parts.append(f'<p class="note">{e(note)}</p>')
        table = frame.to_html(index=False, escape=True, border=0, table_id=f"t-{tid}", na_rep="n/a")
        if tid == "thresholds":
            for status in ("FAILED", "PASSED"):
                table = table.replace(f"<td>{status}</td>", f'<td class="{status}">{status}</td>')
        parts.append(table)
        if tid in figs and figs[tid][0] in ctx.images:
            parts.append(_img(ctx.images[figs[tid][0]], figs[tid][1]))
    parts += [f"<script>{_CHECK_SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts)
