"""The evidence chain as text: its columns, how a row is written and hashed, and how a chain is verified.

Pure: text and dicts in, results out. Reading the CSV, the manifest and the files a row names is
``harness.evidence.store``'s work; a caller that checks those files hands ``verify_rows`` a
``row_problem`` callable, so the first problem in file order is the one reported whatever its kind.

Each row carries ``prev_hash`` (the previous row's ``row_hash``) and its own ``row_hash``::

    canonical = US.join(the row's CSV cells before prev_hash, exactly as written) + US + prev_hash
    row_hash  = sha256(canonical as UTF-8).hexdigest()          US = "\\x1f" (unit separator)

The first row's ``prev_hash`` is the sha256 of the header (the column names joined by US), so the
chain also binds the schema.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

SCHEMA_VERSION = 2
US = "\x1f"
ZERO_HASH = "0" * 64

#: the evidence columns, in order: the one list (the writer, the verifier and the report read it)
COLUMNS: tuple[str, ...] = (
    "schema_version", "campaign", "round", "hotline_id", "target", "attempt", "chain_id", "call_uid",
    "sip_call_id", "started_at", "final_status", "final_reason", "answered", "ring_s", "answer_s",
    "early_media_s", "music_s", "speech_s", "silence_s", "tone_s", "first_speech_s", "disconnect_by",
    "duration_s", "billed_s", "outcome", "recording", "recording_sha256", "recording_duration_s",
    "recording_gap_s", "analyzer",
    # additions (before the chain columns)
    "agent_start_s", "outcome_reason", "recording_repaired",
    # schema 2: every file the call left, hashed (events, SIP log, the analysis beside the recording)
    "events", "events_sha256", "sip_log", "sip_log_sha256", "segments", "segments_sha256",
    "note",
    "prev_hash", "row_hash",
)
DATA_COLUMNS = COLUMNS[:-2]
HEADER_HASH = hashlib.sha256(US.join(COLUMNS).encode("utf-8")).hexdigest()
MANIFEST_STATES = ("running", "interrupted", "finished")

#: why a row's files cannot be trusted (None: they can); given the 1-based row number and the row
RowProblem = Callable[[int, Mapping[str, str]], str | None]


def format_value(value: Any) -> str:
    """One CSV cell: floats with 3 decimals, None/NaN empty, booleans true/false, enums by value."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.3f}"
    text = str(value)
    # one call = one physical line: a partial last line can then be told from a complete one
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def row_hash(cells: Sequence[str], prev_hash: str) -> str:
    """sha256 over the canonical text of a row: its data cells and prev_hash joined by US."""
    return hashlib.sha256((US.join(cells) + US + prev_hash).encode("utf-8")).hexdigest()


def csv_line(cells: Sequence[str]) -> str:
    """One CSV line as the evidence file holds it (minimal quoting, ``\\n`` ended)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def chained_line(row: Mapping[str, Any], prev_hash: str) -> tuple[str, str]:
    """The CSV line of one call's row after ``prev_hash``, and its row_hash.

    Missing columns are empty and schema_version is filled in; a column not in the schema is a
    ValueError.
    """
    unknown = set(row) - set(DATA_COLUMNS)
    if unknown:
        raise ValueError(f"unknown evidence column(s): {', '.join(sorted(unknown))}")
    values = {"schema_version": SCHEMA_VERSION, **row}
    cells = [format_value(values.get(c)) for c in DATA_COLUMNS]
    digest = row_hash(cells, prev_hash)
    return csv_line(cells + [prev_hash, digest]), digest


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a verification; ``first_bad_row`` is a 1-based data row number (None: header/file)."""

    ok: bool
    rows: int  # data rows read (complete lines)
    first_bad_row: int | None
    message: str
    last_row_hash: str = ""  # row_hash of the last good row (HEADER_HASH for an empty file): the head
    state: str | None = None  # the manifest's run state (MANIFEST_STATES); None: no manifest read
    notes: tuple[str, ...] = ()  # what the user must know although the evidence is intact
    signed_by: str | None = None  # fingerprint of the key the manifest's signature verified with


@dataclass(frozen=True)
class ChainVerdict:
    """What verifying a chain found so far; ``result`` turns it into a ``VerifyResult``.

    ``hashes[n]`` is row n's row_hash (``hashes[0]``: the header's), for the good rows only;
    ``checked`` lists what was found intact, for the message.
    """

    source: str  # the file as messages name it
    hashes: tuple[str, ...]
    failure: tuple[int | None, str] | None = None  # (first bad row, message)
    checked: tuple[str, ...] = ()
    state: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        """The good rows."""
        return max(len(self.hashes) - 1, 0)

    @property
    def head(self) -> str:
        """row_hash of the last good row ("" when not even the header was read)."""
        return self.hashes[-1] if self.hashes else ""

    def failed(self, bad_row: int | None, message: str) -> ChainVerdict:
        """This verdict with its first failure."""
        return ChainVerdict(self.source, self.hashes, (bad_row, message), self.checked, self.state, self.notes)

    def result(self, *, signed_by: str | None = None) -> VerifyResult:
        """The ``VerifyResult``: the failure, or the intact message listing what was checked."""
        if self.failure is not None:
            bad, message = self.failure
            return VerifyResult(False, self.rows, bad, message, self.head)
        if not self.checked:
            return VerifyResult(True, self.rows, None, f"{self.source}: {self.rows} rows, chain intact", self.head)
        return VerifyResult(True, self.rows, None,
                            f"{self.source}: intact ({self.rows} rows, {', '.join(self.checked)}); head {self.head}",
                            self.head, self.state, self.notes, signed_by)


def _header_problem(source: str, header: list[str], lines: list[str]) -> str:
    if header[:1] == ["schema_version"] and len(lines) > 1:
        version = next(csv.reader([lines[1]]), [""])[0]
        if version.isdigit() and int(version) != SCHEMA_VERSION:
            return (f"{source}: evidence schema v{version}; this harness reads v{SCHEMA_VERSION} only "
                    "(verify it with the harness version its manifest names under versions.harness)")
    return f"{source}: header is not the evidence schema v{SCHEMA_VERSION} header"


def verify_rows(text: str, source: str, row_problem: RowProblem | None = None) -> ChainVerdict:
    """Check the header, every row's prev_hash and row_hash, and that the last line is complete.

    ``row_problem``, when given, is asked about each row whose hashes hold, in order; its answer
    fails the row. ``source`` names the file in messages.
    """
    lines = text.split("\n")
    partial = lines.pop()  # "" when the text ends with a newline
    if not lines:
        return ChainVerdict(source, ()).failed(None, f"{source}: empty file, no header")
    header = next(csv.reader([lines[0]]), [])
    if tuple(header) != COLUMNS:
        return ChainVerdict(source, ()).failed(None, _header_problem(source, header, lines))
    hashes = [HEADER_HASH]
    for n, line in enumerate(lines[1:], start=1):
        prev = hashes[-1]
        cells = next(csv.reader([line]), [])
        problem: str | None = None
        if len(cells) != len(COLUMNS):
            problem = f"row {n}: {len(cells)} cells, expected {len(COLUMNS)}"
        else:
            row = dict(zip(COLUMNS, cells))
            if row["prev_hash"] != prev:
                problem = (f"row {n}: prev_hash does not follow row {n - 1} "
                           "(a row was removed, inserted or moved here)")
            elif row_hash(cells[:-2], prev) != row["row_hash"]:
                problem = f"row {n}: row_hash does not match its content (the row was edited)"
            elif row_problem is not None:
                found = row_problem(n, row)
                problem = f"row {n}: {found}" if found else None
        if problem:
            return ChainVerdict(source, tuple(hashes)).failed(n, f"{source}: {problem}")
        hashes.append(row["row_hash"])
    verdict = ChainVerdict(source, tuple(hashes))
    if partial:
        return verdict.failed(verdict.rows + 1, f"{source}: row {verdict.rows + 1}: incomplete last line "
                              "(a write was interrupted; opening the file with EvidenceWriter moves it aside)")
    return verdict


def manifest_state(data: Mapping[str, Any]) -> str:
    """A manifest's run state; a manifest from before states were written: interrupted or finished."""
    state = data.get("state")
    if state is None:
        return "interrupted" if data.get("interrupted") else "finished"
    return str(state)


def _manifest_check(source: str, manifest_name: str, data: Mapping[str, Any], hashes: Sequence[str],
                    text_sha256: str) -> tuple[str, str | None, int | None, list[str]]:
    """(state, problem, first bad row, notes): does the chain agree with its manifest?"""
    count = len(hashes) - 1
    state = manifest_state(data)
    if state not in MANIFEST_STATES:
        return state, f"{manifest_name}: state {state!r} is none of {', '.join(MANIFEST_STATES)}", None, []
    ev = data.get("evidence") or {}
    resume = f"harness run {data.get('campaign_file') or 'CAMPAIGN.yaml'} --resume"
    try:
        want_rows, want_head = int(ev["rows"]), str(ev["last_row_hash"])
        want_sha = str(ev["sha256"]) if state != "running" else ""
        if want_rows < 0:
            raise ValueError(want_rows)
    except (KeyError, TypeError, ValueError):
        if state == "running" and not ev:
            return state, None, None, [(f"the run did not finish (manifest state running: killed, or still "
                                        f"going): none of the {count} rows is anchored by the manifest; "
                                        f"finish it with {resume}")]
        return state, (f"{manifest_name}: the manifest of a {state} run has no complete evidence record "
                       "(rows, last_row_hash, sha256)"), None, []
    if want_rows <= count and hashes[want_rows] != want_head:
        return state, (f"{source}: row {want_rows}: row_hash differs from the manifest's last_row_hash "
                       "(the chain was rewritten)"), want_rows or None, []
    if count < want_rows:
        return state, (f"{source}: {count} rows, the manifest counted {want_rows} "
                       "(rows were removed at the end)"), None, []
    if state == "running":
        return state, None, None, [
            (f"the run did not finish (manifest state running: killed, or still going): the manifest "
             f"anchors rows 1-{want_rows}; the {count - want_rows} row(s) after them are not anchored; "
             f"finish it with {resume}")]
    if count > want_rows:
        return state, (f"{source}: {count} rows, the manifest of the {state} run counted {want_rows}: "
                       f"rows {want_rows + 1}-{count} were added after it was written"), want_rows + 1, []
    if text_sha256 != want_sha:
        return state, (f"{source}: sha256 {text_sha256[:12]}… differs from the manifest's {want_sha[:12]}… "
                       "(the file's bytes changed although every row still chains)"), None, []
    notes = [f"the run did not finish (interrupted); continue it with {resume}"] if state == "interrupted" else []
    return state, None, None, notes


def _head_problem(source: str, head: str, hashes: Sequence[str]) -> tuple[str | None, int | None]:
    want = head.strip().lower()
    if len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
        return f"--head {head!r}: not a head hash (64 hex digits, as harness run printed it)", None
    if hashes[-1] == want:
        return None, None
    if want in hashes:
        k = list(hashes).index(want)
        return (f"{source}: the published head is row {k}'s row_hash, but {len(hashes) - 1 - k} row(s) "
                f"follow it (added after the head was published)"), k + 1
    return (f"{source}: the published head {want[:12]}… is no row's row_hash (the chain was rewritten, "
            "or it is another run's head)"), None


def verify_anchors(verdict: ChainVerdict, text: str, manifest: Mapping[str, Any] | None, *,
                   manifest_name: str = "manifest.json", head: str | None = None,
                   require_manifest: bool = True, files_checked: bool = False) -> ChainVerdict:
    """Hold an intact chain (``verify_rows``'s verdict on ``text``) to its manifest and published head.

    ``manifest`` is the manifest's data (None: there is none). A ``finished`` or ``interrupted``
    run's manifest must agree exactly: row count, head hash and the text's sha256 (of its UTF-8
    bytes). A ``running`` one anchors the rows that were there when the run (re)started; the notes
    say the rest is unanchored. ``head`` must be the last row's row_hash. ``files_checked`` says the
    rows' files were checked, for the message.
    """
    if verdict.failure is not None:
        return verdict
    checked = ["chain intact"] + (["recordings and sidecars match"] if files_checked else [])
    state: str | None = None
    notes: list[str] = []
    if manifest is None:
        if require_manifest:
            return verdict.failed(None, f"{manifest_name}: no manifest (every run writes one when it starts and "
                                  "when it ends; without it rows added or removed at the end go unseen): "
                                  "deleted? give the right one with --manifest FILE")
    else:
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        state, problem, bad, more = _manifest_check(verdict.source, manifest_name, manifest, verdict.hashes, sha)
        if problem:
            return verdict.failed(bad, problem)
        notes += more
        checked.append(f"manifest agrees ({state})" if state != "running"
                       else "manifest agrees with the rows it anchors (running)")
    if head is not None:
        problem, bad = _head_problem(verdict.source, head, verdict.hashes)
        if problem:
            return verdict.failed(bad, problem)
        checked.append("head matches --head")
    return ChainVerdict(verdict.source, verdict.hashes, None, tuple(checked), state, tuple(notes))


def with_signature(verdict: ChainVerdict, problem: str | None, signed_by: str | None, notes: Sequence[str],
                   pinned: bool) -> ChainVerdict:
    """An anchored verdict with the manifest signature's check (``harness.signing.check_signature``)."""
    if verdict.failure is not None:
        return verdict
    if problem:
        return verdict.failed(None, problem)
    checked = verdict.checked
    if signed_by:
        whose = "pinned" if pinned else "the one beside the evidence"
        checked += (f"manifest signature good (key {signed_by}, {whose})",)
    return ChainVerdict(verdict.source, verdict.hashes, None, checked, verdict.state,
                        verdict.notes + tuple(notes))


def verify_text(text: str, source: str = "evidence.csv", manifest: Mapping[str, Any] | None = None, *,
                manifest_name: str = "manifest.json", head: str | None = None,
                require_manifest: bool = True) -> VerifyResult:
    """Verify a chain held in memory against its manifest's data: every check but the files and signature."""
    verdict = verify_rows(text, source)
    return verify_anchors(verdict, text, manifest, manifest_name=manifest_name, head=head,
                          require_manifest=require_manifest).result()
