"""The I/O edge of ``harness run``, ``harness validate`` and ``harness verify``."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

from harness.campaign.config import Campaign, load_campaign, validate_files
from harness.campaign.runner import RunResult, run_campaign
from harness.errors import BadInput
from harness.evidence import verify_evidence
from harness.yamlfile import one_line

MAX_LINE_CHARS = 4000  # one_line's cut, well above any message validate writes


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def pool_factory(campaign: Campaign):
    """Build the worker pool the campaign asks for (account, concurrency, bind address)."""
    from harness.sip.pool import WorkerPool

    account = campaign.account.to_seam() if campaign.account else None
    return lambda: WorkerPool(account, concurrency=campaign.concurrency, bind=campaign.bind)


def run_command(campaign_file: Path, *, resume: bool, host: str | None, reports_root: Path,
                recordings_root: Path, change_host: bool = False) -> RunResult:
    """Load, run (or resume) the campaign, re-aimed at ``host`` when given; print where the evidence is."""
    campaign = load_campaign(campaign_file)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        result = run_campaign(campaign, campaign_file, pool_factory(campaign), reports_root=reports_root,
                              recordings_root=recordings_root, resume=resume, host=host,
                              change_host=change_host)
    finally:
        signal.signal(signal.SIGTERM, previous)
    tally = ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items())) or "no calls"
    print(f"{campaign.campaign}: {result.rows} rows ({tally}); evidence {result.evidence}, "
          f"recordings {result.recordings}/, manifest {result.manifest}")
    if result.interrupted:
        print(f"interrupted: continue with  {result.resume_hint}", file=sys.stderr)
    else:
        print(f"next: harness report {result.evidence} --campaign {campaign_file} "
              f"--out {result.evidence.parent / 'report'}")
    return result


def validate_command(files: list[Path]) -> int:
    """Validate campaign/lab files; one line per file; 0 all good, 2 any bad."""
    if not files:
        raise BadInput("give at least one file, e.g. harness validate scenarios/*.yaml")
    errors: list[str] = []
    for f in files:  # one file at a time: a file name may itself hold ':' or a newline
        found = validate_files([f])
        errors += found
        if not found:
            print(f"{f}: ok")
    for e in errors:
        print(f"harness: error: {one_line(e, MAX_LINE_CHARS)}", file=sys.stderr)
    return 2 if errors else 0


def verify_command(evidence: Path, check_recordings: bool, manifest: Path | None) -> int:
    """Verify an evidence CSV's hash chain and recordings; 0 intact, 2 broken (naming the first bad row)."""
    if not evidence.exists():
        raise BadInput(f"{evidence}: no such file")
    if manifest is None and (evidence.parent / "manifest.json").exists():
        manifest = evidence.parent / "manifest.json"
    result = verify_evidence(evidence, check_recordings=check_recordings, manifest=manifest)
    if result.ok:
        print(f"{evidence}: intact ({result.rows} rows"
              f"{', recordings match' if check_recordings else ''}{', manifest agrees' if manifest else ''})")
        return 0
    print(f"harness: error: {result.message}", file=sys.stderr)
    return 2
