"""Survey accuracy against the lab's ground truth: ``python -m harness.bench survey``.

Runs ``scenarios/ten-hotline-survey.yaml`` against the lab PBX (``scenarios/lab/hotlines.yaml``)
in a scratch folder, then prints, per call, whether the outcome agrees with what the lab
did, and the error of answer, end of music, start of speech and hang-up times
(median, p95, max). Takes about as long as ``make demo``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.bench.against_lab import compare, summary
from harness.campaign.command import pool_factory
from harness.campaign.config import load_campaign
from harness.campaign.runner import run_campaign
from harness.errors import BadInput
from harness.evidence import read_evidence
from harness.lab.runner import LabProcess
from harness.lab.truth import read_truth


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``python -m harness.bench survey``."""
    ap.add_argument("--campaign", type=Path, default=Path("scenarios/ten-hotline-survey.yaml"))
    ap.add_argument("--hotlines", type=Path, default=Path("scenarios/lab/hotlines.yaml"))
    ap.add_argument("--media-dir", type=Path, default=Path("build/media"))
    ap.add_argument("--keep", type=Path, default=None,
                    help="write the run (truth, evidence, recordings) here and keep it; default: a scratch folder")


def run(args: argparse.Namespace) -> int:
    """Run the survey on the lab and print agreement and timing errors; returns the exit code."""
    campaign = load_campaign(args.campaign)
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        raise BadInput(f"--keep {args.keep} exists and is not empty")
    with tempfile.TemporaryDirectory(prefix="harness-survey-bench-") as tmp:
        root = Path(tmp) if args.keep is None else args.keep
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with LabProcess(args.hotlines, root / "truth.jsonl", args.media_dir) as lab:
            camp = campaign.with_host(lab.hostport)
            result = run_campaign(camp, args.campaign, pool_factory(camp), reports_root=root / "reports",
                                  recordings_root=root / "recordings", progress=lambda _: None)
        rows = read_evidence(result.evidence)
        checks = compare(rows, read_truth(root / "truth.jsonl"), result.evidence.parent)
        agree = sum(c.agrees for c in checks)
        print(f"{args.campaign} on {args.hotlines}: {len(rows)} calls in {time.monotonic() - t0:.0f} s; "
              f"outcome agrees with the lab truth on {agree}/{len(checks)}")
        for c in checks:
            if not c.agrees:
                print(f"  disagrees: {c.hotline_id}: ours {c.outcome}, lab {c.expected}")
        print(f"{'timing':<14}{'n':>4}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}")
        for what, s in summary(checks).items():
            print(f"{what:<14}{s['n']:>4}{s['median_ms']:>11.0f}{s['p95_ms']:>9.0f}{s['max_ms']:>9.0f}")
        for what in summary(checks):
            worst = sorted(((abs(c.errors_s[what]), c.hotline_id) for c in checks if what in c.errors_s),
                           reverse=True)[:3]
            print(f"largest {what} errors: " + "; ".join(f"{h} {e * 1000:.0f} ms" for e, h in worst))
    return 0
