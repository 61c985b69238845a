"""The tamper-evident evidence CSV (``reports/<campaign>/evidence.csv``) and the run manifest.

One row per call attempt, appended and fsynced as each call is classified. Each row
carries ``prev_hash`` (the previous row's ``row_hash``) and its own ``row_hash``::

    canonical = US.join(the row's CSV cells before prev_hash, exactly as written) + US + prev_hash
    row_hash  = sha256(canonical as UTF-8).hexdigest()          US = "\\x1f" (unit separator)

The first row's ``prev_hash`` is the sha256 of the header (the column names joined by US),
so the chain also binds the schema. Editing, removing, reordering or inserting a row breaks
the chain at that row. Removing rows at the end is only visible against the manifest,
which records the number of rows and the last ``row_hash`` (``write_manifest(evidence=...)``).
Details and how to verify by hand: docs/EVIDENCE.md.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import math
import os
import platform
import socket
import sys
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Mapping

from harness.errors import BadInput

SCHEMA_VERSION = 1
US = "\x1f"
ZERO_HASH = "0" * 64

COLUMNS: tuple[str, ...] = (
    "schema_version", "campaign", "round", "hotline_id", "target", "attempt", "chain_id", "call_uid",
    "sip_call_id", "started_at", "final_status", "final_reason", "answered", "ring_s", "answer_s",
    "early_media_s", "music_s", "speech_s", "silence_s", "tone_s", "first_speech_s", "disconnect_by",
    "duration_s", "billed_s", "outcome", "recording", "recording_sha256", "recording_duration_s",
    "recording_gap_s", "analyzer",
    # additions (before the chain columns)
    "agent_start_s", "outcome_reason", "recording_repaired", "events", "sip_log", "note",
    "prev_hash", "row_hash",
)
DATA_COLUMNS = COLUMNS[:-2]
HEADER_HASH = hashlib.sha256(US.join(COLUMNS).encode("utf-8")).hexdigest()


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


def row_hash(cells: list[str] | tuple[str, ...], prev_hash: str) -> str:
    """sha256 over the canonical text of a row: its data cells and prev_hash joined by US."""
    return hashlib.sha256((US.join(cells) + US + prev_hash).encode("utf-8")).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _csv_line(cells: list[str] | tuple[str, ...]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of ``verify_evidence``; ``first_bad_row`` is a 1-based data row number (None: header/file)."""

    ok: bool
    rows: int  # data rows read (complete lines)
    first_bad_row: int | None
    message: str
    last_row_hash: str = ""  # row_hash of the last good row (HEADER_HASH for an empty file)


def _fail(rows: int, bad: int | None, message: str, last: str) -> VerifyResult:
    return VerifyResult(False, rows, bad, message, last)


def _recording_problem(csv_dir: Path, rec: str, digest: str) -> str | None:
    path = Path(rec)
    if not path.is_absolute():
        path = csv_dir / path
    if not digest:
        return f"recording {rec} has no recording_sha256"
    if not path.is_file():
        return f"recording {rec} is missing ({path})"
    actual = sha256_file(path)
    if actual != digest:
        return (f"recording {rec} does not match recording_sha256 "
                f"(file now {actual[:12]}…, row {digest[:12]}…)")
    return None


def verify_evidence(path: Path, check_recordings: bool = True, manifest: Path | None = None) -> VerifyResult:
    """Check the header, every row's chain and hash, and (optionally) each recording's sha256.

    ``manifest`` (default: ``manifest.json`` beside the CSV, when it exists and names this
    file) adds the tail check: the row the manifest counted must carry its last_row_hash.
    Rows appended after the manifest was written (a resumed run) are accepted.
    """
    return _verify(path, check_recordings, tail=True, manifest=manifest)


def _verify(path: Path, check_recordings: bool, tail: bool, manifest: Path | None = None) -> VerifyResult:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _fail(0, None, f"{path}: no such file", "")
    except OSError as exc:
        return _fail(0, None, f"{path}: cannot read: {exc}", "")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _fail(0, None, f"{path}: not UTF-8 text: {exc}", "")
    lines = text.split("\n")
    partial = lines.pop()  # "" when the file ends with a newline
    if not lines:
        return _fail(0, None, f"{path}: empty file, no header", "")
    header = next(csv.reader([lines[0]]), [])
    if tuple(header) != COLUMNS:
        return _fail(0, None, f"{path}: header is not the evidence schema v{SCHEMA_VERSION} header", "")
    prev = HEADER_HASH
    count = 0
    for n, line in enumerate(lines[1:], start=1):
        cells = next(csv.reader([line]), [])
        if len(cells) != len(COLUMNS):
            return _fail(count, n, f"{path}: row {n}: {len(cells)} cells, expected {len(COLUMNS)}", prev)
        row = dict(zip(COLUMNS, cells))
        if row["prev_hash"] != prev:
            return _fail(count, n, f"{path}: row {n}: prev_hash does not follow row {n - 1} "
                         "(a row was removed, inserted or moved here)", prev)
        if row_hash(cells[:-2], prev) != row["row_hash"]:
            return _fail(count, n, f"{path}: row {n}: row_hash does not match its content "
                         "(the row was edited)", prev)
        if check_recordings and row["recording"]:
            problem = _recording_problem(path.parent, row["recording"], row["recording_sha256"])
            if problem:
                return _fail(count, n, f"{path}: row {n}: {problem}", prev)
        prev = row["row_hash"]
        count += 1
    if partial:
        return _fail(count, count + 1, f"{path}: row {count + 1}: incomplete last line "
                     "(a write was interrupted; opening the file with EvidenceWriter moves it aside)", prev)
    expected = _manifest_tail(path, manifest) if tail else None
    if expected is not None:
        want_rows, want_hash = expected
        if count < want_rows:
            return _fail(count, None, f"{path}: {count} rows, the manifest counted {want_rows} "
                         "(rows were removed at the end)", prev)
        got = _hash_of_row(lines, want_rows)
        if got != want_hash:
            return _fail(count, want_rows or None,
                         f"{path}: row {want_rows}: row_hash differs from the manifest's last_row_hash", prev)
    return VerifyResult(True, count, None, f"{path}: {count} rows, chain intact", prev)


def _hash_of_row(lines: list[str], n: int) -> str:
    if n == 0:
        return HEADER_HASH
    return dict(zip(COLUMNS, next(csv.reader([lines[n]]))))["row_hash"]


def _manifest_tail(path: Path, manifest: Path | None) -> tuple[int, str] | None:
    explicit = manifest is not None
    mpath = manifest if manifest is not None else path.parent / "manifest.json"
    if not mpath.is_file():
        if explicit:
            raise BadInput(f"{mpath}: no such file")
        return None
    try:
        ev = json.loads(mpath.read_text(encoding="utf-8")).get("evidence") or {}
    except (OSError, ValueError, AttributeError) as exc:
        raise BadInput(f"{mpath}: not a manifest: {exc}") from exc
    if not explicit and ev.get("file") != path.name:
        return None
    if "rows" not in ev or "last_row_hash" not in ev:
        return None
    return int(ev["rows"]), str(ev["last_row_hash"])


class EvidenceWriter:
    """Append rows to an evidence CSV, continuing the hash chain of an existing file.

    Opening an existing file verifies its chain (recordings are not re-hashed) and
    refuses (BadInput) a broken one. An incomplete last line (a kill during a write) is
    moved to ``<file>.partial`` (appended, never lost) and cut from the CSV, so the chain
    continues from the last complete row; ``recovered_fragment`` holds what was moved.
    One writer at a time: the file is locked (BadInput if another process holds it).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.recovered_fragment: str | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = path.open("a+", encoding="utf-8", newline="")
        try:
            fcntl.flock(self._f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._f.close()
            raise BadInput(f"{path}: another process is writing this evidence file") from exc
        try:
            self._open_chain()
        except BaseException:
            self._f.close()
            raise

    def _open_chain(self) -> None:
        raw = self.path.read_bytes()
        if not raw:
            self._write(_csv_line(COLUMNS))
            self.last_hash, self.count = HEADER_HASH, 0
            return
        if not raw.endswith(b"\n"):
            keep = raw.rfind(b"\n") + 1
            fragment = raw[keep:]
            with open(f"{self.path}.partial", "ab") as side:
                side.write(fragment + b"\n")
                side.flush()
                os.fsync(side.fileno())
            os.truncate(self.path, keep)
            self.recovered_fragment = fragment.decode("utf-8", errors="replace")
        result = _verify(self.path, check_recordings=False, tail=False)
        if not result.ok:
            raise BadInput(f"{result.message}; refusing to append to a broken evidence chain")
        self.last_hash, self.count = result.last_row_hash, result.rows

    def _write(self, line: str) -> None:
        # One os.write past any buffer, then fsync. A write that fails (disk full) is cut back off,
        # so the file keeps only complete rows and nothing is left buffered to land later.
        fd = self._f.fileno()
        end = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(line.encode("utf-8"))
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, end)
            except OSError:
                pass  # a fragment left here is moved to <file>.partial when the file is next opened
            raise

    def append(self, row: Mapping[str, Any]) -> str:
        """Write one call's row (missing columns empty; schema_version filled in); return its row_hash."""
        unknown = set(row) - set(DATA_COLUMNS)
        if unknown:
            raise ValueError(f"unknown evidence column(s): {', '.join(sorted(unknown))}")
        values = {"schema_version": SCHEMA_VERSION, **row}
        cells = [format_value(values.get(c)) for c in DATA_COLUMNS]
        digest = row_hash(cells, self.last_hash)
        self._write(_csv_line(cells + [self.last_hash, digest]))
        self.last_hash, self.count = digest, self.count + 1
        return digest

    def rows(self) -> list[dict[str, str]]:
        """Every data row as written (strings)."""
        with self.path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    def close(self) -> None:
        """Release the lock and close the file."""
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> "EvidenceWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_evidence(path: Path) -> list[dict[str, str]]:
    """The data rows of an evidence CSV, as strings (no verification: use verify_evidence)."""
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def write_manifest(path: Path, campaign_file: Path, campaign_name: str, started_at: datetime | str | None,
                   ended_at: datetime | str | None, extra: Mapping[str, Any] | None = None,
                   evidence: Path | None = None) -> dict[str, Any]:
    """Write ``manifest.json`` (atomically) describing a run; return what was written.

    Records the campaign file's sha256, the software versions, the host and the run's
    start and end; with ``evidence``, also that CSV's sha256, row count and last row_hash
    (which lets ``verify_evidence`` see rows removed at the end).
    """
    from harness import __version__

    data: dict[str, Any] = {
        "campaign": campaign_name,
        "campaign_file": str(campaign_file),
        "campaign_file_sha256": sha256_file(campaign_file),
        "started_at": _iso(started_at),
        "ended_at": _iso(ended_at),
        "host": socket.gethostname(),
        "versions": {
            "harness": __version__,
            "python": platform.python_version(),
            "python_implementation": sys.implementation.name,
            "pjsua2": _version("pjsua2-python"),
            "numpy": _version("numpy"),
            "pandas": _version("pandas"),
            "webrtcvad": _version("webrtcvad-wheels", "webrtcvad"),
        },
        "evidence_schema_version": SCHEMA_VERSION,
    }
    if evidence is not None:
        result = _verify(evidence, check_recordings=False, tail=False)
        data["evidence"] = {
            "file": evidence.name if evidence.parent.resolve() == path.parent.resolve() else str(evidence),
            "sha256": sha256_file(evidence),
            "rows": result.rows,
            "last_row_hash": result.last_row_hash,
            "chain_ok": result.ok,
        }
    data.update(extra or {})
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a disk-full write leaves no manifest.json.tmp behind
        raise
    return data
