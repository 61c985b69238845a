"""PNG plots of the report tables (matplotlib, headless Agg backend). Each function writes one file."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.patches import Patch

from harness.report.tables import ALL

#: segment label -> colour (labels of `harness analyze`, plus the signalling phases)
COLOURS: dict[str, str] = {
    "ringing": "#f2e6a6", "early_media": "#c9d9ee", "silence": "#bdbdbd", "music": "#4c78a8",
    "speech": "#f58518", "ringback": "#e4c440", "busy_tone": "#d62728", "sit": "#9467bd", "dtmf": "#2ca02c",
    "tone": "#8c564b",
}
_DPI = 100


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_drop_rates(summary: pd.DataFrame, path: Path) -> Path:
    """Drop rate per hotline (and all hotlines) with its Wilson 95% interval."""
    rows = summary.iloc[::-1].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.4))
    for y, r in rows.iterrows():
        label = "all hotlines" if r["hotline_id"] == ALL else str(r["hotline_id"])
        if r["answered"] == 0 or math.isnan(r["drop_rate"]):
            ax.text(0.01, y, f"{label}: no answered calls", va="center", fontsize=8, color="#777777")
            continue
        colour = "#333333" if r["hotline_id"] == ALL else "#d62728"
        ax.errorbar([r["drop_rate"]], [y], xerr=[[r["drop_rate"] - r["drop_rate_low"]],
                                                 [r["drop_rate_high"] - r["drop_rate"]]],
                    fmt="o", color=colour, capsize=4)
        ax.text(min(r["drop_rate_high"] + 0.02, 0.9), y + 0.18,
                f"{int(r['drops'])}/{int(r['answered'])}", fontsize=7, color="#555555")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(["all hotlines" if h == ALL else str(h) for h in rows["hotline_id"]])
    ax.set_xlim(0, 1)
    ax.set_xlabel("drop rate = (gentle_disconnect + dropped_silent) / answered, Wilson 95% interval")
    ax.set_title("Drop rate per hotline")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_ladder(ladder: pd.DataFrame, path: Path) -> Path:
    """The redial ladder (all rounds): conditional drop rate and share never reaching an agent, by attempt."""
    lad = ladder[ladder["round"] == ALL]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for hotline, g in lad.groupby("hotline_id", sort=False):
        style = {"color": "#333333", "linewidth": 2.5} if hotline == ALL else {"linewidth": 1.2}
        name = "all hotlines" if hotline == ALL else str(hotline)
        g = g.sort_values("attempt")
        a1.plot(g["attempt"], g["conditional_drop_rate"], marker="o", label=name, **style)
        a2.plot(g["attempt"], g["never_agent_share"], marker="o", label=name, **style)
    a1.set_title("Drop rate at attempt k (chains that reached k)")
    a2.set_title("Chains with no agent within k attempts")
    for ax in (a1, a2):
        ax.set_xlabel("attempt k")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xticks(sorted(set(lad["attempt"])) or [1])
        ax.grid(alpha=0.3)
    a2.legend(fontsize=7, loc="best")
    return _save(fig, path)


def _media_start_s(r: pd.Series) -> float | None:
    """Seconds from the INVITE at which the recording starts (early media, else the answer)."""
    early = r["early_media_s"] if not math.isnan(r["early_media_s"]) else 0.0
    end_of_early = r["answer_s"] if r["answered"] and not math.isnan(r["answer_s"]) else r["duration_s"]
    if early > 0 and not math.isnan(end_of_early):
        return max(0.0, end_of_early - early)
    if r["answered"] and not math.isnan(r["answer_s"]):
        return float(r["answer_s"])
    return None


def plot_timelines(examples: pd.DataFrame,
                   segments: Sequence[list[tuple[float, float, str]] | None], path: Path) -> Path:
    """One strip per cited call: segments coloured by label on the INVITE time axis, answer and hang-up
    marked. Without segments the strip shows the phase totals after the answer (their order unknown)."""
    n = max(1, len(examples))
    fig, ax = plt.subplots(figsize=(11, 0.62 * n + 1.6))
    used: set[str] = set()
    hatched = False
    for i, (_, r) in enumerate(examples.iloc[::-1].iterrows()):
        segs = segments[len(examples) - 1 - i]
        y = i
        answer = r["answer_s"] if r["answered"] and not math.isnan(r["answer_s"]) else None
        ring_end = answer if answer is not None else r["duration_s"]
        start = _media_start_s(r)
        if start is not None and start < ring_end:
            ring_end = start
        ax.broken_barh([(0, max(0.0, ring_end))], (y - 0.3, 0.6), color=COLOURS["ringing"])
        used.add("ringing")
        if segs and start is not None:
            for s, e, label in segs:
                ax.broken_barh([(start + s, e - s)], (y - 0.3, 0.6), color=COLOURS.get(label, "#000000"))
                used.add(label)
        elif answer is not None:
            x = answer
            for col, label in (("music_s", "music"), ("speech_s", "speech"), ("silence_s", "silence"),
                               ("tone_s", "tone")):
                w = r[col] if not math.isnan(r[col]) else 0.0
                if w > 0:
                    ax.broken_barh([(x, w)], (y - 0.3, 0.6), color=COLOURS[label], hatch="//", alpha=0.8)
                    hatched = True
                    used.add(label)
                    x += w
        if answer is not None:
            ax.plot([answer, answer], [y - 0.42, y + 0.42], color="#2ca02c", linewidth=2)
        ax.plot([r["duration_s"]], [y], marker="X", color="#d62728", markersize=9)
        ax.text(r["duration_s"], y + 0.32, f" hangup by {r['disconnect_by'] or '?'}", fontsize=7, va="bottom")
    ax.set_yticks(range(len(examples)))
    ax.set_yticklabels([f"{o} · {h} · {u}" for o, h, u in
                        zip(examples["outcome"][::-1], examples["hotline_id"][::-1], examples["call_uid"][::-1])],
                       fontsize=8)
    ax.set_xlabel("seconds from the INVITE (green bar: answer, X: hangup"
                  + ("; hatched: phase totals, order unknown)" if hatched else ")"))
    ax.set_title("Cited calls, one per outcome")
    ax.set_xlim(left=0)
    handles = [Patch(color=COLOURS.get(k, "#000000"), label=k) for k in COLOURS if k in used]
    if handles:
        ax.legend(handles=handles, fontsize=7, ncol=min(6, len(handles)), loc="upper center",
                  bbox_to_anchor=(0.5, -0.25 if n < 4 else -0.12))
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)
