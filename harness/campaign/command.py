"""The I/O edge of ``harness run`` and ``harness verify``."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType

from harness.campaign.config import Campaign, load_campaign
from harness.campaign.runner import RunResult, run_campaign
from harness.errors import BadInput
from harness.evidence import verify_evidence


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def pool_factory(campaign: Campaign):
    """Build the worker pool the campaign asks for (account, concurrency, bind address)."""
    from harness.sip.pool import WorkerPool

    account = campaign.account.to_seam() if campaign.account else None
    return lambda: WorkerPool(account, concurrency=campaign.concurrency, bind=campaign.bind)


def run_command(campaign_file: Path, *, resume: bool, host: str | None, reports_root: Path,
                recordings_root: Path, change_host: bool = False, sign_key: Path | None = None) -> RunResult:
    """Load, run (or resume) the campaign, re-aimed at ``host`` when given; sign its manifest when a
    key is given (``--sign-key`` or ``HARNESS_SIGNING_KEY``); print where the evidence is and its head
    hash, for publication."""
    from harness.signing import check_continuation, load_private_key, sign_manifest

    campaign = load_campaign(campaign_file)
    key = load_private_key(sign_key)  # before any call: a bad key is exit 2, not a lost signature
    manifest = reports_root / campaign.campaign / "manifest.json"
    if resume:
        check_continuation(manifest, key)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        result = run_campaign(campaign, campaign_file, pool_factory(campaign), reports_root=reports_root,
                              recordings_root=recordings_root, resume=resume, host=host,
                              change_host=change_host)
    finally:
        signal.signal(signal.SIGTERM, previous)
        # the final manifest is signed however the run ended (an abort raises after writing it)
        if key is not None and manifest.is_file():
            sig, pub, fp = sign_manifest(manifest, key)
            print(f"manifest signed: {sig} (public key {pub}, fingerprint {fp}; publish the key or "
                  "its fingerprint, check with: harness verify ... --public-key KEY.pub)", file=sys.stderr)
        print_head(manifest)
    tally = ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items())) or "no calls"
    print(f"{campaign.campaign}: {result.rows} rows ({tally}); evidence {result.evidence}, "
          f"recordings {result.recordings}/, manifest {result.manifest}")
    if result.interrupted:
        print(f"interrupted: continue with  {result.resume_hint}", file=sys.stderr)
    else:
        print(f"next: harness report {result.evidence} --campaign {campaign_file} "
              f"--out {result.evidence.parent / 'report'}")
    return result


def print_head(manifest: Path) -> None:
    """Print the run's head hash (from its manifest): published elsewhere, it anchors the evidence
    against a rewrite of every file (``harness verify --head``)."""
    try:
        ev = json.loads(manifest.read_text(encoding="utf-8")).get("evidence") or {}
        head, evidence = ev["last_row_hash"], manifest.parent / ev["file"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return  # no manifest written: the run's error says why
    print(f"head hash: {head} (publish it; check with: harness verify {evidence} --head {head})")


def verify_command(evidence: Path, check_recordings: bool, manifest: Path | None, *, head: str | None = None,
                   public_key: Path | None = None, recordings: Path | None = None) -> int:
    """Verify an evidence CSV (chain, files, manifest, anchors); 0 intact, 2 broken (naming the first bad row).

    Intact evidence of a run that did not finish is exit 0 with a warning line saying what is not anchored.
    """
    if not evidence.exists():
        raise BadInput(f"{evidence}: no such file")
    if public_key is not None and not public_key.is_file():
        raise BadInput(f"--public-key {public_key}: no such file")
    result = verify_evidence(evidence, check_recordings=check_recordings, manifest=manifest,
                             recordings=recordings, head=head, public_key=public_key)
    if result.ok:
        print(result.message)
        for note in result.notes:
            print(f"harness: warning: {note}", file=sys.stderr)
        return 0
    print(f"harness: error: {result.message}", file=sys.stderr)
    return 2
