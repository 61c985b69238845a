"""``harness run CAMPAIGN.yaml``: place a survey's calls, judge each, write the evidence.

The plan is pure (``initial_attempts``, ``next_attempt``); the loop (``run_campaign``)
is the I/O edge: it asks a ``Dialer``-like scheduler (the worker pool) to place calls
within the campaign's politeness limits, analyses each recording, classifies the
call and appends one evidence row as soon as the call has ended (flushed, fsynced).

Files, for campaign ``NAME``:

- ``recordings/NAME/<call_uid>.{wav,events.json,sip.log}`` and ``<call_uid>.wav.segments.json``:
  what each call left, each hashed into its row.
- ``reports/NAME/evidence.csv``: one hash-chained row per attempt.
- ``reports/NAME/attempts.jsonl``: the journal; one line when a call is handed to the
  dialer. On ``--resume`` an attempt in the journal without a row was cut off mid-call
  (the run was killed); it gets a row saying so (outcome ``error``) and is placed again.
- ``reports/NAME/manifest.json``: campaign file hash, versions, host, start and end; written
  when the run starts (state ``running``) and again when it ends (``finished`` or
  ``interrupted``, with the evidence's row count, head hash and sha256).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.analysis import DEFAULT as ANALYSIS_DEFAULT
from harness.analysis import analyze_file, analyzer_id
from harness.campaign.classify import Classification, Outcome, classify
from harness.campaign.config import Campaign
from harness.clock import now_utc, utc_iso
from harness.errors import BadInput, HarnessError, InfraError
from harness.evidence import EvidenceWriter, read_evidence, sha256_file, write_manifest
from harness.recording import wav_duration_s
from harness.sip.pool import recovered_record
from harness.sip.seam import CallRecord, CallSpec

CUT_OFF = "cut off mid-call: the run stopped before this call ended"
FAILURES_BEFORE_STOP = 5  # calls failing in a row, none through yet: stop rather than hammer on


class _Abort(Exception):
    """Every call so far failed (no response, transport, auth): stop the run."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__(failures[0])
        self.failures = failures


@dataclass(frozen=True)
class Attempt:
    """One call of a redial chain: attempt 1 is the first call, 2.. the redials."""

    round: int
    hotline_id: str
    target: str
    chain_id: str
    attempt: int
    not_before_s: float = 0.0  # monotonic time before which it must not start (redial delay)

    @property
    def key(self) -> tuple[int, str, str, int]:
        return (self.round, self.hotline_id, self.chain_id, self.attempt)


def chain_id(round_no: int, hotline_id: str, n: int) -> str:
    """Stable id of a redial chain: round, hotline and the chain's number in the round."""
    return f"r{round_no}-{hotline_id}-{n}"


def initial_attempts(campaign: Campaign, round_no: int) -> list[Attempt]:
    """The first calls of every chain of one round, hotlines interleaved."""
    return [Attempt(round_no, h.id, h.target, chain_id(round_no, h.id, n), 1)
            for n in range(1, campaign.chains_per_round + 1) for h in campaign.hotlines]


def next_attempt(campaign: Campaign, done: Attempt, outcome: Outcome, ended_mono_s: float) -> Attempt | None:
    """The redial that follows ``done`` under the campaign's policy, or None when the chain ends."""
    policy = campaign.redial
    if outcome not in policy.on or done.attempt >= policy.max_attempts:
        return None
    return Attempt(done.round, done.hotline_id, done.target, done.chain_id, done.attempt + 1,
                   ended_mono_s + policy.delay_s)


class Scheduler(Protocol):
    """What the loop needs from the dialer (``harness.sip.pool.WorkerPool`` fits)."""

    @property
    def free_slots(self) -> int: ...  # pragma: no cover - protocol

    def submit(self, spec: CallSpec) -> None: ...  # pragma: no cover

    def collect(self, timeout_s: float = 0.1) -> list[CallRecord]: ...  # pragma: no cover


@dataclass
class Limiter:
    """Politeness limits: per-hotline concurrency and interval, global calls per minute (pure)."""

    per_hotline: int
    min_interval_s: float
    calls_per_minute: float
    active: Counter[str] = field(default_factory=Counter)
    last_start: dict[str, float] = field(default_factory=dict)
    starts: list[float] = field(default_factory=list)

    def wait_s(self, hotline_id: str, now: float) -> float:
        """Seconds until a call to ``hotline_id`` may start (0: now; inf: when a call ends)."""
        if self.active[hotline_id] >= self.per_hotline:
            return float("inf")
        wait = 0.0
        last = self.last_start.get(hotline_id)
        if last is not None:
            wait = max(wait, last + self.min_interval_s - now)
        window = [t for t in self.starts if t > now - 60.0]
        self.starts = window
        if len(window) >= self.calls_per_minute:
            wait = max(wait, window[len(window) - int(self.calls_per_minute)] + 60.0 - now)
        return max(0.0, wait)

    def started(self, hotline_id: str, now: float) -> None:
        self.active[hotline_id] += 1
        self.last_start[hotline_id] = now
        self.starts.append(now)

    def ended(self, hotline_id: str) -> None:
        self.active[hotline_id] -= 1


def call_spec(campaign: Campaign, attempt: Attempt, call_uid: str, rec_dir: Path) -> CallSpec:
    """The dialer's instructions for one attempt.

    The shopper waits on hold ``max_hold_s`` after the answer, plus ``agent_confirm_s`` so
    that an agent who starts just before the limit can be confirmed; ``max_call_s`` caps all.
    """
    rules = campaign.call
    return CallSpec(call_uid=call_uid, target=attempt.target, out_dir=rec_dir,
                    ring_timeout_s=rules.ring_timeout_s, max_call_s=rules.max_call_s,
                    max_answered_s=rules.max_hold_s + rules.agent_confirm_s,
                    dtmf=rules.dtmf, dtmf_after_s=rules.dtmf_after_s)


def _file_cells(path: Path | None, evidence_dir: Path) -> tuple[str | None, str | None]:
    """(path relative to the evidence folder, sha256) of one file a call left, or (None, None)."""
    if path is None or not path.is_file():
        return None, None
    return os.path.relpath(path, evidence_dir), sha256_file(path)


def evidence_row(campaign: Campaign, attempt: Attempt, record: CallRecord, verdict: Classification,
                 recording: Path | None, evidence_dir: Path, analyzer: str, note: str | None, *,
                 rec_dir: Path | None = None) -> dict[str, Any]:
    """The evidence row of one attempt (columns of docs/EVIDENCE.md).

    Every file the call left in ``rec_dir`` (default: the recording's folder) is named and hashed:
    the recording, ``<uid>.events.json`` (or the partial timeline a killed worker left),
    ``<uid>.sip.log`` and the analysis ``<uid>.wav.segments.json`` that ``judge`` wrote. A call
    without a recording (busy, rejected) still has its timeline and SIP log hashed.
    """
    side_dir = recording.parent if recording is not None else rec_dir
    uid = record.call_uid
    events = sip_log = segments = None
    if side_dir is not None:
        events = side_dir / f"{uid}.events.json"
        if not events.is_file():
            events = side_dir / f"{uid}.events.partial.json"
        sip_log = side_dir / f"{uid}.sip.log"
    if recording is not None:
        segments = recording.with_name(recording.name + ".segments.json")
    rec_rel, rec_sha = _file_cells(recording, evidence_dir)
    events_rel, events_sha = _file_cells(events, evidence_dir)
    sip_rel, sip_sha = _file_cells(sip_log, evidence_dir)
    seg_rel, seg_sha = _file_cells(segments, evidence_dir)
    return {
        "campaign": campaign.campaign, "round": attempt.round, "hotline_id": attempt.hotline_id,
        "target": attempt.target, "attempt": attempt.attempt, "chain_id": attempt.chain_id,
        "call_uid": record.call_uid, "sip_call_id": record.sip_call_id, "started_at": record.invite_at,
        "final_status": record.final_status, "final_reason": record.final_reason,
        "answered": record.answered_s is not None,
        "ring_s": verdict.ring_s, "answer_s": verdict.answer_s, "early_media_s": verdict.early_media_s,
        "music_s": verdict.music_s, "speech_s": verdict.speech_s, "silence_s": verdict.silence_s,
        "tone_s": verdict.tone_s, "first_speech_s": verdict.first_speech_s,
        "disconnect_by": record.disconnect_by, "duration_s": verdict.duration_s, "billed_s": verdict.billed_s,
        "outcome": verdict.outcome, "recording": rec_rel, "recording_sha256": rec_sha,
        "recording_duration_s": record.recording_duration_s, "recording_gap_s": record.recording_gap_s,
        "analyzer": analyzer if recording is not None else None,
        "agent_start_s": verdict.agent_start_s, "outcome_reason": verdict.reason,
        "recording_repaired": record.recording_repaired,
        "events": events_rel, "events_sha256": events_sha, "sip_log": sip_rel, "sip_log_sha256": sip_sha,
        "segments": seg_rel, "segments_sha256": seg_sha,
        "note": note,
    }


def judge(campaign: Campaign, record: CallRecord, rec_dir: Path) -> tuple[Classification, Path | None, str]:
    """Analyse the call's recording (if any) and classify the call.

    The analysis is written beside the recording (``<uid>.wav.segments.json``) before this
    returns, so that ``evidence_row`` hashes it into the row.
    """
    wav = rec_dir / record.recording if record.recording else None
    segments: list[Any] = []
    analyzer = analyzer_id(ANALYSIS_DEFAULT)
    if wav is not None and wav.exists():
        if wav_duration_s(wav) > 0:
            try:
                analysis = analyze_file(wav)
                segments = list(analysis.segments)
                # beside the recording, as `harness analyze --format json` prints it (the report's strips)
                side = wav.with_name(wav.name + ".segments.json")
                side.write_text(json.dumps(analysis.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
            except BadInput as exc:
                record.error = record.error or f"recording unreadable: {exc}"
    else:
        wav = None
    return classify(record, segments, campaign.call), wav, analyzer


@dataclass
class RunResult:
    """What a run did: rows written, outcomes, where the files are."""

    evidence: Path
    recordings: Path
    manifest: Path
    rows: int
    placed: int
    outcomes: Counter[str]
    cut_off: int
    interrupted: bool = False


class Journal:
    """``attempts.jsonl``: one fsynced line per call handed to the dialer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f = path.open("a", encoding="utf-8")

    def write(self, attempt: Attempt, call_uid: str) -> None:
        line = {"call_uid": call_uid, "round": attempt.round, "hotline_id": attempt.hotline_id,
                "target": attempt.target, "chain_id": attempt.chain_id, "attempt": attempt.attempt,
                "at": utc_iso(time.time())}
        self._f.write(json.dumps(line) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    @staticmethod
    def read(path: Path) -> list[dict[str, Any]]:
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a kill: its call has no events either
        return out


ProgressFn = Callable[[str], None]


def _default_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_campaign(campaign: Campaign, campaign_file: Path, scheduler_factory: Callable[[], Any], *,
                 reports_root: Path = Path("reports"), recordings_root: Path = Path("recordings"),
                 resume: bool = False, progress: ProgressFn = _default_progress,
                 rounds: Iterable[int] | None = None) -> RunResult:
    """Run (or resume) a campaign to the end; return what was written.

    ``scheduler_factory`` builds the dialer (a context manager with ``free_slots``,
    ``submit`` and ``collect``). Without ``resume``, existing evidence for the
    campaign is refused (BadInput) rather than mixed with a new run.
    """
    out_dir = reports_root / campaign.campaign
    rec_dir = recordings_root / campaign.campaign
    evidence = out_dir / "evidence.csv"
    journal_path = out_dir / "attempts.jsonl"
    manifest = out_dir / "manifest.json"
    if evidence.exists() and evidence.stat().st_size > 0 and not resume:
        raise BadInput(f"{evidence} exists: use --resume to continue that run, or move it away")
    out_dir.mkdir(parents=True, exist_ok=True)
    rec_dir.mkdir(parents=True, exist_ok=True)
    started_at = now_utc()
    if resume and manifest.exists():
        try:
            before = json.loads(manifest.read_text())
        except ValueError:
            before = {}
        started_at = before.get("started_at") or started_at
        was = before.get("campaign_file_sha256")
        if was and campaign_file.exists() and sha256_file(campaign_file) != was:
            raise BadInput(f"{campaign_file} changed since this run started (its sha256 differs from "
                           f"{manifest}): resume with the same campaign file, or start a new campaign")

    writer = EvidenceWriter(evidence)
    journal = Journal(journal_path)
    outcomes: Counter[str] = Counter()
    cut_off = placed = 0
    interrupted = False
    abort: str | None = None  # why the run stopped itself (every call failing: our side is broken)
    failures: list[str] = []
    any_ok = False
    t0 = time.monotonic()
    # the recordings folder as seen from the manifest: verify keeps every file inside it
    manifest_extra = {"recordings": os.path.relpath(rec_dir, out_dir), "resumed": resume}
    try:
        # a run killed from here on leaves a manifest that says so ("running"): verify can then tell
        # it from a finished run whose manifest was deleted
        write_manifest(manifest, campaign_file, campaign.campaign, started_at, None, extra=manifest_extra,
                       evidence=evidence, state="running")
        # -- resume: what is done, what was cut off, what comes next ------------------------------
        rows = read_evidence(evidence)
        done_uids = {r["call_uid"] for r in rows}
        pending: list[Attempt] = []
        finished: dict[tuple[int, str, str], tuple[int, str]] = {}  # chain -> (last attempt, outcome)
        for r in rows:
            outcomes[r["outcome"]] += 1
            if r["note"].startswith("cut off"):
                continue  # the cut-off attempt is placed again
            k = (int(r["round"]), r["hotline_id"], r["chain_id"])
            if k not in finished or int(r["attempt"]) >= finished[k][0]:
                finished[k] = (int(r["attempt"]), r["outcome"])
        for entry in Journal.read(journal_path):
            if entry["call_uid"] in done_uids:
                continue
            att = Attempt(entry["round"], entry["hotline_id"], entry["target"], entry["chain_id"],
                          entry["attempt"])
            record = recovered_record(entry["call_uid"], att.target, rec_dir, CUT_OFF)
            verdict, wav, analyzer = judge(campaign, record, rec_dir)
            writer.append(evidence_row(campaign, att, record, verdict, wav, out_dir, analyzer,
                                       note="cut off (recorded on resume)", rec_dir=rec_dir))
            done_uids.add(entry["call_uid"])
            outcomes[verdict.outcome.value] += 1
            cut_off += 1
            progress(f"resume: {entry['call_uid']} was cut off mid-call; recorded as such, placing it again")

        round_list = list(rounds) if rounds is not None else list(range(1, campaign.rounds + 1))
        for round_no in round_list:
            for att in initial_attempts(campaign, round_no):
                k = (att.round, att.hotline_id, att.chain_id)
                if k not in finished:
                    pending.append(att)
                    continue
                last, outcome = finished[k]
                nxt = next_attempt(campaign, Attempt(att.round, att.hotline_id, att.target, att.chain_id, last),
                                   Outcome(outcome), time.monotonic())
                if nxt is not None:
                    pending.append(nxt)
        if not pending:
            progress(f"{campaign.campaign}: nothing left to call ({writer.count} rows in {evidence})")

        # -- the loop ------------------------------------------------------------------------------
        limiter = Limiter(campaign.limits.per_hotline_concurrency, campaign.limits.min_interval_s,
                          campaign.limits.calls_per_minute)
        inflight: dict[str, Attempt] = {}
        planned = writer.count + len(pending)
        gate_until = 0.0  # a new round starts round_interval_s after the previous one ended
        with scheduler_factory() as dialer:
            try:
                while pending or inflight:
                    now = time.monotonic()
                    current_round = min(a.round for a in list(pending) + list(inflight.values()))
                    for att in sorted(pending, key=lambda a: (a.round, a.not_before_s)):
                        if dialer.free_slots <= 0:
                            break
                        if att.round != current_round or now < gate_until:
                            break
                        if now < att.not_before_s or limiter.wait_s(att.hotline_id, now) > 0:
                            continue
                        uid = f"{att.chain_id}-a{att.attempt}-{secrets.token_hex(3)}"
                        journal.write(att, uid)
                        dialer.submit(call_spec(campaign, att, uid, rec_dir))
                        limiter.started(att.hotline_id, now)
                        inflight[uid] = att
                        pending.remove(att)
                        placed += 1
                    for record in dialer.collect(0.1):
                        att = inflight.pop(record.call_uid)
                        limiter.ended(att.hotline_id)
                        verdict, wav, analyzer = judge(campaign, record, rec_dir)
                        writer.append(evidence_row(campaign, att, record, verdict, wav, out_dir, analyzer,
                                                   note=None, rec_dir=rec_dir))
                        outcomes[verdict.outcome.value] += 1
                        if verdict.outcome is Outcome.ERROR and not any_ok:
                            failures.append(verdict.reason)
                            if len(failures) >= max(FAILURES_BEFORE_STOP, campaign.concurrency):
                                raise _Abort(failures)
                        else:
                            any_ok = True
                        nxt = next_attempt(campaign, att, verdict.outcome, time.monotonic())
                        if nxt is not None:
                            pending.append(nxt)
                            planned += 1
                        if not any(a.round == att.round for a in list(pending) + list(inflight.values())):
                            gate_until = time.monotonic() + campaign.round_interval_s
                        progress(_progress_line(writer.count, planned, att, verdict, outcomes,
                                                time.monotonic() - t0))
            except (KeyboardInterrupt, _Abort) as exc:
                interrupted = True
                if isinstance(exc, _Abort):
                    abort = (f"stopped: the first {len(exc.failures)} calls all failed and none got through "
                             f"({exc.failures[0]}); the evidence is kept; fix the cause and run again with "
                             "--resume")
                progress("interrupted: hanging up; the calls in progress are recorded as cut off "
                         "(continue with --resume)" if abort is None else abort)
                dialer.close()
                for record in dialer.collect(0):
                    att = inflight.pop(record.call_uid, None)
                    if att is None:
                        continue
                    record.error = CUT_OFF
                    verdict, wav, analyzer = judge(campaign, record, rec_dir)
                    writer.append(evidence_row(campaign, att, record, verdict, wav, out_dir, analyzer,
                                               note="cut off (interrupted)", rec_dir=rec_dir))
                    outcomes[verdict.outcome.value] += 1
                    cut_off += 1
    finally:
        journal.close()
        writer.close()
        try:
            write_manifest(manifest, campaign_file, campaign.campaign, started_at, now_utc(),
                           extra={**manifest_extra, "interrupted": interrupted}, evidence=evidence,
                           state="interrupted" if interrupted else "finished")
        except (OSError, HarnessError) as exc:
            progress(f"warning: manifest not written: {exc}")
    if abort is not None:
        raise InfraError(abort)
    return RunResult(evidence, rec_dir, manifest, rows=len(read_evidence(evidence)), placed=placed,
                     outcomes=outcomes, cut_off=cut_off, interrupted=interrupted)


def _progress_line(done: int, planned: int, att: Attempt, verdict: Classification, outcomes: Counter[str],
                   elapsed_s: float) -> str:
    left = max(0, planned - done)
    eta = elapsed_s / done * left if done else 0.0
    tally = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    dur = f"{verdict.duration_s:.1f} s" if verdict.duration_s is not None else "-"
    return (f"[{done}/{planned}] round {att.round} {att.hotline_id} attempt {att.attempt}: "
            f"{verdict.outcome.value} ({dur}) | {tally} | elapsed {_mmss(elapsed_s)}, ~{_mmss(eta)} left")


def _mmss(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"
