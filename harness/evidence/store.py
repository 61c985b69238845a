"""The evidence files: the CSV (``reports/<campaign>/evidence.csv``), its run manifest, and the files rows name.

One row per call attempt, appended and fsynced as each call is classified; the row format, the hash
chain and its verification as text are ``harness.evidence.chain``'s. Every file a call left
(recording, events, SIP log, segments) is hashed into its row, named after the call and kept in the
campaign's recordings folder. Editing, removing, reordering or inserting a row breaks the chain at
that row. Rows removed or added at the end are only visible against the manifest, which records the
state of the run, the number of rows, the last ``row_hash`` (the head) and the CSV's sha256
(``write_manifest(evidence=...)``); a chain rewritten whole with its manifest only against an anchor
kept elsewhere: the published head hash or the manifest's Ed25519 signature (``harness.signing``).
Details and how to verify by hand: docs/EVIDENCE.md.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import os
import platform
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Self

from harness.digest import sha256_file
from harness.errors import BadInput
from harness.evidence.chain import (
    COLUMNS,
    HEADER_HASH,
    MANIFEST_STATES,
    SCHEMA_VERSION,
    VerifyResult,
    chained_line,
    csv_line,
    verify_anchors,
    verify_rows,
    with_signature,
)

#: the files of a call a row names: (path column, sha256 column, the names the file may have, after
#: the call_uid). Binding the name to the row's call_uid is what makes another call's file show.
SIDECARS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("recording", "recording_sha256", (".wav",)),
    ("events", "events_sha256", (".events.json", ".events.partial.json")),
    ("sip_log", "sip_log_sha256", (".sip.log",)),
    ("segments", "segments_sha256", (".wav.segments.json",)),
)
#: seconds a WAV's length may differ from its analysis's duration_s (written with 3 decimals)
DURATION_TOLERANCE_S = 0.0015


def default_recordings_folder(evidence: Path) -> Path:
    """Where ``harness run`` puts the recordings of the campaign whose evidence is ``evidence``.

    ``reports/<campaign>/evidence.csv`` -> ``recordings/<campaign>/`` beside ``reports/``: the
    layout of ``harness run`` with its default (or sibling) ``--reports`` and ``--recordings``.
    Used when no manifest names the folder (``verify_evidence(require_manifest=False)``).
    """
    return evidence.parent.parent.parent / "recordings" / evidence.parent.name


def _resolve(csv_dir: Path, cell: str) -> tuple[Path, Path]:
    """The path a cell names (relative to the CSV's folder, or absolute), and where it really is."""
    path = Path(cell)
    if not path.is_absolute():
        path = csv_dir / path
    return path, path.resolve()  # resolve: follows symlinks and `..`


def _files_problem(csv_dir: Path, folder: Path, row: Mapping[str, str]) -> str | None:
    """Why the files a row names cannot be trusted, or None: each one inside ``folder``, named
    after the row's call, with the sha256 the row recorded, and bound to the call by content."""
    uid = row["call_uid"]
    real_folder = folder.resolve()
    real: dict[str, Path] = {}
    for col, hash_col, suffixes in SIDECARS:
        cell, digest = row[col], row[hash_col]
        if not cell:
            if digest:
                return f"{hash_col} is set but {col} is empty"
            continue
        if not digest:
            return f"{col} {cell} has no {hash_col}"
        path, where = _resolve(csv_dir, cell)
        if where.parent != real_folder:
            return (f"{col} {cell} is outside the campaign's recordings folder {folder} "
                    f"(it resolves to {where})")
        if where.name not in {uid + s for s in suffixes}:
            # a file inside the folder but of another call: a swapped or copied recording
            return f"{col} {cell} is not named after this row's call ({uid}{suffixes[0]}): another call's file"
        if not where.is_file():
            return f"{col} {cell} is missing ({path})"
        actual = sha256_file(where)
        if actual != digest:
            return (f"{col} {cell} does not match {hash_col} "
                    f"(file now {actual[:12]}…, row {digest[:12]}…)")
        real[col] = where
    return _content_problem(row, real)


def _content_problem(row: Mapping[str, str], real: Mapping[str, Path]) -> str | None:
    """The files' own content must name the row's call: the timeline its call_uid and Call-ID,
    the analysis its recording and analyzer, and the WAV must be as long as its analysis says."""
    uid = row["call_uid"]
    if "events" in real:
        data = _json_object(real["events"])
        if data is None:
            return f"events {row['events']} is not a JSON object"
        if data.get("call_uid") != uid:
            return f"events {row['events']} are the timeline of call {data.get('call_uid')!r}, not of {uid}"
        if (data.get("sip_call_id") or "") != row["sip_call_id"]:
            return (f"events {row['events']} have Call-ID {data.get('sip_call_id')!r}, "
                    f"the row {row['sip_call_id']!r}")
    if "segments" in real:
        data = _json_object(real["segments"])
        if data is None:
            return f"segments {row['segments']} is not a JSON object"
        if Path(str(data.get("file", ""))).name != f"{uid}.wav":
            return f"segments {row['segments']} are the analysis of {data.get('file')!r}, not of {uid}.wav"
        if row["analyzer"] and data.get("analyzer") != row["analyzer"]:
            return (f"segments {row['segments']} were made by {data.get('analyzer')!r}, "
                    f"the row names {row['analyzer']!r}")
        if "recording" in real and isinstance(data.get("duration_s"), (int, float)):
            # the analysis ran on the recording just before it was hashed: another call's WAV under
            # this call's name is as long as that other call, not as this one's analysis
            length_s = _declared_duration_s(real["recording"])
            if length_s is None:
                return f"recording {row['recording']} is not a readable WAV"
            if abs(length_s - float(data["duration_s"])) > DURATION_TOLERANCE_S:
                return (f"recording {row['recording']} lasts {length_s:.3f} s, its analysis "
                        f"{row['segments']} {float(data['duration_s']):.3f} s: the analysis is not of this "
                        "file (another call's recording, or one that changed after it was analysed)")
    return None


def _declared_duration_s(path: Path) -> float | None:
    """The WAV's length as the analysis reads it (libsndfile: the frames its header declares)."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    return info.frames / info.samplerate if info.samplerate else None


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def verify_evidence(path: Path, check_recordings: bool = True, manifest: Path | None = None, *,
                    recordings: Path | None = None, head: str | None = None, public_key: Path | None = None,
                    require_manifest: bool = True) -> VerifyResult:
    """Check an evidence CSV: header, every row's chain and hash, its files, the manifest, the anchors.

    - ``check_recordings``: every file a row names (recording, events, SIP log, segments) must lie in
      the campaign's recordings folder (``recordings``, else the manifest's ``recordings``, else
      ``default_recordings_folder``), be named after the row's call, match its sha256 and name the
      call in its content.
    - ``manifest`` (default ``manifest.json`` beside the CSV) must exist unless ``require_manifest``
      is False. A ``finished`` or ``interrupted`` run's manifest must agree exactly: row count, head
      hash and the CSV's sha256. A ``running`` one (a killed run, or one still going) anchors the rows
      that were there when the run (re)started; the result's ``notes`` say the rest is unanchored.
    - ``head``: a head hash published at the end of the run; the last row's row_hash must be it.
    - ``public_key``: a pinned Ed25519 public key (PEM); the manifest must then carry a signature
      (``manifest.json.sig``) made with it. Without it a signature present is checked against the
      key beside the evidence (``manifest.json.pub``).
    """
    return _verify(path, check_recordings, tail=True, manifest=manifest, recordings=recordings, head=head,
                   public_key=public_key, require_manifest=require_manifest)


def _verify(path: Path, check_recordings: bool, tail: bool, manifest: Path | None = None, *,
            recordings: Path | None = None, head: str | None = None, public_key: Path | None = None,
            require_manifest: bool = True) -> VerifyResult:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return VerifyResult(False, 0, None, f"{path}: no such file")
    except OSError as exc:
        return VerifyResult(False, 0, None, f"{path}: cannot read: {exc}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return VerifyResult(False, 0, None, f"{path}: not UTF-8 text: {exc}")
    mpath = manifest if manifest is not None else path.parent / "manifest.json"
    mdata, mproblem = _load_manifest(path, mpath) if tail else (None, None)
    folder = recordings if recordings is not None else _manifest_recordings(path, mpath, mdata)

    def files(_n: int, row: Mapping[str, str]) -> str | None:
        return _files_problem(path.parent, folder, row)

    verdict = verify_rows(text, str(path), files if check_recordings else None)
    if verdict.failure is not None or not tail:
        return verdict.result()
    if mproblem:
        return verdict.failed(None, mproblem).result()
    verdict = verify_anchors(verdict, text, mdata, manifest_name=str(mpath), head=head,
                             require_manifest=require_manifest, files_checked=check_recordings)
    signed_by: str | None = None
    if verdict.failure is None and (mdata is not None or public_key is not None):
        from harness.signing import check_signature

        problem, signed_by, notes = check_signature(mpath, public_key, finished=verdict.state != "running")
        verdict = with_signature(verdict, problem, signed_by, notes, pinned=public_key is not None)
    return verdict.result(signed_by=signed_by)


def _load_manifest(path: Path, mpath: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The manifest as a dict (None when there is no file) or why it cannot be used."""
    try:
        text = mpath.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{mpath}: cannot read: {exc}"
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"{mpath}: not a manifest (not JSON: {exc})"
    if not isinstance(data, dict):
        return None, f"{mpath}: not a manifest (not a JSON object)"
    ev = data.get("evidence")
    if ev is not None and (not isinstance(ev, dict) or Path(str(ev.get("file", ""))).name != path.name):
        return None, f"{mpath}: describes {ev.get('file') if isinstance(ev, dict) else ev!r}, not {path.name}"
    return data, None


def _manifest_recordings(path: Path, mpath: Path, mdata: Mapping[str, Any] | None) -> Path:
    rec = mdata.get("recordings") if mdata is not None else None
    if isinstance(rec, str) and rec:
        folder = Path(rec)
        return folder if folder.is_absolute() else mpath.parent / folder  # relative to the manifest
    return default_recordings_folder(path)


class EvidenceWriter:
    """Append rows to an evidence CSV, continuing the hash chain of an existing file.

    Opening an existing file verifies its chain (recordings are not re-hashed) and
    refuses (BadInput) a broken one. An incomplete last line (a kill during a write) is
    moved to ``<file>.partial`` (appended, never lost) and cut from the CSV, so the chain
    continues from the last complete row; ``recovered_fragment`` holds what was moved.
    One writer at a time: the file is locked (BadInput if another process holds it).
    The writer knows the file's bytes, so ``write_manifest(evidence=writer)`` anchors them
    without reading the file again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.recovered_fragment: str | None = None
        self._sha = hashlib.sha256()  # of every byte the file holds, as read and then written
        self._sha_exact = True
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
            self._write(csv_line(COLUMNS))
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
            raw = raw[:keep]
        self._sha = hashlib.sha256(raw)
        result = _verify(self.path, check_recordings=False, tail=False)
        if not result.ok:
            raise BadInput(f"{result.message}; refusing to append to a broken evidence chain")
        self.last_hash, self.count = result.last_row_hash, result.rows

    def _write(self, line: str) -> None:
        # One os.write past any buffer, then fsync. A write that fails (disk full) is cut back off,
        # so the file keeps only complete rows and nothing is left buffered to land later.
        fd = self._f.fileno()
        end = os.lseek(fd, 0, os.SEEK_END)
        data = line.encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, end)
            except OSError:
                # a fragment left here is moved to <file>.partial when the file is next opened
                self._sha_exact = False
            raise
        self._sha.update(data)

    def append(self, row: Mapping[str, Any]) -> str:
        """Write one call's row (missing columns empty; schema_version filled in); return its row_hash."""
        line, digest = chained_line(row, self.last_hash)
        self._write(line)
        self.last_hash, self.count = digest, self.count + 1
        return digest

    def anchor(self) -> tuple[str, int, str] | None:
        """(sha256 of the file, rows, last row_hash) as the writer left it; None when a failed
        write may have left bytes behind that only reading the file can account for."""
        return (self._sha.hexdigest(), self.count, self.last_hash) if self._sha_exact else None

    def rows(self) -> list[dict[str, str]]:
        """Every data row as written (strings)."""
        with self.path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    def close(self) -> None:
        """Release the lock and close the file."""
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> Self:
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
                   evidence: Path | EvidenceWriter | None = None, *, state: str = "finished") -> dict[str, Any]:
    """Write ``manifest.json`` (atomically) describing a run; return what was written.

    Records the campaign file's sha256, the software versions, the host, the run's start
    and end and its ``state``: ``running`` (written when a run starts or resumes: a run
    killed later leaves it so), ``interrupted`` or ``finished``. With ``evidence``, also
    that CSV's sha256, row count and last row_hash (the head), which ``verify_evidence``
    holds the CSV to: read from the file, or, given the ``EvidenceWriter`` that wrote it,
    from what the writer knows (the same figures, without reading the file again). A
    signature of the previous manifest (``manifest.json.sig``) no longer applies and is
    removed; ``harness.signing.sign_manifest`` signs the new one.
    """
    from harness import __version__

    if state not in MANIFEST_STATES:
        raise ValueError(f"manifest state {state!r} is none of {', '.join(MANIFEST_STATES)}")
    data: dict[str, Any] = {
        "campaign": campaign_name,
        "campaign_file": str(campaign_file),
        "campaign_file_sha256": sha256_file(campaign_file),
        "state": state,
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
        known = evidence.anchor() if isinstance(evidence, EvidenceWriter) else None
        csv_path = evidence.path if isinstance(evidence, EvidenceWriter) else evidence
        if known is not None:
            sha, rows, head, chain_ok = *known, True  # a writer only ever holds an intact chain
        else:
            result = _verify(csv_path, check_recordings=False, tail=False)
            sha, rows, head, chain_ok = sha256_file(csv_path), result.rows, result.last_row_hash, result.ok
        data["evidence"] = {
            "file": csv_path.name if csv_path.parent.resolve() == path.parent.resolve() else str(csv_path),
            "sha256": sha,
            "rows": rows,
            "last_row_hash": head,
            "chain_ok": chain_ok,
        }
    data.update(extra or {})
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_name(path.name + ".sig").unlink(missing_ok=True)  # a rewritten manifest is unsigned until signed
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a disk-full write leaves no manifest.json.tmp behind
        raise
    return data


@dataclass(frozen=True)
class FileCell:
    """One file a call left: its path relative to the evidence folder and its sha256 (None: absent)."""

    path: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class CallFiles:
    """The files one call left beside its recording, as its evidence row names and hashes them."""

    recording: FileCell = FileCell()
    events: FileCell = FileCell()
    sip_log: FileCell = FileCell()
    segments: FileCell = FileCell()


def _cell(path: Path | None, evidence_dir: Path) -> FileCell:
    if path is None or not path.is_file():
        return FileCell()
    return FileCell(os.path.relpath(path, evidence_dir), sha256_file(path))


def call_files(call_uid: str, recording: Path | None, rec_dir: Path, evidence_dir: Path) -> CallFiles:
    """Find and hash every file call ``call_uid`` left: the recording, ``<uid>.events.json`` (or the
    partial timeline a killed worker left), ``<uid>.sip.log`` and the analysis
    ``<uid>.wav.segments.json``. A call without a recording (busy, rejected) still has its timeline
    and SIP log."""
    side_dir = recording.parent if recording is not None else rec_dir
    events = side_dir / f"{call_uid}.events.json"
    if not events.is_file():
        events = side_dir / f"{call_uid}.events.partial.json"
    segments = recording.with_name(recording.name + ".segments.json") if recording is not None else None
    return CallFiles(_cell(recording, evidence_dir), _cell(events, evidence_dir),
                     _cell(side_dir / f"{call_uid}.sip.log", evidence_dir), _cell(segments, evidence_dir))
