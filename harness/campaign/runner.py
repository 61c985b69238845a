"""``harness run CAMPAIGN.yaml``: place a survey's calls, judge each, write the evidence.

The plan is pure (``harness.campaign.plan``: attempts, redials, limits, resume, abort
policy); this module is the loop and its I/O edge. ``run_campaign`` asks a ``Scheduler``
(the worker pool, or a test's scripted dialer) to place calls within the campaign's
politeness limits, reading time only from the ``Clock`` it is given, analyses each
recording, classifies the call and appends one evidence row as soon as the call has
ended (flushed, fsynced).

Files, for campaign ``NAME``:

- ``recordings/NAME/<call_uid>.{wav,events.json,sip.log}`` and ``<call_uid>.wav.segments.json``:
  what each call left, each hashed into its row.
- ``reports/NAME/evidence.csv``: one hash-chained row per attempt.
- ``reports/NAME/attempts.jsonl``: the journal. Its first line (``"type": "run"``) records
  the campaign file's sha256 and the ``--host`` of the run, so that ``--resume`` can always
  check both (there is no manifest yet after a ``kill -9``); then one line when a call is
  handed to the dialer, and one line per resume. On ``--resume`` an attempt in the journal
  without a row was cut off mid-call (the run was killed); it gets a row saying so (outcome
  ``error``) and is placed again.
- ``reports/NAME/manifest.json``: campaign file hash, versions, host, start and end; written
  when the run starts (state ``running``) and again when it ends (``finished`` or
  ``interrupted``, with the evidence's row count, head hash and sha256).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shlex
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.analysis import DEFAULT as ANALYSIS_DEFAULT
from harness.analysis import analyze_file, analyzer_id
from harness.audio.wav import wav_duration_s
from harness.campaign.classify import Classification, classify
from harness.campaign.config import Campaign
from harness.campaign.plan import (
    AbortPolicy,
    Attempt,
    CutOff,
    Limiter,
    next_attempt,
    plan_resume,
    resume_host,
)
from harness.clock import SYSTEM_CLOCK, Clock
from harness.digest import sha256_file
from harness.errors import BadInput, HarnessError, InfraError
from harness.evidence import CallFiles, EvidenceWriter, call_files, write_manifest
from harness.sip.pool import recovered_record
from harness.vocab import CallRecord, CallSpec

CUT_OFF = "cut off mid-call: the run stopped before this call ended"


class _Abort(Exception):
    """Every call so far failed (no response, transport, auth): stop the run."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__(failures[0])
        self.failures = failures


class _WriteFailed(Exception):
    """A file of the run could not be written (disk full, quota, I/O error): stop the run."""

    def __init__(self, path: Path, cause: OSError) -> None:
        super().__init__(f"{path}: {cause}")
        self.path, self.cause = path, cause

    @property
    def why(self) -> str:
        """The OS's reason in lower case, e.g. 'no space left on device'."""
        return (self.cause.strerror or str(self.cause)).lower()

    @property
    def fix(self) -> str:
        """What the user should do before resuming."""
        return "free space" if self.cause.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "fix that"


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn an OSError of the block into ``_WriteFailed`` naming the file (or ``path``)."""
    try:
        yield
    except OSError as exc:
        raise _WriteFailed(Path(exc.filename) if exc.filename else path, exc) from exc


class Scheduler(Protocol):
    """What the loop needs from the dialer (``harness.sip.pool.WorkerPool`` fits)."""

    @property
    def free_slots(self) -> int: ...  # pragma: no cover - protocol

    def submit(self, spec: CallSpec) -> None: ...  # pragma: no cover

    def collect(self, timeout_s: float = 0.1) -> list[CallRecord]: ...  # pragma: no cover

    def close(self) -> None: ...  # pragma: no cover - hang up what is in progress (Ctrl-C, abort)


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


def evidence_row(campaign: Campaign, attempt: Attempt, record: CallRecord, verdict: Classification,
                 files: CallFiles, analyzer: str, note: str | None) -> dict[str, Any]:
    """The evidence row of one attempt (columns of docs/EVIDENCE.md), from data only: the files the
    call left come named and hashed (``harness.evidence.call_files``)."""
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
        "outcome": verdict.outcome, "recording": files.recording.path, "recording_sha256": files.recording.sha256,
        "recording_duration_s": record.recording_duration_s, "recording_gap_s": record.recording_gap_s,
        "analyzer": analyzer if files.recording.path is not None else None,
        "agent_start_s": verdict.agent_start_s, "outcome_reason": verdict.reason,
        "recording_repaired": record.recording_repaired,
        "events": files.events.path, "events_sha256": files.events.sha256,
        "sip_log": files.sip_log.path, "sip_log_sha256": files.sip_log.sha256,
        "segments": files.segments.path, "segments_sha256": files.segments.sha256,
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
    host: str | None = None  # the --host dialled (None: the campaign's own targets)
    resume_hint: str = ""  # the command that continues this run


JOURNAL_RUN = "run"  # the journal's first line: which campaign file and host this run uses
JOURNAL_RESUME = "resume"  # one line per --resume: when, and the host it dialled
JOURNAL_ATTEMPT = "attempt"  # one line per call handed to the dialer


@dataclass(frozen=True)
class JournalContents:
    """What ``attempts.jsonl`` holds: the run header (None in a journal from before it had one),
    the resume lines and the attempt lines, in file order."""

    header: dict[str, Any] | None
    resumes: list[dict[str, Any]]
    attempts: list[dict[str, Any]]

    @property
    def host(self) -> str | None:
        """The ``--host`` the run dialled last (a resume with ``--change-host`` may have changed it)."""
        if self.resumes:
            return self.resumes[-1].get("host")
        return self.header.get("host") if self.header else None


def run_header(campaign: Campaign, campaign_file: Path, campaign_sha256: str, host: str | None,
               started_at: str) -> dict[str, Any]:
    """The journal's first line: what ``--resume`` checks before continuing the run."""
    from harness import __version__

    return {"type": JOURNAL_RUN, "campaign": campaign.campaign, "campaign_file": str(campaign_file),
            "campaign_file_sha256": campaign_sha256, "host": host, "started_at": started_at,
            "harness": __version__}


class Journal:
    """``attempts.jsonl``: a header line, then one fsynced line per call handed to the dialer.

    Each line goes out in one ``os.write`` and is fsynced; a write that fails (disk full) is
    cut back off the file, so the journal never holds half a line of its own making. A line
    cut by a kill is ended with a newline when the journal is opened again, so that the next
    line is not glued to it. Attempt lines are timed by ``clock``.
    """

    def __init__(self, path: Path, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path, self.clock = path, clock
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(self._fd).st_size
            if size:
                with path.open("rb") as f:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        self._append(b"\n")
        except BaseException:
            os.close(self._fd)
            raise

    def _append(self, data: bytes) -> None:
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, end)
            except OSError:
                pass  # the next open ends the fragment with a newline; the reader skips it
            raise

    def record(self, line: Mapping[str, Any]) -> None:
        """Append one JSON line (header, resume) and fsync it."""
        self._append((json.dumps(dict(line)) + "\n").encode("utf-8"))

    def write(self, attempt: Attempt, call_uid: str) -> None:
        """Record that ``attempt`` is being handed to the dialer as ``call_uid`` (before it is)."""
        self.record({"type": JOURNAL_ATTEMPT, "call_uid": call_uid, "round": attempt.round,
                     "hotline_id": attempt.hotline_id, "target": attempt.target, "chain_id": attempt.chain_id,
                     "attempt": attempt.attempt, "at": self.clock.now_utc()})

    def close(self) -> None:
        """Close the file (every line is already on disk)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @staticmethod
    def read(path: Path) -> JournalContents:
        """The header, resume and attempt lines of ``path`` (empty when there is no journal).

        The header is the first readable line when it is a ``run`` line; attempt lines
        without a ``type`` are from a journal written before there was a header.
        """
        if not path.exists():
            return JournalContents(None, [], [])
        header: dict[str, Any] | None = None
        resumes: list[dict[str, Any]] = []
        attempts: list[dict[str, Any]] = []
        first = True
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill: its call has no events either
            if not isinstance(entry, dict):
                continue
            kind = entry.get("type", JOURNAL_ATTEMPT)
            if kind == JOURNAL_RUN:
                if first:
                    header = entry
            elif kind == JOURNAL_RESUME:
                resumes.append(entry)
            elif "call_uid" in entry:
                attempts.append(entry)
            first = False
        return JournalContents(header, resumes, attempts)


def resume_hint(campaign_file: Path, host: str | None, reports_root: Path, recordings_root: Path) -> str:
    """The exact command that continues this run (its --host and output folders included)."""
    words = ["harness", "run", str(campaign_file), "--resume"]
    if host:
        words += ["--host", host]
    if reports_root != Path("reports"):
        words += ["--reports", str(reports_root)]
    if recordings_root != Path("recordings"):
        words += ["--recordings", str(recordings_root)]
    return shlex.join(words)


ProgressFn = Callable[[str], None]


def _default_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RunFiles:
    """Where the run of one campaign writes (see the module docstring)."""

    reports_root: Path
    recordings_root: Path
    out_dir: Path
    rec_dir: Path
    evidence: Path
    journal: Path
    manifest: Path

    @classmethod
    def of(cls, campaign_name: str, reports_root: Path, recordings_root: Path) -> RunFiles:
        """The files of campaign ``campaign_name`` under the reports and recordings folders."""
        out_dir = reports_root / campaign_name
        return cls(reports_root, recordings_root, out_dir, recordings_root / campaign_name,
                   out_dir / "evidence.csv", out_dir / "attempts.jsonl", out_dir / "manifest.json")


@dataclass(frozen=True)
class RunStart:
    """How a run begins, once the checks before it have passed."""

    campaign: Campaign  # re-aimed at ``host`` when there is one
    host: str | None  # the --host dialled (None: the campaign's own targets)
    changed_from: str | None  # a resume with --change-host: the host dialled until now
    continuing: bool  # a resume of a run whose journal has its header
    started_at: str  # when the run first started (UTC text)
    campaign_sha256: str
    journal: JournalContents
    hint: str  # the command that continues this run


def check_start(campaign: Campaign, campaign_file: Path, files: RunFiles, *, resume: bool, host: str | None,
                change_host: bool, progress: ProgressFn, clock: Clock) -> RunStart:
    """Check that the run may start (or resume) and decide how: BadInput when it may not.

    A new run never mixes into earlier evidence or journal. A resume reads the journal's
    header: the campaign file must hash as it did, and the host follows ``resume_host``.
    """
    if change_host and not resume:
        raise BadInput("--change-host applies to --resume only (a new run dials whatever --host says)")
    earlier = [p for p in (files.evidence, files.journal) if p.exists() and p.stat().st_size > 0]
    if earlier and not resume:
        raise BadInput(f"{earlier[0]} exists: use --resume to continue that run, or move {files.out_dir} away")
    campaign_sha256 = sha256_file(campaign_file) if campaign_file.exists() else ""
    started_at = clock.now_utc()
    contents = Journal.read(files.journal) if resume else JournalContents(None, [], [])
    has_rows = files.evidence.exists() and files.evidence.read_bytes().count(b"\n") > 1  # a line after the header
    changed_from: str | None = None
    continuing = contents.header is not None
    if resume and not continuing and (contents.attempts or has_rows):
        raise BadInput(f"{files.journal} has no run header (an older harness wrote it, or it was removed), so "
                       f"the campaign file and --host of that run cannot be checked: move {files.out_dir} away "
                       "and start the run again")
    if contents.header is not None:
        if contents.header.get("campaign_file_sha256") != campaign_sha256:
            raise BadInput(f"{campaign_file} changed since this run started (its sha256 differs from the one "
                           f"recorded in {files.journal}): resume with the file as it was, or move "
                           f"{files.out_dir} away and start a new run")
        started_at = contents.header.get("started_at") or started_at
        host, changed_from = resume_host(contents.host, host, change_host, campaign.default_host)
        if host and changed_from is None:
            progress(f"resume: dialling {host} as this run did (--host {host})")
        elif host:
            progress(f"resume: --change-host: dialling {host} from now on (this run dialled {changed_from} "
                     "until now)")
    if host:
        campaign = campaign.with_host(host)
    hint = resume_hint(campaign_file, host, files.reports_root, files.recordings_root)
    return RunStart(campaign, host, changed_from, continuing, started_at, campaign_sha256, contents, hint)


class _Run:
    """One run's state, from the evidence opened to the manifest written at the end.

    Its steps, in the order ``run_campaign`` takes them: opening the evidence (here),
    ``open_journal``, ``manifest_running``, ``resume``, ``place`` (the loop; on Ctrl-C, an abort
    or a failed write, ``stop``), ``close`` and ``result``. A file that cannot be written
    (``_WriteFailed``) stops the run, keeping every row already written.
    """

    def __init__(self, start: RunStart, files: RunFiles, campaign_file: Path, *, resume: bool, clock: Clock,
                 progress: ProgressFn) -> None:
        self.start, self.files, self.campaign_file = start, files, campaign_file
        self.campaign = start.campaign
        self.clock, self.progress = clock, progress
        self.journal: Journal | None = None
        self.outcomes: Counter[str] = Counter()
        self.cut_off = self.placed = self.planned = 0
        self.inflight: dict[str, Attempt] = {}
        self.interrupted = False
        self.abort: str | None = None  # why the run stopped itself (every call failing: our side is broken)
        self.write_failed: _WriteFailed | None = None  # a file could not be written (disk full): stop, keep what is
        self.manifest_written = False
        self.t0_s = clock.monotonic_s()
        # the recordings folder as seen from the manifest: verify keeps every file inside it
        self.manifest_extra = {"recordings": os.path.relpath(files.rec_dir, files.out_dir), "resumed": resume,
                               "sip_host": start.host, "sip_host_changed_from": start.changed_from}
        self.writer = self._open_evidence()

    # -- the files of the run ------------------------------------------------------------------------

    def _open_evidence(self) -> EvidenceWriter:
        # InfraError when it cannot be written (nothing called yet); evidence the writer refuses
        # (a broken chain: BadInput) is raised before the run's try, so it gets no new manifest
        try:
            with _writing(self.files.evidence):
                return EvidenceWriter(self.files.evidence)
        except _WriteFailed as exc:
            raise InfraError(f"{exc.path}: {exc.why}: nothing was called; {exc.fix}, then run  "
                             f"{self.start.hint}") from exc.cause

    def open_journal(self) -> None:
        """Open the journal; write its header (a new run) or a resume line."""
        start = self.start
        with _writing(self.files.journal):
            self.journal = Journal(self.files.journal, self.clock)
            if start.continuing:
                self.journal.record({"type": JOURNAL_RESUME, "at": self.clock.now_utc(), "host": start.host,
                                     "host_changed_from": start.changed_from})
            else:
                self.journal.record(run_header(self.campaign, self.campaign_file, start.campaign_sha256,
                                               start.host, start.started_at))

    def manifest_running(self) -> None:
        """Write the manifest with state ``running``.

        A run killed from here on leaves a manifest that says so: verify can then tell it from a
        finished run whose manifest was deleted.
        """
        with _writing(self.files.manifest):
            write_manifest(self.files.manifest, self.campaign_file, self.campaign.campaign, self.start.started_at,
                           None, extra=self.manifest_extra, evidence=self.writer, state="running")

    def append(self, row: dict[str, Any]) -> None:
        """Append one row to the evidence."""
        with _writing(self.files.evidence):
            self.writer.append(row)

    def files_of(self, record: CallRecord, wav: Path | None) -> CallFiles:
        """Every file ``record``'s call left, named relative to the evidence and hashed."""
        return call_files(record.call_uid, wav, self.files.rec_dir, self.files.out_dir)

    def judged(self, record: CallRecord) -> tuple[Classification, Path | None, str]:
        """``judge`` the call, a failed write of its analysis naming the file."""
        with _writing(self.files.rec_dir / (record.recording or "")):
            return judge(self.campaign, record, self.files.rec_dir)

    # -- resume: what is done, what was cut off, what comes next -------------------------------------

    def resume(self, rounds: Iterable[int] | None) -> list[Attempt]:
        """Record a row for every attempt cut off mid-call; return the attempts left to place."""
        plan = plan_resume(self.writer.rows(), self.start.journal.attempts)
        self.outcomes.update(plan.outcomes)
        for cut in plan.cut_off:
            self._record_cut_off(cut)
        pending = plan.pending(self.campaign, rounds, self.clock.monotonic_s())
        if not pending:
            self.progress(f"{self.campaign.campaign}: nothing left to call ({self.writer.count} rows in "
                          f"{self.files.evidence})")
        return pending

    def _record_cut_off(self, cut: CutOff) -> None:
        record = recovered_record(cut.call_uid, cut.attempt.target, self.files.rec_dir, CUT_OFF)
        verdict, wav, analyzer = self.judged(record)
        self.append(evidence_row(self.campaign, cut.attempt, record, verdict, self.files_of(record, wav), analyzer,
                                 note="cut off (recorded on resume)"))
        self.outcomes[verdict.outcome.value] += 1
        self.cut_off += 1
        self.progress(f"resume: {cut.call_uid} was cut off mid-call; recorded as such, placing it again")

    # -- the loop ------------------------------------------------------------------------------------

    def place(self, dialer: Scheduler, pending: list[Attempt]) -> None:
        """Place ``pending`` and the redials they lead to, until every call has ended.

        Raises ``_Abort`` when the first calls all fail, ``_WriteFailed`` when a file cannot be
        written; sets ``abort`` when every call placed failed, however few.
        """
        campaign = self.campaign
        limiter = Limiter(campaign.limits.per_hotline_concurrency, campaign.limits.min_interval_s,
                          campaign.limits.calls_per_minute)
        policy = AbortPolicy(campaign.concurrency)
        self.planned = self.writer.count + len(pending)
        gate_until_s = 0.0  # a new round starts round_interval_s after the previous one ended
        while pending or self.inflight:
            now_s = self.clock.monotonic_s()
            current_round = min(a.round for a in list(pending) + list(self.inflight.values()))
            for att in sorted(pending, key=lambda a: (a.round, a.not_before_s)):
                if dialer.free_slots <= 0:
                    break
                if att.round != current_round or now_s < gate_until_s:
                    break
                if now_s < att.not_before_s or limiter.wait_s(att.hotline_id, now_s) > 0:
                    continue
                self._submit(dialer, att)
                limiter.started(att.hotline_id, now_s)
                pending.remove(att)
            for record in dialer.collect(0.1):
                att = self.inflight.pop(record.call_uid)
                limiter.ended(att.hotline_id)
                verdict, wav, analyzer = self.judged(record)
                self.append(evidence_row(campaign, att, record, verdict, self.files_of(record, wav), analyzer,
                                         note=None))
                self.outcomes[verdict.outcome.value] += 1
                if policy.ended(verdict.outcome, verdict.reason):
                    raise _Abort(policy.failures)
                nxt = next_attempt(campaign, att, verdict.outcome, self.clock.monotonic_s())
                if nxt is not None:
                    pending.append(nxt)
                    self.planned += 1
                if not any(a.round == att.round for a in list(pending) + list(self.inflight.values())):
                    gate_until_s = self.clock.monotonic_s() + campaign.round_interval_s
                self.progress(_progress_line(self.writer.count, self.planned, att, verdict, self.outcomes,
                                             self.clock.monotonic_s() - self.t0_s))
        if policy.all_failed:
            # every call placed failed, however few (the early stop needs max(5, concurrency))
            self.abort = (f"all {len(policy.failures)} calls placed failed and none got through "
                          f"({_one_line(policy.failures[0])}); the evidence is kept in {self.files.evidence}; "
                          "every planned call was placed, so --resume has nothing left to call: fix the cause, "
                          f"move {self.files.out_dir} away and run again")

    def _submit(self, dialer: Scheduler, att: Attempt) -> None:
        # journalled before it is handed over: a kill between the two leaves a cut-off attempt, never a lost one
        uid = f"{att.chain_id}-a{att.attempt}-{secrets.token_hex(3)}"
        with _writing(self.files.journal):
            assert self.journal is not None
            self.journal.write(att, uid)
        dialer.submit(call_spec(self.campaign, att, uid, self.files.rec_dir))
        self.inflight[uid] = att
        self.placed += 1

    def stop(self, dialer: Scheduler, exc: KeyboardInterrupt | _Abort | _WriteFailed) -> None:
        """Stop on Ctrl-C, an abort or a failed write: hang up, and record the calls in progress as cut off."""
        self.interrupted = True
        hint = self.start.hint
        if isinstance(exc, _Abort):
            self.abort = (f"stopped: the first {len(exc.failures)} calls all failed and none got through "
                          f"({_one_line(exc.failures[0])}); the evidence is kept; fix the cause and "
                          f"continue with  {hint}")
            self.progress("stopping: hanging up the calls in progress (recorded as cut off)")
        elif isinstance(exc, _WriteFailed):
            self.write_failed = exc
        else:
            self.progress(f"interrupted: hanging up; the calls in progress are recorded as cut off "
                          f"(continue with  {hint})")
        dialer.close()
        for record in dialer.collect(0):
            att = self.inflight.pop(record.call_uid, None)
            if att is None or self.write_failed is not None:
                continue  # after a failed write nothing more is written: the journal has these calls
            record.error = CUT_OFF
            verdict, wav, analyzer = self.judged(record)
            self.append(evidence_row(self.campaign, att, record, verdict, self.files_of(record, wav), analyzer,
                                     note="cut off (interrupted)"))
            self.outcomes[verdict.outcome.value] += 1
            self.cut_off += 1

    def failed(self, exc: _WriteFailed) -> None:
        """A file could not be written while opening, resuming, or recording the calls cut off."""
        self.interrupted = True
        self.write_failed = exc

    # -- the end -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the journal and the evidence, then write the manifest (``finished`` or ``interrupted``)."""
        for f in (self.journal, self.writer):
            try:
                if f is not None:
                    f.close()
            except OSError as exc:  # buffered bytes that could not be written: the rows before are intact
                if self.write_failed is None:
                    self.write_failed = _WriteFailed(self.files.evidence if f is self.writer else self.files.journal,
                                                     exc)
                    self.interrupted = True
        try:
            write_manifest(self.files.manifest, self.campaign_file, self.campaign.campaign, self.start.started_at,
                           self.clock.now_utc(), extra={**self.manifest_extra, "interrupted": self.interrupted},
                           evidence=self.writer, state="interrupted" if self.interrupted else "finished")
            self.manifest_written = True
        except OSError as exc:
            if self.write_failed is None:  # the calls are all recorded; a resume writes the manifest
                self.write_failed = _WriteFailed(self.files.manifest, exc)
        except HarnessError as exc:
            if self.write_failed is None:
                self.progress(f"warning: manifest not written: {exc}")

    def result(self) -> RunResult:
        """What the run did; InfraError when a file could not be written or every call failed."""
        evidence, hint, failed = self.files.evidence, self.start.hint, self.write_failed
        if failed is not None:
            if not self.interrupted:
                raise InfraError(f"{failed.path}: {failed.why}: every call is recorded in {evidence}, but the "
                                 f"manifest is not written; {failed.fix}, then run  {hint}  to write it"
                                 ) from failed.cause
            kept = "written as interrupted" if self.manifest_written else "not written"
            raise InfraError(f"{failed.path}: {failed.why}: the run stopped; the rows already in {evidence} are "
                             f"intact, the manifest {kept}; {failed.fix}, then continue with  {hint}"
                             ) from failed.cause
        if self.abort is not None:
            raise InfraError(self.abort)
        # the writer counted the rows it found (chain verified) and the rows it appended
        return RunResult(evidence, self.files.rec_dir, self.files.manifest, rows=self.writer.count,
                         placed=self.placed, outcomes=self.outcomes, cut_off=self.cut_off,
                         interrupted=self.interrupted, host=self.start.host, resume_hint=hint)


def run_campaign(campaign: Campaign, campaign_file: Path, scheduler_factory: Callable[[], Any], *,
                 reports_root: Path = Path("reports"), recordings_root: Path = Path("recordings"),
                 resume: bool = False, progress: ProgressFn = _default_progress,
                 rounds: Iterable[int] | None = None, host: str | None = None,
                 change_host: bool = False, clock: Clock = SYSTEM_CLOCK) -> RunResult:
    """Run (or resume) a campaign to the end; return what was written.

    ``scheduler_factory`` builds the dialer (a context manager with ``free_slots``,
    ``submit`` and ``collect``: a ``Scheduler``). ``host`` (``--host``) re-aims the
    bare-number hotlines. Without ``resume``, existing evidence or journal for the campaign
    is refused (BadInput) rather than mixed with a new run. With it, the journal's header
    must name the same campaign file bytes, and the run dials the host it dialled (a
    different ``host`` is refused unless ``change_host``). Every time the run reads (call
    schedule, journal and manifest times) comes from ``clock``. Raises InfraError when
    every call placed failed, or when a file of the run cannot be written (disk full): the
    rows written are kept, the manifest is written as interrupted if it fits.
    """
    files = RunFiles.of(campaign.campaign, reports_root, recordings_root)
    start = check_start(campaign, campaign_file, files, resume=resume, host=host, change_host=change_host,
                        progress=progress, clock=clock)
    files.out_dir.mkdir(parents=True, exist_ok=True)
    files.rec_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(start, files, campaign_file, resume=resume, clock=clock, progress=progress)  # opens the evidence
    try:
        run.open_journal()
        run.manifest_running()
        pending = run.resume(rounds)
        with scheduler_factory() as dialer:
            try:
                run.place(dialer, pending)
            except (KeyboardInterrupt, _Abort, _WriteFailed) as exc:
                run.stop(dialer, exc)
    except _WriteFailed as exc:  # while opening, resuming, or recording the calls cut off
        run.failed(exc)
    except OSError as exc:  # any other file of the run (e.g. a WAV header repaired on resume)
        run.failed(_WriteFailed(Path(exc.filename) if exc.filename else files.out_dir, exc))
    finally:
        run.close()
    return run.result()


def _one_line(text: str) -> str:
    return " ".join(text.split())


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
