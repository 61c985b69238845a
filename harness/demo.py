"""``harness demo``: the README's first command, end to end on the embedded lab PBX.

Prepares the lab media if needed, starts the lab PBX on a free port, runs
``scenarios/ten-hotline-survey.yaml`` against it, writes evidence, recordings and
the report, stops the lab, and prints the headline table and where the files are.
A previous demo's output is moved aside (never deleted).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.campaign.command import pool_factory, print_head
from harness.campaign.config import load_campaign
from harness.campaign.runner import run_campaign
from harness.errors import BadInput

SURVEY = Path("scenarios/ten-hotline-survey.yaml")
LAB_HOTLINES = Path("scenarios/lab/hotlines.yaml")
MEDIA = Path("build/media")


def _move_aside(*dirs: Path) -> None:
    """Rename a previous run's folders to ``<name>.<its start time>`` so nothing is lost."""
    stamp = None
    manifest = dirs[0] / "manifest.json"
    if manifest.exists():
        try:
            stamp = json.loads(manifest.read_text()).get("started_at")
        except ValueError:
            stamp = None
    suffix = (stamp or "previous").replace(":", "").replace("-", "").split(".")[0]
    for d in dirs:
        if d.exists():
            target = d.with_name(f"{d.name}.{suffix}")
            n = 1
            while target.exists():
                target, n = d.with_name(f"{d.name}.{suffix}-{n}"), n + 1
            shutil.move(str(d), str(target))


def demo(survey: Path = SURVEY, lab_hotlines: Path = LAB_HOTLINES, reports_root: Path = Path("reports"),
         recordings_root: Path = Path("recordings"), media_dir: Path = MEDIA) -> int:
    """Run the ten-hotline survey on the lab and report it; returns 0 (thresholds are shown, not enforced)."""
    from harness.lab.media import prepare_media
    from harness.lab.runner import LabProcess
    from harness.report import build_report

    if not survey.exists():
        raise BadInput(f"{survey}: no such file (run harness demo from the repository root)")
    campaign = load_campaign(survey)
    out_dir, rec_dir = reports_root / campaign.campaign, recordings_root / campaign.campaign
    if (out_dir / "evidence.csv").exists() or (out_dir / "attempts.jsonl").exists():
        _move_aside(out_dir, rec_dir)
    prepare_media(media_dir)
    truth = out_dir / "lab-truth.jsonl"
    out_dir.mkdir(parents=True, exist_ok=True)
    with LabProcess(lab_hotlines, truth, media_dir) as lab:
        print(f"lab PBX on sip:{lab.hostport} ({lab_hotlines}); running {survey} "
              f"({len(campaign.hotlines)} hotlines x {campaign.rounds} rounds, redial up to "
              f"{campaign.redial.max_attempts} attempts)", flush=True)
        result = run_campaign(campaign, survey, pool_factory(campaign), reports_root=reports_root,
                              recordings_root=recordings_root, host=lab.hostport)
    report = build_report([result.evidence], out_dir / "report", fail_if=[], junit=out_dir / "junit.xml",
                          thresholds=campaign.thresholds.model_dump(exclude_none=True),
                          redial_propensity=campaign.loss_model.redial_propensity, rounds=campaign.rounds)
    print()
    print(report.headline)
    print()
    verdict = "exceeded" if report.exit_code else "passed"
    print(f"CI thresholds {verdict} (the lab's hotlines drop calls on purpose; `harness report --fail-if` "
          f"exits 1 in CI when a threshold is exceeded)")
    print(f"evidence:   {result.evidence} ({result.rows} rows; check with  harness verify {result.evidence})")
    print_head(result.manifest)
    print(f"recordings: {result.recordings}/")
    print(f"report:     {out_dir / 'report' / 'report.html'} (and report.md, CSV tables, PNG plots)")
    print(f"lab truth:  {truth}")
    return 0
