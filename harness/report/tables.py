"""The survey's tables, computed once from the evidence DataFrame (pure: data in, data out).

Every figure the report prints, plots, exports or gates CI on comes from the frames returned here;
renderers and the threshold checker only read them. Definitions are in docs/REPORT.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import pandas as pd

from harness.report.evidence_io import DROP_OUTCOMES, OUTCOMES
from harness.report.stats import ratio, wilson
from harness.vocab import DEFAULT_REDIAL_PROPENSITY

#: hotline_id of the row that pools every hotline
ALL = "ALL"

SUMMARY_COLUMNS: tuple[str, ...] = (
    "hotline_id", "target", "attempts", "answered", "answer_rate",
    "drops", "drop_rate", "drop_rate_low", "drop_rate_high",
    "gentle_disconnect", "dropped_silent",
    "agent_reached", "agent_reached_rate", "agent_reached_rate_low", "agent_reached_rate_high",
    "busy", "no_answer", "rejected", "error", "gave_up_on_hold",
    "time_to_answer_median_s", "time_to_answer_p90_s",
    "music_before_drop_median_s", "music_before_drop_p90_s",
    "time_to_agent_median_s", "time_to_agent_p90_s",
    "billed_s", "billed_no_service_s",
    "chains", "max_drop_streak", "loss_share", "loss_share_low", "loss_share_high",
)
LADDER_COLUMNS: tuple[str, ...] = (
    "hotline_id", "attempt", "chains", "reached", "answered", "dropped",
    "conditional_drop_rate", "conditional_drop_rate_low", "conditional_drop_rate_high",
    "never_agent", "never_agent_share",
)
CHANGE_METRICS: tuple[str, ...] = ("answer_rate", "drop_rate", "agent_reached_rate", "loss_share")


@dataclass(frozen=True)
class Tables:
    """Everything the report shows. ``round`` is ``ALL`` for rows that pool every round."""

    summary: pd.DataFrame        # SUMMARY_COLUMNS, one row per hotline then the ALL row
    ladder: pd.DataFrame         # round + LADDER_COLUMNS (round ALL first, then each round)
    streaks: pd.DataFrame        # hotline_id, streak, chains: chains whose longest drop streak is `streak`
    by_round: pd.DataFrame       # round + SUMMARY_COLUMNS, every declared/seen round x hotline
    round_changes: pd.DataFrame  # hotline_id, from_round, to_round, <metric>_from/_to/_change
    examples: pd.DataFrame       # one cited call per outcome present
    rounds: list[str]
    hotlines: list[str]


def _natural_key(text: str) -> tuple[object, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def _q(values: pd.Series, q: float) -> float:
    v = values.dropna()
    return float(v.quantile(q)) if len(v) else math.nan


def chain_keys(df: pd.DataFrame) -> pd.Series:
    """A chain is one simulated customer: campaign, round, hotline and chain_id together."""
    return df["campaign"].astype(str) + "\x1f" + df["round"] + "\x1f" + df["hotline_id"] + "\x1f" + df["chain_id"]


def figures(calls: pd.DataFrame) -> dict[str, object]:
    """The per-hotline figures of one group of calls (any slice: a hotline, a round, everything)."""
    counts = calls["outcome"].value_counts()
    n = {o: int(counts.get(o, 0)) for o in OUTCOMES}
    attempts = len(calls)
    answered = int(calls["answered"].sum())
    drops = n["gentle_disconnect"] + n["dropped_silent"]
    ans = calls[calls["answered"]]
    dropped = calls[calls["outcome"].isin(DROP_OUTCOMES)]
    agent = calls[calls["outcome"] == "agent_reached"]
    dl, dh = wilson(drops, answered)
    al, ah = wilson(n["agent_reached"], answered)
    return {
        "target": ";".join(sorted(set(calls["target"]))),
        "attempts": attempts,
        "answered": answered,
        "answer_rate": ratio(answered, attempts),
        "drops": drops,
        "drop_rate": ratio(drops, answered), "drop_rate_low": dl, "drop_rate_high": dh,
        "gentle_disconnect": n["gentle_disconnect"], "dropped_silent": n["dropped_silent"],
        "agent_reached": n["agent_reached"],
        "agent_reached_rate": ratio(n["agent_reached"], answered),
        "agent_reached_rate_low": al, "agent_reached_rate_high": ah,
        "busy": n["busy"], "no_answer": n["no_answer"], "rejected": n["rejected"], "error": n["error"],
        "gave_up_on_hold": n["gave_up_on_hold"],
        "time_to_answer_median_s": _q(ans["answer_s"], 0.5), "time_to_answer_p90_s": _q(ans["answer_s"], 0.9),
        "music_before_drop_median_s": _q(dropped["music_s"], 0.5),
        "music_before_drop_p90_s": _q(dropped["music_s"], 0.9),
        "time_to_agent_median_s": _q(agent["agent_start_s"], 0.5),
        "time_to_agent_p90_s": _q(agent["agent_start_s"], 0.9),
        "billed_s": float(calls["billed_s"].fillna(0).sum()),
        "billed_no_service_s": float(ans.loc[ans["outcome"] != "agent_reached", "billed_s"].fillna(0).sum()),
    }


def ladder(calls: pd.DataFrame, hotlines: Sequence[str], max_attempt: int) -> pd.DataFrame:
    """The redial ladder: for each hotline (and ALL) and attempt k = 1..max_attempt, how many chains
    reached attempt k, how many of those dropped there, and how many chains had still not reached an
    agent after k attempts (share of all the hotline's chains)."""
    rows = []
    keys = chain_keys(calls)
    for hotline in [*hotlines, ALL]:
        sel = calls if hotline == ALL else calls[calls["hotline_id"] == hotline]
        k_sel = keys[sel.index]
        n_chains = int(k_sel.nunique())
        agent_at = sel["attempt"].where(sel["outcome"] == "agent_reached")
        first_agent = agent_at.groupby(k_sel).min()  # NaN: never reached an agent
        for k in range(1, max_attempt + 1):
            at_k = sel[sel["attempt"] == k]
            reached = int(k_sel[at_k.index].nunique())
            dropped = int(at_k["outcome"].isin(DROP_OUTCOMES).sum())
            lo, hi = wilson(dropped, reached)
            never = int((first_agent.isna() | (first_agent > k)).sum())
            rows.append({
                "hotline_id": hotline, "attempt": k, "chains": n_chains, "reached": reached,
                "answered": int(at_k["answered"].sum()), "dropped": dropped,
                "conditional_drop_rate": ratio(dropped, reached),
                "conditional_drop_rate_low": lo, "conditional_drop_rate_high": hi,
                "never_agent": never, "never_agent_share": ratio(never, n_chains),
            })
    return pd.DataFrame(rows, columns=list(LADDER_COLUMNS))


def _longest_run(attempts: pd.Series, is_drop: pd.Series) -> int:
    best = run = 0
    prev = None
    for a, d in sorted(zip(attempts, is_drop)):
        run = (run + 1 if prev is not None and a == prev + 1 else 1) if d else 0
        best = max(best, run)
        prev = a
    return best


def drop_streaks(calls: pd.DataFrame) -> pd.DataFrame:
    """Per chain (``hotline_id, chain_key, streak``): the longest run of consecutive dropped attempts."""
    if calls.empty:
        return pd.DataFrame(columns=["hotline_id", "chain_key", "streak"])
    g = calls.assign(chain_key=chain_keys(calls), is_drop=calls["outcome"].isin(DROP_OUTCOMES))
    rows = [{"hotline_id": h, "chain_key": key, "streak": _longest_run(c["attempt"], c["is_drop"])}
            for (h, key), c in g.groupby(["hotline_id", "chain_key"], sort=False)]
    return pd.DataFrame(rows, columns=["hotline_id", "chain_key", "streak"])


def streak_histogram(per_chain: pd.DataFrame) -> pd.DataFrame:
    """Chains per hotline by longest consecutive-drop streak (streak 0: never dropped)."""
    if per_chain.empty:
        return pd.DataFrame(columns=["hotline_id", "streak", "chains"])
    hist = per_chain.groupby(["hotline_id", "streak"]).size().rename("chains").reset_index()
    order = sorted(range(len(hist)), key=lambda i: (_natural_key(hist.at[i, "hotline_id"]), hist.at[i, "streak"]))
    return hist.iloc[order].reset_index(drop=True)


def project_loss(drop_probs: Sequence[float], propensity: Sequence[float]) -> float:
    """Expected share of callers lost to drops.

    A caller's k-th call drops with probability ``drop_probs[k-1]``; after its k-th drop the caller
    redials with probability ``propensity[k-1]`` and is otherwise lost. Beyond the last stage the last
    drop probability and propensity repeat (a geometric tail). Callers whose call does not drop are
    not lost to drops (they may still be unserved for other reasons: see answer rate).
    """
    stages = max(len(drop_probs), len(propensity))
    reach = 1.0
    lost = 0.0
    for k in range(stages):
        d = drop_probs[min(k, len(drop_probs) - 1)]
        p = propensity[min(k, len(propensity) - 1)]
        if k < stages - 1:
            lost += reach * d * (1 - p)
            reach *= d * p
        else:
            # repeat the last stage forever: sum_j reach (d p)^j d (1 - p)
            lost += reach * (d * (1 - p) / (1 - d * p) if d * p < 1 else 1.0)
    return lost


def loss_table(lad: pd.DataFrame, summary: pd.DataFrame, propensity: Sequence[float]) -> pd.DataFrame:
    """loss_share (and bounds from each drop probability's Wilson bounds) per hotline in ``lad``.

    The drop probability at attempt k is the ladder's conditional drop rate; where no chain reached
    attempt k, the hotline's drops per attempt over all attempts stands in.
    """
    rows = []
    for hotline, steps in lad.groupby("hotline_id", sort=False):
        s = summary[summary["hotline_id"] == hotline].iloc[0]
        attempts, drops = int(s["attempts"]), int(s["drops"])
        if attempts == 0:
            rows.append({"hotline_id": hotline, "loss_share": math.nan,
                         "loss_share_low": math.nan, "loss_share_high": math.nan})
            continue
        pooled = (drops / attempts, *wilson(drops, attempts))
        est: list[list[float]] = [[], [], []]
        for _, st in steps.sort_values("attempt").iterrows():
            vals = (pooled if st["reached"] == 0 else
                    (st["conditional_drop_rate"], st["conditional_drop_rate_low"], st["conditional_drop_rate_high"]))
            for i in range(3):
                est[i].append(float(vals[i]))
        rows.append({"hotline_id": hotline, "loss_share": project_loss(est[0], propensity),
                     "loss_share_low": project_loss(est[1], propensity),
                     "loss_share_high": project_loss(est[2], propensity)})
    return pd.DataFrame(rows, columns=["hotline_id", "loss_share", "loss_share_low", "loss_share_high"])


def summarize(calls: pd.DataFrame, hotlines: Sequence[str], max_attempt: int,
              propensity: Sequence[float]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(summary, ladder, per-chain streaks) for one slice of calls; every hotline in ``hotlines`` gets
    a row even with no calls in the slice, and the ALL row pools the slice."""
    rows = []
    for hotline in [*hotlines, ALL]:
        sel = calls if hotline == ALL else calls[calls["hotline_id"] == hotline]
        row = {"hotline_id": hotline, **figures(sel), "chains": int(chain_keys(sel).nunique())}
        if hotline == ALL:
            row["target"] = ""
        rows.append(row)
    summary = pd.DataFrame(rows)
    lad = ladder(calls, hotlines, max_attempt)
    per_chain = drop_streaks(calls)
    longest = per_chain.groupby("hotline_id")["streak"].max() if len(per_chain) else pd.Series(dtype=int)
    summary["max_drop_streak"] = [
        int(per_chain["streak"].max() if h == ALL and len(per_chain) else longest.get(h, 0)) for h in summary["hotline_id"]
    ]
    summary = summary.merge(loss_table(lad, summary, propensity), on="hotline_id", how="left")
    return summary[list(SUMMARY_COLUMNS)], lad, per_chain


def order_rounds(calls: pd.DataFrame, declared: Sequence[str] | None) -> list[str]:
    """Declared rounds in their order, then rounds seen only in the evidence (numeric labels numerically,
    others by their first call)."""
    seen = list(dict.fromkeys(calls["round"]))
    if all(r.isdigit() for r in seen):
        seen.sort(key=int)
    else:
        first = calls.groupby("round")["started_at"].min()
        seen.sort(key=lambda r: (first.get(r, ""), _natural_key(r)))
    out = list(declared or [])
    return out + [r for r in seen if r not in out]


def round_changes(by_round: pd.DataFrame, rounds: Sequence[str]) -> pd.DataFrame:
    """Change of the headline rates between consecutive rounds, per hotline and ALL."""
    rows = []
    for a, b in pairwise(rounds):
        ra = by_round[by_round["round"] == a].set_index("hotline_id")
        rb = by_round[by_round["round"] == b].set_index("hotline_id")
        for hotline in rb.index:
            row: dict[str, object] = {"hotline_id": hotline, "from_round": a, "to_round": b}
            for m in CHANGE_METRICS:
                va, vb = float(ra.at[hotline, m]), float(rb.at[hotline, m])
                row[f"{m}_from"], row[f"{m}_to"], row[f"{m}_change"] = va, vb, vb - va
            rows.append(row)
    cols = ["hotline_id", "from_round", "to_round"] + [f"{m}_{s}" for m in CHANGE_METRICS
                                                       for s in ("from", "to", "change")]
    return pd.DataFrame(rows, columns=cols)


def pick_examples(calls: pd.DataFrame) -> pd.DataFrame:
    """The call cited for each outcome present: the earliest (started_at, call_uid) one, for a stable pick."""
    cols = ["outcome", "hotline_id", "round", "call_uid", "_source", "_row", "answered", "answer_s",
            "duration_s", "disconnect_by", "recording", "ring_s", "early_media_s", "music_s", "speech_s",
            "silence_s", "tone_s"]
    if calls.empty:
        return pd.DataFrame(columns=cols)
    ordered = calls.sort_values(["started_at", "call_uid"])
    ex = ordered.drop_duplicates("outcome", keep="first")
    ex = ex.assign(_o=ex["outcome"].map(OUTCOMES.index)).sort_values("_o")
    return ex[cols].reset_index(drop=True)


def build_tables(calls: pd.DataFrame, *, propensity: Sequence[float] = DEFAULT_REDIAL_PROPENSITY,
                 declared_rounds: Sequence[str] | None = None) -> Tables:
    """All report tables from the evidence rows (as read by ``evidence_io.read_evidence``)."""
    hotlines = sorted(set(calls["hotline_id"]), key=_natural_key)
    max_attempt = int(calls["attempt"].max()) if len(calls) else 0
    summary, lad, per_chain = summarize(calls, hotlines, max_attempt, propensity)
    rounds = order_rounds(calls, declared_rounds)
    per_round_s, per_round_l = [], []
    for r in rounds:
        s, lad_r, _ = summarize(calls[calls["round"] == r], hotlines, max_attempt, propensity)
        per_round_s.append(s.assign(round=r))
        per_round_l.append(lad_r.assign(round=r))
    by_round = (pd.concat(per_round_s, ignore_index=True) if per_round_s
                else pd.DataFrame(columns=list(SUMMARY_COLUMNS) + ["round"]))
    by_round = by_round[["round", *SUMMARY_COLUMNS]]
    ladders = pd.concat([lad.assign(round=ALL), *per_round_l], ignore_index=True)
    ladders = ladders[["round", *LADDER_COLUMNS]]
    return Tables(summary=summary, ladder=ladders, streaks=streak_histogram(per_chain), by_round=by_round,
                  round_changes=round_changes(by_round, rounds), examples=pick_examples(calls),
                  rounds=rounds, hotlines=hotlines)
