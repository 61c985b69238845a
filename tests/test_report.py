"""The survey report: every figure recomputed by hand from tests/data/evidence_small.csv.

The small evidence (14 calls, 3 hotlines, 2 rounds; round 3 declared with no calls):
  1001  r1 chain c1: gentle, gentle, gentle (3 attempts); chain c2: gentle, agent (ends at attempt 2);
        r2 chain c3: agent.                       -> 6 attempts, 6 answered, 4 drops
  1002  busy, no_answer, error (r1), rejected (r2) -> 4 attempts, 0 answered: no drop rate
  1003  r1 only: agent; gave_up_on_hold; dropped_silent then agent -> 4 answered, 1 drop
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest
from needs import require

from harness.errors import BadInput
from harness.report import build_report
from harness.report.evidence_io import call_segments, read_evidence
from harness.report.stats import wilson
from harness.report.tables import SUMMARY_COLUMNS, build_tables, project_loss
from harness.report.thresholds import ALLOWED_FORM, parse_threshold

DATA = Path(__file__).parent / "data" / "evidence_small.csv"
DOCS = Path(__file__).parent.parent / "docs" / "REPORT.md"
CHROMIUM = Path("/usr/bin/chromium")
PROPENSITY = (0.82, 0.54, 0.02)
nan = math.nan

# hand-computed: p90 is linear interpolation between order statistics (position 0.9 * (n - 1))
EXPECTED = {
    "1001": dict(attempts=6, answered=6, answer_rate=1.0, drops=4, drop_rate=4 / 6, gentle_disconnect=4,
                 dropped_silent=0, agent_reached=2, agent_reached_rate=2 / 6, busy=0, no_answer=0, rejected=0,
                 error=0, gave_up_on_hold=0,
                 time_to_answer_median_s=2.0, time_to_answer_p90_s=3.5,        # [2,2,2,2,3,4]
                 music_before_drop_median_s=20.0, music_before_drop_p90_s=27.0,  # [10,20,20,30]
                 time_to_agent_median_s=30.0, time_to_agent_p90_s=42.0,        # [15,45]
                 billed_s=232.0, billed_no_service_s=92.0,                     # 23+33+13+23
                 chains=3, max_drop_streak=3),
    "1002": dict(attempts=4, answered=0, answer_rate=0.0, drops=0, drop_rate=nan, gentle_disconnect=0,
                 dropped_silent=0, agent_reached=0, agent_reached_rate=nan, busy=1, no_answer=1, rejected=1,
                 error=1, gave_up_on_hold=0, time_to_answer_median_s=nan, time_to_answer_p90_s=nan,
                 music_before_drop_median_s=nan, music_before_drop_p90_s=nan, time_to_agent_median_s=nan,
                 time_to_agent_p90_s=nan, billed_s=0.0, billed_no_service_s=0.0, chains=4, max_drop_streak=0,
                 loss_share=0.0),
    "1003": dict(attempts=4, answered=4, answer_rate=1.0, drops=1, drop_rate=0.25, gentle_disconnect=0,
                 dropped_silent=1, agent_reached=2, agent_reached_rate=0.5, busy=0, no_answer=0, rejected=0,
                 error=0, gave_up_on_hold=1,
                 time_to_answer_median_s=1.0, time_to_answer_p90_s=1.35,       # [1,1,1,1.5]
                 music_before_drop_median_s=0.0, music_before_drop_p90_s=0.0,
                 time_to_agent_median_s=7.0, time_to_agent_p90_s=7.8,          # [6,8]
                 billed_s=240.0, billed_no_service_s=132.0,                    # 120 + 12
                 chains=3, max_drop_streak=1,
                 loss_share=1 / 3 * 0.18),                                     # d1 = 1/3, d2 = 0
    "ALL": dict(attempts=14, answered=10, answer_rate=10 / 14, drops=5, drop_rate=0.5, gentle_disconnect=4,
                agent_reached=4, agent_reached_rate=0.4, busy=1, no_answer=1, rejected=1, error=1,
                gave_up_on_hold=1, billed_s=472.0, billed_no_service_s=224.0, chains=10, max_drop_streak=3),
}
# 1001: d = (2/3, 1/2, 1); lost = d1(1-p1) + d1 p1 d2 (1-p2) + d1 p1 d2 p2 * d3(1-p3)/(1-d3 p3)
EXPECTED["1001"]["loss_share"] = 2 / 3 * 0.18 + 2 / 3 * 0.82 * 0.5 * 0.46 + 2 / 3 * 0.82 * 0.5 * 0.54 * 1.0

# (hotline, attempt) -> (chains, reached, dropped, conditional drop rate, never_agent, never_agent_share)
LADDER = {
    ("1001", 1): (3, 3, 2, 2 / 3, 2, 2 / 3), ("1001", 2): (3, 2, 1, 0.5, 1, 1 / 3),
    ("1001", 3): (3, 1, 1, 1.0, 1, 1 / 3),
    ("1002", 1): (4, 4, 0, 0.0, 4, 1.0), ("1002", 2): (4, 0, 0, nan, 4, 1.0), ("1002", 3): (4, 0, 0, nan, 4, 1.0),
    ("1003", 1): (3, 3, 1, 1 / 3, 2, 2 / 3), ("1003", 2): (3, 1, 0, 0.0, 1, 1 / 3),
    ("1003", 3): (3, 0, 0, nan, 1, 1 / 3),
    ("ALL", 1): (10, 10, 3, 0.3, 8, 0.8), ("ALL", 2): (10, 3, 1, 1 / 3, 6, 0.6), ("ALL", 3): (10, 1, 1, 1.0, 6, 0.6),
}


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9)


@pytest.fixture(scope="module")
def calls() -> pd.DataFrame:
    return read_evidence([DATA], verify=False)


@pytest.fixture(scope="module")
def tables(calls: pd.DataFrame):
    return build_tables(calls, propensity=PROPENSITY, declared_rounds=["1", "2", "3"])


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    build_report([DATA], out, fail_if=[], junit=None, verify=False, rounds=3)
    return out


# --- statistics -----------------------------------------------------------------------------------

@pytest.mark.parametrize("k, n, low, high", [
    (0, 10, 0.0, 0.2775), (1, 10, 0.0179, 0.4042), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0),
    (4, 6, 0.3000, 0.9032), (1, 4, 0.0456, 0.6994), (81, 263, 0.2553, 0.3662),
])
def test_wilson_known_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(k, n)
    assert (lo, hi) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


def test_wilson_of_nothing_is_undefined() -> None:
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_project_loss_closed_form() -> None:
    assert project_loss([0.0], PROPENSITY) == 0.0
    assert project_loss([1.0, 1.0, 1.0], PROPENSITY) == pytest.approx(1.0)  # everyone dropped, all lost
    # one stage repeated forever: d(1-p) / (1 - d p)
    assert project_loss([0.5], [0.5]) == pytest.approx(0.25 / 0.75)


# --- tables ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("hotline", list(EXPECTED))
def test_summary_figures(tables, hotline: str) -> None:
    row = tables.summary.set_index("hotline_id").loc[hotline]
    for col, want in EXPECTED[hotline].items():
        assert same(float(row[col]), want), f"{hotline}.{col}: {row[col]} != {want}"


def test_summary_intervals_are_wilson(tables) -> None:
    s = tables.summary.set_index("hotline_id")
    for h in ("1001", "1003", "ALL"):
        assert (s.at[h, "drop_rate_low"], s.at[h, "drop_rate_high"]) == \
            pytest.approx(wilson(int(s.at[h, "drops"]), int(s.at[h, "answered"])))
    assert math.isnan(s.at["1002", "drop_rate_low"]) and math.isnan(s.at["1002", "drop_rate_high"])
    assert list(tables.summary.columns) == list(SUMMARY_COLUMNS)


def test_redial_ladder(tables) -> None:
    lad = tables.ladder[tables.ladder["round"] == "ALL"].set_index(["hotline_id", "attempt"])
    assert set(lad.index) == set(LADDER)
    for key, (chains, reached, dropped, rate, never, share) in LADDER.items():
        r = lad.loc[key]
        assert (r["chains"], r["reached"], r["dropped"], r["never_agent"]) == (chains, reached, dropped, never), key
        assert same(float(r["conditional_drop_rate"]), rate), key
        assert same(float(r["never_agent_share"]), share), key


def test_drop_streaks(tables) -> None:
    got = {(h, s): c for h, s, c in tables.streaks.itertuples(index=False)}
    assert got == {("1001", 0): 1, ("1001", 1): 1, ("1001", 3): 1, ("1002", 0): 4, ("1003", 0): 2, ("1003", 1): 1}


def test_rounds_side_by_side(tables) -> None:
    assert tables.rounds == ["1", "2", "3"]
    br = tables.by_round.set_index(["round", "hotline_id"])
    assert (br.at[("1", "1001"), "attempts"], br.at[("1", "1001"), "drops"]) == (5, 4)
    assert br.at[("1", "1001"), "drop_rate"] == pytest.approx(0.8)
    assert br.at[("2", "1001"), "drop_rate"] == 0.0
    assert br.at[("1", "ALL"), "drop_rate"] == pytest.approx(5 / 9)
    # hotline 1003 not called in round 2; round 3 declared with no calls at all
    assert br.at[("2", "1003"), "attempts"] == 0 and math.isnan(br.at[("2", "1003"), "drop_rate"])
    assert (br.loc["3", "attempts"] == 0).all() and br.loc["3", "drop_rate"].isna().all()
    ch = tables.round_changes.set_index(["hotline_id", "from_round"])
    assert ch.at[("1001", "1"), "drop_rate_change"] == pytest.approx(-0.8)
    assert ch.at[("ALL", "1"), "answer_rate_change"] == pytest.approx(0.5 - 0.75)
    assert math.isnan(ch.at[("1003", "1"), "drop_rate_change"])
    # the ladder per round: round 1 hotline 1001 drops both first attempts
    lr = tables.ladder.set_index(["round", "hotline_id", "attempt"])
    assert (lr.at[("1", "1001", 1), "reached"], lr.at[("1", "1001", 1), "dropped"]) == (2, 2)


def test_header_only_shard_changes_nothing(tmp_path: Path, tables) -> None:
    empty = tmp_path / "round-shard.csv"
    empty.write_text(DATA.read_text().splitlines()[0] + "\n")
    both = build_tables(read_evidence([DATA, empty], verify=False), propensity=PROPENSITY,
                        declared_rounds=["1", "2", "3"])
    pd.testing.assert_frame_equal(both.summary, tables.summary)
    alone = build_tables(read_evidence([empty], verify=False), declared_rounds=["1"])
    assert alone.summary["attempts"].tolist() == [0]


def test_examples_one_per_outcome(tables) -> None:
    ex = tables.examples.set_index("outcome")["call_uid"].to_dict()
    assert ex == {"busy": "u07", "no_answer": "u08", "rejected": "u09", "error": "u14", "gentle_disconnect": "u01",
                  "dropped_silent": "u12", "gave_up_on_hold": "u11", "agent_reached": "u05"}


def test_segments_from_column_and_sidecar(calls: pd.DataFrame, tmp_path: Path) -> None:
    u01 = calls[calls["call_uid"] == "u01"].iloc[0]  # its segments column names the analysis file
    assert u01["segments"] == "u01.wav.segments.json"
    assert call_segments(u01, DATA.parent) == [(0.0, 20.0, "music"), (20.0, 23.0, "speech")]
    assert call_segments(u01, tmp_path) is None
    u02 = calls[calls["call_uid"] == "u02"].iloc[0]
    assert call_segments(u02, tmp_path) is None
    (tmp_path / "u02.wav.segments.json").write_text(json.dumps(
        {"segments": [{"start_s": 0, "end_s": 30, "label": "music"}, {"start_s": 30, "end_s": 33, "label": "speech"}]}))
    assert call_segments(u02, tmp_path) == [(0.0, 30.0, "music"), (30.0, 33.0, "speech")]


# --- outputs ----------------------------------------------------------------------------------------

def test_output_files_carry_the_tables(report_dir: Path, tables) -> None:
    for name in ("summary_by_hotline.csv", "redial_ladder.csv", "by_round.csv", "report.md", "report.html",
                 "drop_rates.png", "redial_ladder.png", "timelines.png"):
        assert (report_dir / name).stat().st_size > 0, name
    for name in ("drop_rates.png", "redial_ladder.png", "timelines.png"):
        assert (report_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = pd.read_csv(report_dir / "summary_by_hotline.csv", dtype={"hotline_id": str})
    for h, want in EXPECTED.items():
        row = summary.set_index("hotline_id").loc[h]
        for col, v in want.items():
            assert same(float(row[col]), v), (h, col)
    ladder = pd.read_csv(report_dir / "redial_ladder.csv", dtype={"hotline_id": str, "round": str})
    assert len(ladder) == len(tables.ladder)
    by_round = pd.read_csv(report_dir / "by_round.csv", dtype={"hotline_id": str, "round": str})
    assert sorted(set(by_round["round"])) == ["1", "2", "3"]


def test_markdown_shows_every_figure(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    for title in ("Headline", "Outcomes per hotline", "Timing and billing", "Redial ladder", "Consecutive-drop",
                  "Rounds side by side", "Change between rounds", "Customer loss projection", "Cited calls",
                  "Metric definitions"):
        assert f"## {title}" in md
    assert "| 1001 | 6 | 6 | 66.7% [30.0%, 90.3%] | 4 | 33.3% | 39.3% |" in md
    assert "| 1002 | 4 | 0 | n/a | 0 | n/a | 0.0% |" in md
    assert "| all hotlines | 14 | 10 | 50.0% [23.7%, 76.3%] | 4 | 40.0% | 13.6% |" in md
    assert "| 1001 | 2.0 | 3.5 | 20.0 | 27.0 | 30.0 | 42.0 | 232.0 | 92.0 |" in md
    assert "| all | 1001 | 2 | 2 | 1 | 50.0% [9.5%, 90.5%] | 1/3 (33.3%) |" in md
    assert "NOT verified" in md and "82%, 54%, 2%" in md
    assert "ETSI TS 102 250-2" in md and "64.1200" in md


def test_docs_define_every_column() -> None:
    text = DOCS.read_text()
    for col in SUMMARY_COLUMNS:
        assert f"`{col}`" in text, col


# --- thresholds and junit -------------------------------------------------------------------------

def _junit(path: Path) -> list[dict[str, object]]:
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        fail = case.find("failure")
        skip = case.find("skipped")
        marked = fail if fail is not None else skip
        out.append({"class": case.get("classname"), "name": case.get("name"),
                    "status": "failed" if fail is not None else "skipped" if skip is not None else "passed",
                    "message": marked.get("message") if marked is not None else "",
                    "text": fail.text if fail is not None else ""})
    return out


def test_passing_survey(tmp_path: Path) -> None:
    res = build_report([DATA], tmp_path / "r", fail_if=["drop_rate>0.7"], junit=tmp_path / "junit.xml",
                       verify=False)
    assert res.exit_code == 0
    cases = _junit(tmp_path / "junit.xml")
    assert [(c["class"], c["status"]) for c in cases] == [
        ("hotline.1001", "passed"), ("hotline.1002", "skipped"), ("hotline.1003", "passed")]
    assert cases[1]["message"] == "hotline 1002: no drop_rate to check (0 answered of 4 attempts)"
    assert "3 checks" in res.headline and "FAILED" not in res.headline


def test_failing_survey(tmp_path: Path) -> None:
    res = build_report([DATA], tmp_path / "r", fail_if=["hotline:1001:drop_rate>0.2", "overall:drop_rate>60%"],
                       junit=tmp_path / "junit.xml", verify=False)
    assert res.exit_code == 1
    cases = _junit(tmp_path / "junit.xml")
    assert [(c["class"], c["name"], c["status"]) for c in cases] == [
        ("hotline.1001", "hotline:1001:drop_rate>0.2", "failed"),
        ("hotline.ALL", "overall:drop_rate>60%", "passed")]
    assert cases[0]["message"] == ("hotline 1001: drop_rate 0.667 > 0.2 (95% CI 0.300-0.903; "
                                   "4 of 6 answered calls dropped) [hotline:1001:drop_rate>0.2]")
    text = str(cases[0]["text"])
    assert f"{DATA} row 1 (u01)" in text and f"{DATA} row 4 (u04)" in text and "row 5 " not in text
    assert "FAILED hotline 1001" in res.headline
    html = (tmp_path / "r" / "report.html").read_text()
    assert '<td class="FAILED">FAILED</td>' in html


def test_campaign_thresholds(tmp_path: Path) -> None:
    res = build_report([DATA], tmp_path, fail_if=[], junit=None, verify=False,
                       thresholds={"drop_rate_max": 0.05, "per_hotline": False})
    assert res.exit_code == 1
    assert [(c.hotline, c.status) for c in res.checks] == [("ALL", "failed")]
    res = build_report([DATA], tmp_path, fail_if=[], junit=None, verify=False,
                       thresholds={"drop_rate_max": 0.3, "per_hotline": True})
    assert [(c.hotline, c.status) for c in res.checks] == [("1001", "failed"), ("1002", "skipped"),
                                                           ("1003", "passed")]


@pytest.mark.parametrize("expr", ["drop_rate", "drop_rate>", "drop_rate=>0.1", "hotline::drop_rate>0.1",
                                  "drop_rate>0.1 and x", "region:1:drop_rate>0.1"])
def test_malformed_fail_if(expr: str, tmp_path: Path) -> None:
    with pytest.raises(BadInput) as err:
        build_report([DATA], tmp_path, fail_if=[expr], junit=None, verify=False)
    assert str(err.value) == f"bad --fail-if {expr!r}: {ALLOWED_FORM}"
    assert err.value.exit_code == 2


def test_fail_if_unknown_metric_and_hotline(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="unknown metric 'drop'"):
        parse_threshold("drop>0.1")
    with pytest.raises(BadInput, match="hotline 9999 is not in the evidence"):
        build_report([DATA], tmp_path, fail_if=["hotline:9999:drop_rate>0.1"], junit=None, verify=False)
    assert parse_threshold("overall:drop_rate >= 5%").limit == pytest.approx(0.05)


# --- bad input --------------------------------------------------------------------------------------

def _edit(tmp_path: Path, old: str, new: str) -> Path:
    p = tmp_path / "edited.csv"
    text = DATA.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize("old, new, message", [
    ("schema_version,campaign,round,", "schema_version,campaign,rnd,", "missing evidence columns: round"),
    (",true,2,2,0,20,3,0,0,18,", ",yes,2,2,0,20,3,0,0,18,", "row 1: answered='yes': allowed true or false"),
    (",25,23,gentle_disconnect,", ",25,23,hung_up,", "row 1: outcome='hung_up': allowed busy, no_answer"),
    (",25,23,gentle_disconnect,", ",25,2x3,gentle_disconnect,", "row 1: billed_s='2x3' is not a number"),
    ("127.0.0.1:5060,1,c1,u01", "127.0.0.1:5060,0,c1,u01", "row 1: attempt='0': allowed 1, 2, 3"),
])
def test_bad_evidence(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_report([_edit(tmp_path, old, new)], tmp_path / "r", fail_if=[], junit=None, verify=False)


def test_missing_file_and_same_calls_twice(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        build_report([tmp_path / "nope.csv"], tmp_path, fail_if=[], junit=None, verify=False)
    with pytest.raises(BadInput, match=r"call_uid u01 appears in .* row 1 and .* row 1: the same calls"):
        build_report([DATA, DATA], tmp_path, fail_if=[], junit=None, verify=False)
    with pytest.raises(BadInput, match=r"redial_propensity\[1\] = 1.5"):
        build_report([DATA], tmp_path, fail_if=[], junit=None, verify=False, redial_propensity=[0.8, 1.5])


def test_refusal_wiring_with_a_stub_verifier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """How build_report treats verify_evidence's answer (the real verifier is tested below)."""
    stub = types.ModuleType("harness.evidence")

    class Res:
        ok, rows, first_bad_row, message = False, 14, 3, "row_hash does not match"
    stub.verify_evidence = lambda path, check_recordings=True: Res()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "harness.evidence", stub)
    with pytest.raises(BadInput) as err:
        build_report([DATA], tmp_path, fail_if=[], junit=None)
    assert str(err.value) == (f"{DATA}: evidence verification failed at row 3: row_hash does not match "
                              "(refusing to report on altered evidence; --no-verify overrides)")
    assert err.value.exit_code == 2
    assert not (tmp_path / "report.md").exists()
    Res.ok = True
    assert build_report([DATA], tmp_path, fail_if=[], junit=None).exit_code == 0


def _chained_copy(tmp_path: Path) -> Path:
    """The small evidence re-written through the real hash-chained writer (recordings left out)."""
    from harness import evidence  # part of the package: its absence is a failure, never a skip
    out = tmp_path / "chained" / "evidence.csv"
    rows = pd.read_csv(DATA, dtype=str, keep_default_na=False).to_dict("records")
    with evidence.EvidenceWriter(out) as w:
        for r in rows:
            keep = {k: v for k, v in r.items() if k in evidence.DATA_COLUMNS}
            w.append({**keep, "recording": "", "recording_sha256": "", "segments": "", "segments_sha256": ""})
    campaign = tmp_path / "chained.yaml"
    campaign.write_text("campaign: small\n")
    evidence.write_manifest(out.parent / "manifest.json", campaign, "small", "2026-11-23T09:00:00Z",
                            "2026-11-24T10:00:00Z", evidence=out)  # as harness run leaves it: finished
    return out


def test_verified_evidence_gives_the_same_figures(tmp_path: Path, tables) -> None:
    chained = _chained_copy(tmp_path)
    res = build_report([chained], tmp_path / "r", fail_if=[], junit=None, verify=True, rounds=3)
    cols = [c for c in SUMMARY_COLUMNS if c != "target"]
    pd.testing.assert_frame_equal(res.tables.summary[cols], tables.summary[cols])
    assert "verified (hash chain and recordings)" in (tmp_path / "r" / "report.md").read_text()


def test_evidence_of_an_unfinished_run_is_reported_with_a_warning(tmp_path: Path, capsys) -> None:
    from harness import evidence
    chained = _chained_copy(tmp_path)
    campaign = tmp_path / "chained.yaml"
    evidence.write_manifest(chained.parent / "manifest.json", campaign, "small", "2026-11-23T09:00:00Z", None,
                            evidence=chained, state="running")  # killed: the manifest never said finished
    assert build_report([chained], tmp_path / "r", fail_if=[], junit=None, verify=True).exit_code == 0
    assert f"harness: warning: {chained}: the run did not finish" in capsys.readouterr().err


def test_tampered_evidence_is_refused(tmp_path: Path) -> None:
    chained = _chained_copy(tmp_path)
    text = chained.read_text()
    assert ",gentle_disconnect," in text
    chained.write_text(text.replace(",gentle_disconnect,", ",agent_reached,", 1))
    with pytest.raises(BadInput, match=r"evidence verification failed at row 1: .*--no-verify overrides") as err:
        build_report([chained], tmp_path / "r", fail_if=[], junit=None, verify=True)
    assert err.value.exit_code == 2
    assert build_report([chained], tmp_path / "r", fail_if=[], junit=None, verify=False).exit_code == 0


# --- the HTML in a real browser ---------------------------------------------------------------------

def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_html_opens_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    require(CHROMIUM.exists(), f"{CHROMIUM} absent: sudo apt-get install -y chromium")
    page = (report_dir / "report.html").resolve()
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # self-contained: nothing to fetch
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the page's own load check: every embedded image decoded, every table in the DOM
    assert 'data-images-expected="3"' in dom.stdout and 'data-images-loaded="3"' in dom.stdout
    assert 'data-tables="12"' in dom.stdout
    for tid in ("headline", "outcomes", "timing", "ladder", "streaks", "rounds", "round-ladders", "changes",
                "loss", "thresholds", "examples", "definitions"):
        assert f'id="t-{tid}"' in dom.stdout, tid
    shot = tmp_path / "shot.png"
    res = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    img = mpimg.imread(shot)
    assert img.shape[:2] == (2000, 1280)
    assert img.std() > 0.05  # not a blank page
    if shutil.which("true"):  # keep the screenshot next to the report for a human to look at
        shutil.copy(shot, report_dir / "screenshot.png")
