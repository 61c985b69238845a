"""The ten-hotline survey against the lab PBX, checked against the lab's ground truth; kill -9 and resume.

Real calls on 127.0.0.1 (``harness run`` as a user runs it), short lab timings
(tests/data/survey_lab_short.yaml, tests/data/survey_short.yaml).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, Lab, start_lab, stop_lab
from needs import missing, require

from harness.analysis import analyze_file
from harness.bench.against_lab import compare, summary
from harness.evidence import read_evidence
from harness.lab.truth import read_truth

pytestmark = [pytest.mark.sip, pytest.mark.slow]

SHORT_LAB = ROOT / "tests" / "data" / "survey_lab_short.yaml"
SHORT_SURVEY = ROOT / "tests" / "data" / "survey_short.yaml"
# Errors against the lab truth (seconds): (what, median bound, p95 bound); issue 4's target is a p95 of
# 150 ms for answer, end of music, start of speech and hangup. The lab's truth starts a speech phase at the
# file's first audible frame (a file's leading silence is a silence phase).
TIMING_BOUNDS_S = [("answer", 0.050, 0.150), ("hangup", 0.050, 0.150),
                   ("music_end", 0.050, 0.150), ("speech_start", 0.050, 0.150)]


def harness(*args: str, cwd: Path = ROOT, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout_s, check=False)


@pytest.fixture(scope="module")
def short_lab(tmp_path_factory: pytest.TempPathFactory):
    lab = start_lab(SHORT_LAB, tmp_path_factory.mktemp("short-lab"))
    yield lab
    stop_lab(lab)


@pytest.fixture(scope="module")
def survey(short_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("survey")
    proc = harness("run", str(SHORT_SURVEY), "--host", f"{short_lab.host}:{short_lab.port}",
                   "--reports", str(out / "reports"), "--recordings", str(out / "recordings"))
    assert proc.returncode == 0, proc.stderr
    return out / "reports" / "survey-short" / "evidence.csv", proc


def test_survey_outcomes_and_timings_match_lab_truth(survey, short_lab: Lab) -> None:
    evidence, proc = survey
    rows = read_evidence(evidence)
    assert "[" in proc.stderr and "left" in proc.stderr  # progress lines: done/planned, ETA
    short_lab.truth_for(rows[-1]["sip_call_id"])  # the lab has written its last line
    checks = compare(rows, read_truth(short_lab.truth_file), evidence.parent)
    for c in checks:
        assert c.agrees, (c.hotline_id, c.outcome, c.expected)
    by_hotline = defaultdict(list)
    for row in rows:
        by_hotline[row["hotline_id"]].append(row)
    # the survey's shape: always-drop hotlines were redialled up to three times, busy never
    assert [r["outcome"] for r in by_hotline["gentle-zh"]] == ["gentle_disconnect"] * 3
    assert [r["attempt"] for r in by_hotline["silent-drop"]] == ["1", "2", "3"]
    assert [r["outcome"] for r in by_hotline["always-busy"]] == ["busy"]
    assert by_hotline["honest-queue"][0]["outcome"] == "agent_reached"
    assert by_hotline["ivr-loop"][0]["outcome"] == "gave_up_on_hold"
    stats = summary(checks)
    for what, median_s, p95_s in TIMING_BOUNDS_S:
        s = stats[what]
        print(f"{what}: n={s['n']} median {s['median_ms']:.0f} ms, p95 {s['p95_ms']:.0f} ms")
        assert s["n"] >= 5, what
        assert s["median_ms"] <= median_s * 1000 and s["p95_ms"] <= p95_s * 1000, (what, s)


def test_evidence_verifies_and_a_hand_edit_fails_at_the_right_row(survey, tmp_path: Path) -> None:
    evidence, proc = survey
    ok = harness("verify", str(evidence))
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stderr
    assert "recordings and sidecars match" in ok.stdout and "manifest agrees (finished)" in ok.stdout
    # the run printed its head hash for publication; verify holds the evidence to it
    head = next(line.split()[2] for line in proc.stdout.splitlines() if line.startswith("head hash: "))
    assert harness("verify", str(evidence), "--head", head).returncode == 0
    rows = read_evidence(evidence)
    assert all(r["events_sha256"] and r["sip_log_sha256"] for r in rows)  # busy calls' too
    assert all(r["segments_sha256"] for r in rows if r["recording"])
    edited = evidence.parent / "edited.csv"
    lines = evidence.read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace(",gentle_disconnect,", ",agent_reached,").replace(
        ",dropped_silent,", ",agent_reached,").replace(",busy,", ",rejected,").replace(
        ",no_answer,", ",rejected,")
    assert lines[4] != evidence.read_text().splitlines(keepends=True)[4]
    edited.write_text("".join(lines))
    bad = harness("verify", str(edited), "--no-recordings")
    assert bad.returncode == 2
    assert "row 4: row_hash does not match" in bad.stderr and bad.stderr.count("\n") == 1
    # a recording changed after the fact is caught too
    rows = read_evidence(evidence)
    n, row = next((i, r) for i, r in enumerate(rows, start=1) if r["recording"])
    wav = evidence.parent / row["recording"]
    original = wav.read_bytes()
    try:
        wav.write_bytes(original[:-2] + b"\x01\x00")
        tampered = harness("verify", str(evidence))
        assert tampered.returncode == 2 and f"row {n}: recording" in tampered.stderr
    finally:
        wav.write_bytes(original)


def test_report_on_the_survey_fails_the_campaign_threshold(survey, tmp_path: Path) -> None:
    evidence, _ = survey
    out = tmp_path / "report"
    proc = harness("report", str(evidence), "--out", str(out), "--campaign", str(SHORT_SURVEY),
                   "--junit", str(tmp_path / "junit.xml"))
    assert proc.returncode == 1, proc.stderr  # the lab drops calls on purpose: drop_rate_max 5% exceeded
    assert "threshold exceeded" in proc.stderr and "gentle-zh" in proc.stderr
    for name in ("summary_by_hotline.csv", "redial_ladder.csv", "by_round.csv", "report.html", "report.md"):
        assert (out / name).exists(), name
    with open(out / "summary_by_hotline.csv") as f:
        summary = {r["hotline_id"]: r for r in csv.DictReader(f)}
    assert float(summary["gentle-zh"]["drop_rate"]) == 1.0
    # the analysis each verdict used sits beside its recording; the report's strips are drawn from it
    for row in read_evidence(evidence):
        if row["recording"]:
            side = evidence.parent / (row["recording"] + ".segments.json")
            assert json.loads(side.read_text())["analyzer"] == row["analyzer"]
    assert float(summary["honest-queue"]["drop_rate"]) == 0.0


def _rows_now(evidence: Path) -> int:
    return len(read_evidence(evidence)) if evidence.exists() else 0


def test_kill_9_mid_campaign_then_resume(short_lab: Lab, tmp_path: Path) -> None:
    campaign = yaml.safe_load(SHORT_SURVEY.read_text())
    campaign["campaign"] = "survey-kill"
    camp_file = tmp_path / "survey-kill.yaml"
    camp_file.write_text(yaml.safe_dump(campaign, allow_unicode=True))
    reports, recordings = tmp_path / "reports", tmp_path / "recordings"
    evidence = reports / "survey-kill" / "evidence.csv"
    journal = reports / "survey-kill" / "attempts.jsonl"
    args = ["run", str(camp_file), "--host", f"{short_lab.host}:{short_lab.port}", "--reports", str(reports),
            "--recordings", str(recordings)]
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    # kill once some rows are written and some calls are in the middle (journalled, no row yet)
    while time.monotonic() < deadline:
        n_rows = _rows_now(evidence)
        n_started = journal.read_text().count('"type": "attempt"') if journal.exists() else 0  # not the header
        if n_rows >= 4 and n_started > n_rows:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the run never had rows written and calls in flight at the same time")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = evidence.read_bytes()
    rows_before = read_evidence(evidence)
    killed = harness("verify", str(evidence), "--no-recordings")
    assert killed.returncode == 0, killed.stderr  # intact, but the run's manifest says it never ended
    assert "warning: the run did not finish (manifest state running" in killed.stderr
    # issue 12: the resume checks must not lean on the manifest (a kill -9 left none before the run
    # wrote one at its start, and it can be lost): the journal's header carries them
    (reports / "survey-kill" / "manifest.json").unlink()

    # an edited plan (max_attempts 3 -> 1) is refused: it was accepted (exit 0) and mixed two plans
    original = camp_file.read_bytes()
    camp_file.write_text(yaml.safe_dump({**campaign, "redial": {**campaign["redial"], "max_attempts": 1}},
                                        allow_unicode=True))
    refused = harness(*args, "--resume")
    camp_file.write_bytes(original)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "changed since this run started" in refused.stderr
    # another host is refused; the resume hint without --host dials the run's own host
    other = ["--host", f"{short_lab.host}:{short_lab.port + 1}"]
    refused = harness("run", str(camp_file), *other, "--reports", str(reports), "--recordings", str(recordings),
                      "--resume")
    assert refused.returncode == 2 and "--change-host" in refused.stderr and refused.stderr.count("\n") == 1
    assert evidence.read_bytes() == before  # nothing was written by the refused resumes

    resumed = harness("run", str(camp_file), "--reports", str(reports), "--recordings", str(recordings),
                      "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resume: dialling {short_lab.host}:{short_lab.port} as this run did" in resumed.stderr
    assert "cut off mid-call" in resumed.stderr
    after = evidence.read_bytes()
    assert after.startswith(before)  # no finished row lost or rewritten
    rows = read_evidence(evidence)
    uids = [r["call_uid"] for r in rows]
    assert len(uids) == len(set(uids))  # nothing duplicated
    cut = [r for r in rows[len(rows_before):] if r["note"].startswith("cut off")]
    assert cut and all(r["outcome"] == "error" for r in cut)
    # each cut-off attempt was placed again, and every call went to the run's one host
    redone = {(r["chain_id"], r["attempt"]) for r in rows if not r["note"].startswith("cut off")}
    assert {(r["chain_id"], r["attempt"]) for r in cut} <= redone
    assert all(r["target"].endswith(f"@{short_lab.host}:{short_lab.port}") for r in rows)
    # every chain is complete: attempts 1..k without gaps (cut-off attempts placed again), and it
    # stopped where the redial policy says
    chains: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if not r["note"].startswith("cut off"):
            chains[r["chain_id"]].append(r)
    assert len(chains) == len(campaign["hotlines"])
    for chain, rs in chains.items():
        attempts = [int(r["attempt"]) for r in rs]
        assert attempts == list(range(1, len(rs) + 1)), (chain, attempts)
        last = rs[-1]
        redial_on = campaign["redial"].get("on", campaign["redial"].get(True))  # YAML 1.1 reads on: as True
        assert last["outcome"] not in redial_on or len(rs) == campaign["redial"]["max_attempts"]
    ok = harness("verify", str(evidence))
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(("music", "seconds", "voice", "lead_s"), [
    ("moh_2", 20, "greeting_en", 0.12),  # gentle-en
    ("moh_1", 15, "agent_en", 0.32),  # hold music then the agent: honest-queue, drops-30/60
    ("moh_1", 18, "agent_en", 0.32),  # as drops-30 plays it: 1.3 failed at 2 of 40 offsets
    ("moh_2", 15, "agent_en", 0.32),
    ("moh_3", 15, "agent_en", 0.32),
])
def test_lab_music_then_voice_at_any_frame_alignment(music: str, seconds: int, voice: str, lead_s: float) -> None:
    """Lab hold music, then a voice file (its own lead-in silence first), shifted by 0-312
    samples: the survey's recordings start at an arbitrary offset from the analysis frame
    grid. The music ends and the voice starts where they do at every offset (campaign target
    150 ms), and nothing is a tone. Up to 1.2 a shift of 40-75 samples turned three tonal notes
    of moh_2 at 18 s into a busy tone and the music after them into speech (gentle-en's 1.75 s
    music-end error); the first 1.3 (a centred rhythm window) called the agent's first 1.8 s
    music at 24-64 samples (survey errors of 2.1-2.3 s); 1.3 still lost the agent's first
    phrase after 18 s of moh_1 at 208 and 232 samples (fixed by 1.4's speech model)."""
    import soundfile as sf

    from harness.analysis import analyze_samples
    from harness.audio.g711 import ulaw_decode, ulaw_encode

    media = ROOT / "build" / "media"
    require((media / f"{music}.wav").exists(), "lab media missing: run `make media`")
    hold, _ = sf.read(media / f"{music}.wav", dtype="int16")
    spoken, _ = sf.read(media / f"{voice}.wav", dtype="int16")
    x0 = np.concatenate([hold[: seconds * 8000], spoken, np.zeros(8000, np.int16)])
    for shift in range(0, 320, 8):  # a spectrum is 2 frames: offsets repeat after 320 samples
        x = ulaw_decode(ulaw_encode(np.concatenate([np.zeros(shift, np.int16), x0])))
        segs = analyze_samples(x, 8000)
        t0 = shift / 8000
        assert {s.label for s in segs} <= {"music", "speech", "silence"}, (shift, segs)
        music_end = max(s.end_s for s in segs if s.label == "music" and s.start_s < seconds + t0)
        speech = min(s.start_s for s in segs if s.label == "speech")
        assert music_end == pytest.approx(seconds + t0, abs=0.15), shift
        assert speech == pytest.approx(seconds + lead_s + t0, abs=0.15), shift


@pytest.mark.parametrize("name", ["moh_1", "moh_2", "moh_3"])
def test_lab_hold_music_has_no_speech(name: str) -> None:
    """The lab's hold music (real tracks, asterisk-moh-opsound) is music from end to end: the
    opening of moh_2 was labelled speech up to analyzer 1.2 (gentle-en's first_speech_s pointed
    into the music). A regression test: these tracks are in the set the analyzer was tuned on."""
    path = ROOT / "build" / "media" / f"{name}.wav"
    require(path.exists(), "lab media missing: run `make media`")
    segs = analyze_file(path).segments
    speech_s = sum(s.end_s - s.start_s for s in segs if s.label == "speech")
    assert speech_s < 0.2, [s for s in segs if s.label == "speech"]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 256 KiB tmpfs (needs root and mount rights; the fault-injection test in test_runner_logic covers
    the same path everywhere)."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    require(os.geteuid() == 0, "a real disk-full run needs root to mount a small tmpfs")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True,
                             text=True, check=False)
    if mounted.returncode != 0:
        missing(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_stops_the_run_with_one_line_and_resume_completes(short_lab: Lab, tmp_path: Path,
                                                                      small_disk: Path) -> None:
    """Issue 12: a full disk gave five chained ENOSPC tracebacks, exit 1, no manifest and a 0-byte
    manifest.json.tmp. Real calls (busy, one after another); the reports on a tmpfs with three pages left:
    the evidence's first page, the journal's and the manifest's written at the start. Exit 3, one error line, whole rows, no litter; after
    space is freed --resume finishes the run."""
    camp_file = tmp_path / "full.yaml"
    camp_file.write_text("campaign: full\ndefault_host: \"127.0.0.1:5060\"\n"
                         "hotlines:\n  - {id: busy, name: Busy, target: '1007'}\nchains_per_round: 24\n"
                         "concurrency: 1\nlimits: {per_hotline_concurrency: 1, min_interval_s: 0, calls_per_minute: 600}\n"
                         "call: {ring_timeout_s: 3, max_hold_s: 5, max_call_s: 10}\n")
    reports = small_disk / "reports"
    out = reports / "full"
    filler = small_disk / "filler"
    vfs = os.statvfs(small_disk)
    filler.write_bytes(b"\0" * (vfs.f_bavail * vfs.f_frsize - 3 * vfs.f_frsize))
    args = ["run", str(camp_file), "--host", f"{short_lab.host}:{short_lab.port}", "--reports", str(reports),
            "--recordings", str(tmp_path / "recordings")]
    proc = harness(*args)
    assert proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("harness: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    print(errors[0])
    assert "no space left on device" in errors[0] and "--resume --host" in errors[0]
    rows = read_evidence(out / "evidence.csv")
    assert 1 <= len(rows) < 24 and {r["outcome"] for r in rows} == {"busy"}
    assert harness("verify", str(out / "evidence.csv"), "--no-recordings").returncode == 0  # whole rows only
    assert not list(out.glob("*.tmp"))
    filler.unlink()  # space freed
    resumed = harness("run", str(camp_file), "--reports", str(reports), "--recordings", str(tmp_path / "recordings"),
                      "--resume")
    assert resumed.returncode == 0, resumed.stderr
    rows = read_evidence(out / "evidence.csv")
    assert sorted(r["chain_id"] for r in rows if not r["note"].startswith("cut off")) == \
        sorted(f"r1-busy-{n}" for n in range(1, 25))
    assert harness("verify", str(out / "evidence.csv")).returncode == 0


def test_sigterm_hint_gives_the_host_and_following_it_completes_the_run(short_lab: Lab, tmp_path: Path) -> None:
    """Issue 12: the printed resume hint dropped --host; following it dialled the campaign's default host
    and left rows for two hosts in one evidence file. Now the hint is the whole command, and it works."""
    import shlex

    camp_file = tmp_path / "hint.yaml"
    camp_file.write_text("campaign: hint\ndefault_host: \"127.0.0.1:5060\"\n"
                         "hotlines:\n  - {id: rings, name: Rings, target: '1008'}\nchains_per_round: 3\n"
                         "concurrency: 1\nlimits: {per_hotline_concurrency: 1, min_interval_s: 0, calls_per_minute: 600}\n"
                         "call: {ring_timeout_s: 3, max_hold_s: 5, max_call_s: 10}\n")
    reports, recordings = tmp_path / "reports", tmp_path / "recordings"
    journal = reports / "hint" / "attempts.jsonl"
    hostport = f"{short_lab.host}:{short_lab.port}"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(camp_file), "--host", hostport,
                             "--reports", str(reports), "--recordings", str(recordings)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (journal.exists() and '"type": "attempt"' in journal.read_text()):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no call was handed to the dialer within 30 s")
        time.sleep(0.05)
    time.sleep(0.5)  # the call is ringing
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (hint,) = [line.split("continue with", 1)[1].strip() for line in err.splitlines()
               if line.startswith("interrupted: continue with")]
    words = shlex.split(hint)
    assert words[:2] == ["harness", "run"] and words[words.index("--host") + 1] == hostport
    resumed = subprocess.run([sys.executable, "-m", "harness.cli", *words[1:]], cwd=ROOT, capture_output=True,
                             text=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    rows = read_evidence(reports / "hint" / "evidence.csv")
    assert sorted(r["chain_id"] for r in rows if not r["note"].startswith("cut off")) == \
        ["r1-rings-1", "r1-rings-2", "r1-rings-3"]
    assert all(r["target"] == f"sip:1008@{hostport}" for r in rows)
