"""``harness run CAMPAIGN.yaml``: place a survey's calls, judge each, write the evidence.

The plan is pure (``initial_attempts``, ``next_attempt``); the loop (``run_campaign``)
is the I/O edge: it asks a ``Dialer``-like scheduler (the worker pool) to place calls
within the campaign's politeness limits, analyses each recording, classifies the
call and appends one evidence row as soon as the call has ended (flushed, fsynced).

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
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.analysis import DEFAULT as ANALYSIS_DEFAULT
from harness.analysis import analyze_file, analyzer_id
from harness.campaign.classify import Classification, Outcome, classify
from harness.campaign.config import Campaign
from harness.clock import now_utc, utc_iso
from harness.digest import sha256_file
from harness.errors import BadInput, HarnessError, InfraError
from harness.evidence import EvidenceWriter, read_evidence, write_manifest
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


def resume_host(recorded: str | None, given: str | None, change_host: bool,
                default_host: str | None) -> tuple[str | None, str | None]:
    """The host a resumed run dials, and the host it changes from (None: no change).

    Without ``--host`` the run goes on dialling what it dialled (``recorded``; None: the
    campaign's own targets). A different ``--host`` would leave rows for two hosts in one
    evidence file: refused (BadInput) unless ``change_host``.
    """
    if given is None:
        return recorded, None
    before = recorded or default_host
    if given == before:
        return given, None
    if not change_host:
        was = f"--host {recorded}" if recorded else f"the campaign's default_host {default_host}"
        raise BadInput(f"--host {given} differs from the host this run dialled ({was}): resume without "
                       f"--host to go on with it, or add --change-host to dial {given} from now on "
                       "(the journal and the manifest record the change)")
    return given, before


class Journal:
    """``attempts.jsonl``: a header line, then one fsynced line per call handed to the dialer.

    Each line goes out in one ``os.write`` and is fsynced; a write that fails (disk full) is
    cut back off the file, so the journal never holds half a line of its own making. A line
    cut by a kill is ended with a newline when the journal is opened again, so that the next
    line is not glued to it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
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
                     "attempt": attempt.attempt, "at": utc_iso(time.time())})

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


def run_campaign(campaign: Campaign, campaign_file: Path, scheduler_factory: Callable[[], Any], *,
                 reports_root: Path = Path("reports"), recordings_root: Path = Path("recordings"),
                 resume: bool = False, progress: ProgressFn = _default_progress,
                 rounds: Iterable[int] | None = None, host: str | None = None,
                 change_host: bool = False) -> RunResult:
    """Run (or resume) a campaign to the end; return what was written.

    ``scheduler_factory`` builds the dialer (a context manager with ``free_slots``,
    ``submit`` and ``collect``). ``host`` (``--host``) re-aims the bare-number hotlines.
    Without ``resume``, existing evidence or journal for the campaign is refused
    (BadInput) rather than mixed with a new run. With it, the journal's header must name
    the same campaign file bytes, and the run dials the host it dialled (a different
    ``host`` is refused unless ``change_host``). Raises InfraError when every call placed
    failed, or when a file of the run cannot be written (disk full): the rows written
    are kept, the manifest is written as interrupted if it fits.
    """
    out_dir = reports_root / campaign.campaign
    rec_dir = recordings_root / campaign.campaign
    evidence = out_dir / "evidence.csv"
    journal_path = out_dir / "attempts.jsonl"
    manifest = out_dir / "manifest.json"
    if change_host and not resume:
        raise BadInput("--change-host applies to --resume only (a new run dials whatever --host says)")
    earlier = [p for p in (evidence, journal_path) if p.exists() and p.stat().st_size > 0]
    if earlier and not resume:
        raise BadInput(f"{earlier[0]} exists: use --resume to continue that run, or move {out_dir} away")
    campaign_sha256 = sha256_file(campaign_file) if campaign_file.exists() else ""
    started_at = now_utc()
    contents = Journal.read(journal_path) if resume else JournalContents(None, [], [])
    has_rows = evidence.exists() and evidence.read_bytes().count(b"\n") > 1  # a line after the header
    changed_from: str | None = None
    continuing = contents.header is not None
    if resume and not continuing and (contents.attempts or has_rows):
        raise BadInput(f"{journal_path} has no run header (an older harness wrote it, or it was removed), so "
                       f"the campaign file and --host of that run cannot be checked: move {out_dir} away and "
                       "start the run again")
    if continuing:
        assert contents.header is not None
        if contents.header.get("campaign_file_sha256") != campaign_sha256:
            raise BadInput(f"{campaign_file} changed since this run started (its sha256 differs from the one "
                           f"recorded in {journal_path}): resume with the file as it was, or move {out_dir} away "
                           "and start a new run")
        started_at = contents.header.get("started_at") or started_at
        host, changed_from = resume_host(contents.host, host, change_host, campaign.default_host)
        if host and changed_from is None:
            progress(f"resume: dialling {host} as this run did (--host {host})")
        elif host:
            progress(f"resume: --change-host: dialling {host} from now on (this run dialled {changed_from} "
                     "until now)")
    if host:
        campaign = campaign.with_host(host)
    hint = resume_hint(campaign_file, host, reports_root, recordings_root)
    out_dir.mkdir(parents=True, exist_ok=True)
    rec_dir.mkdir(parents=True, exist_ok=True)

    writer: EvidenceWriter
    journal: Journal | None = None
    outcomes: Counter[str] = Counter()
    cut_off = placed = 0
    interrupted = False
    abort: str | None = None  # why the run stopped itself (every call failing: our side is broken)
    write_failed: _WriteFailed | None = None  # a file could not be written (disk full): stop, keep what is
    failures: list[str] = []
    any_ok = False
    t0 = time.monotonic()
    # the recordings folder as seen from the manifest: verify keeps every file inside it
    manifest_extra = {"recordings": os.path.relpath(rec_dir, out_dir), "resumed": resume,
                      "sip_host": host, "sip_host_changed_from": changed_from}

    def append(row: dict[str, Any]) -> None:
        with _writing(evidence):
            writer.append(row)

    def judged(record: CallRecord) -> tuple[Classification, Path | None, str]:
        with _writing(rec_dir / (record.recording or "")):
            return judge(campaign, record, rec_dir)

    try:
        # outside the try below: evidence the writer refuses (a broken chain) gets no new manifest
        with _writing(evidence):
            writer = EvidenceWriter(evidence)
    except _WriteFailed as exc:
        raise InfraError(f"{exc.path}: {exc.why}: nothing was called; {exc.fix}, then run  {hint}") from exc.cause
    try:
        with _writing(journal_path):
            journal = Journal(journal_path)
            if continuing:
                journal.record({"type": JOURNAL_RESUME, "at": now_utc(), "host": host,
                                "host_changed_from": changed_from})
            else:
                journal.record(run_header(campaign, campaign_file, campaign_sha256, host, started_at))
        # a run killed from here on leaves a manifest that says so ("running"): verify can then tell
        # it from a finished run whose manifest was deleted
        with _writing(manifest):
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
        for entry in contents.attempts:
            if entry["call_uid"] in done_uids:
                continue
            att = Attempt(entry["round"], entry["hotline_id"], entry["target"], entry["chain_id"],
                          entry["attempt"])
            record = recovered_record(entry["call_uid"], att.target, rec_dir, CUT_OFF)
            verdict, wav, analyzer = judged(record)
            append(evidence_row(campaign, att, record, verdict, wav, out_dir, analyzer,
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
                        with _writing(journal_path):
                            journal.write(att, uid)
                        dialer.submit(call_spec(campaign, att, uid, rec_dir))
                        limiter.started(att.hotline_id, now)
                        inflight[uid] = att
                        pending.remove(att)
                        placed += 1
                    for record in dialer.collect(0.1):
                        att = inflight.pop(record.call_uid)
                        limiter.ended(att.hotline_id)
                        verdict, wav, analyzer = judged(record)
                        append(evidence_row(campaign, att, record, verdict, wav, out_dir, analyzer, note=None, rec_dir=rec_dir))
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
                if failures and not any_ok:
                    # every call placed failed, however few (the early stop needs max(5, concurrency))
                    abort = (f"all {len(failures)} calls placed failed and none got through "
                             f"({_one_line(failures[0])}); the evidence is kept in {evidence}; every planned call "
                             f"was placed, so --resume has nothing left to call: fix the cause, move {out_dir} "
                             "away and run again")
            except (KeyboardInterrupt, _Abort, _WriteFailed) as exc:
                interrupted = True
                if isinstance(exc, _Abort):
                    abort = (f"stopped: the first {len(exc.failures)} calls all failed and none got through "
                             f"({_one_line(exc.failures[0])}); the evidence is kept; fix the cause and "
                             f"continue with  {hint}")
                    progress("stopping: hanging up the calls in progress (recorded as cut off)")
                elif isinstance(exc, _WriteFailed):
                    write_failed = exc
                else:
                    progress(f"interrupted: hanging up; the calls in progress are recorded as cut off "
                             f"(continue with  {hint})")
                dialer.close()
                for record in dialer.collect(0):
                    att = inflight.pop(record.call_uid, None)
                    if att is None or write_failed is not None:
                        continue  # after a failed write nothing more is written: the journal has these calls
                    record.error = CUT_OFF
                    verdict, wav, analyzer = judged(record)
                    append(evidence_row(campaign, att, record, verdict, wav, out_dir, analyzer,
                                        note="cut off (interrupted)", rec_dir=rec_dir))
                    outcomes[verdict.outcome.value] += 1
                    cut_off += 1
    except _WriteFailed as exc:  # while opening, resuming, or recording the calls cut off
        interrupted = True
        write_failed = exc
    except OSError as exc:  # any other file of the run (e.g. a WAV header repaired on resume)
        interrupted = True
        write_failed = _WriteFailed(Path(exc.filename) if exc.filename else out_dir, exc)
    finally:
        for f in (journal, writer):
            try:
                if f is not None:
                    f.close()
            except OSError as exc:  # buffered bytes that could not be written: the rows before are intact
                if write_failed is None:
                    write_failed = _WriteFailed(evidence if f is writer else journal_path, exc)
                    interrupted = True
        manifest_written = False
        try:
            write_manifest(manifest, campaign_file, campaign.campaign, started_at, now_utc(),
                           extra={**manifest_extra, "interrupted": interrupted}, evidence=evidence,
                           state="interrupted" if interrupted else "finished")
            manifest_written = True
        except OSError as exc:
            if write_failed is None:  # the calls are all recorded; a resume writes the manifest
                write_failed = _WriteFailed(manifest, exc)
        except HarnessError as exc:
            if write_failed is None:
                progress(f"warning: manifest not written: {exc}")
    if write_failed is not None:
        if not interrupted:
            raise InfraError(f"{write_failed.path}: {write_failed.why}: every call is recorded in {evidence}, "
                             f"but the manifest is not written; {write_failed.fix}, then run  {hint}  to write it"
                             ) from write_failed.cause
        kept = "written as interrupted" if manifest_written else "not written"
        raise InfraError(f"{write_failed.path}: {write_failed.why}: the run stopped; the rows already in "
                         f"{evidence} are intact, the manifest {kept}; {write_failed.fix}, then continue with  "
                         f"{hint}"
                         ) from write_failed.cause
    if abort is not None:
        raise InfraError(abort)
    return RunResult(evidence, rec_dir, manifest, rows=len(read_evidence(evidence)), placed=placed,
                     outcomes=outcomes, cut_off=cut_off, interrupted=interrupted, host=host, resume_hint=hint)


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
