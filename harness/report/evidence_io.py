"""Read evidence CSV files into one typed DataFrame (the report's only input edge).

Every file is verified first (hash chain, recordings) unless the caller opts out; a file that fails
is refused with :class:`~harness.errors.BadInput`. Unknown extra columns are kept and ignored.
Two columns are added for citing evidence: ``_source`` (the file as given) and ``_row`` (1-based
data row, the header not counted, as ``harness verify`` counts rows).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import BadInput
from harness.evidence.chain import COLUMNS
from harness.vocab import Outcome

#: the evidence contract: these columns, in this order; one list, harness.evidence.chain's
REQUIRED_COLUMNS: tuple[str, ...] = COLUMNS
NUMERIC_COLUMNS: tuple[str, ...] = (
    "ring_s", "answer_s", "early_media_s", "music_s", "speech_s", "silence_s", "tone_s", "first_speech_s",
    "duration_s", "billed_s", "recording_duration_s", "recording_gap_s",
)
#: optional columns the report uses when present
OPTIONAL_NUMERIC: tuple[str, ...] = ("agent_start_s",)

OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)
DROP_OUTCOMES: tuple[str, ...] = (Outcome.GENTLE_DISCONNECT.value, Outcome.DROPPED_SILENT.value)


def _bad(path: Path, row: int | None, text: str) -> BadInput:
    where = f"{path}: row {row}" if row is not None else str(path)
    return BadInput(f"{where}: {text}")


def verify_file(path: Path) -> None:
    """Refuse ``path`` unless ``harness.evidence.verify_evidence`` accepts it (raises BadInput).

    What intact evidence still leaves open (a run that did not finish: rows no manifest anchors) is
    said on stderr, one line each, so a report is never silently built on it.
    """
    # looked up when called, so a test can stand a scripted verifier in for harness.evidence
    from harness.evidence import verify_evidence

    try:
        res = verify_evidence(path, check_recordings=True)
    except OSError as exc:
        raise _bad(path, None, f"cannot read: {exc.strerror or exc}") from exc
    if not res.ok:
        where = f" at row {res.first_bad_row}" if res.first_bad_row is not None else ""
        raise BadInput(f"{path}: evidence verification failed{where}: {res.message} "
                       "(refusing to report on altered evidence; --no-verify overrides)")
    for note in getattr(res, "notes", ()):
        print(f"harness: warning: {path}: {note}", file=sys.stderr)


def read_one(path: Path) -> pd.DataFrame:
    """One evidence file as typed columns; raises BadInput naming the file, row and column."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except FileNotFoundError as exc:
        raise _bad(path, None, "no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, None, f"cannot read: {exc}") from exc
    except pd.errors.EmptyDataError as exc:
        raise _bad(path, None, "empty file (no header): not an evidence CSV") from exc
    except pd.errors.ParserError as exc:
        raise _bad(path, None, f"not a well-formed CSV: {str(exc).strip()}") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise _bad(path, None, f"missing evidence columns: {', '.join(missing)} "
                   "(expected the header written by `harness run`)")
    df = raw.copy()
    df["_source"] = str(path)
    df["_row"] = range(1, len(df) + 1)
    for col in ("round", "hotline_id", "chain_id", "call_uid"):
        empty = df.index[df[col].str.strip() == ""]
        if len(empty):
            raise _bad(path, int(df.at[empty[0], "_row"]), f"{col} is empty")
        df[col] = df[col].str.strip()
    answered = df["answered"].str.strip().str.lower()
    bad = df.index[~answered.isin(["true", "false"])]
    if len(bad):
        i = bad[0]
        raise _bad(path, int(df.at[i, "_row"]), f"answered={df.at[i, 'answered']!r}: allowed true or false")
    df["answered"] = answered == "true"
    attempt = pd.to_numeric(df["attempt"], errors="coerce")
    bad = df.index[~(attempt.notna() & (attempt >= 1) & (attempt == attempt.round()))]
    if len(bad):
        i = bad[0]
        raise _bad(path, int(df.at[i, "_row"]), f"attempt={df.at[i, 'attempt']!r}: allowed 1, 2, 3...")
    df["attempt"] = attempt.astype(int)
    bad = df.index[~df["outcome"].isin(OUTCOMES)]
    if len(bad):
        i = bad[0]
        raise _bad(path, int(df.at[i, "_row"]),
                   f"outcome={df.at[i, 'outcome']!r}: allowed {', '.join(OUTCOMES)}")
    for col in NUMERIC_COLUMNS + tuple(c for c in OPTIONAL_NUMERIC if c in df.columns):
        text = df[col].str.strip()
        num = pd.to_numeric(text.where(text != ""), errors="coerce")
        bad = df.index[(text != "") & num.isna()]
        if len(bad):
            i = bad[0]
            raise _bad(path, int(df.at[i, "_row"]), f"{col}={df.at[i, col]!r} is not a number of seconds")
        df[col] = num.astype(float)
    # a chain cannot meet the same attempt twice
    dup = df.duplicated(["campaign", "round", "hotline_id", "chain_id", "attempt"], keep="first")
    if dup.any():
        i = df.index[dup][0]
        raise _bad(path, int(df.at[i, "_row"]),
                   f"chain {df.at[i, 'chain_id']} has attempt {df.at[i, 'attempt']} twice")
    return df


def read_evidence(paths: Sequence[Path], *, verify: bool = True) -> pd.DataFrame:
    """All evidence files as one DataFrame (rows in file order), verified first unless ``verify`` is False.

    The same call (``call_uid``) given twice, e.g. one shard passed twice, is refused: counting it
    twice would silently change every rate.
    """
    if not paths:
        raise BadInput("no evidence file given: pass one or more evidence CSV files")
    frames = []
    for path in paths:
        if verify:
            verify_file(Path(path))
        frames.append(read_one(Path(path)))
    df = pd.concat(frames, ignore_index=True)
    if "agent_start_s" not in df.columns:
        df["agent_start_s"] = math.nan
    dup = df[df.duplicated("call_uid", keep=False)]
    if len(dup):
        first = dup[dup["call_uid"] == dup["call_uid"].iloc[0]]
        places = " and ".join(f"{s} row {r}" for s, r in zip(first["_source"], first["_row"]))
        raise BadInput(f"call_uid {first['call_uid'].iloc[0]} appears in {places}: "
                       "the same calls given twice would be counted twice")
    return df


def _parse_segments(obj: Any) -> list[tuple[float, float, str]]:
    items = obj.get("segments", []) if isinstance(obj, dict) else obj
    out: list[tuple[float, float, str]] = []
    for it in items or []:
        if isinstance(it, dict):
            out.append((float(it["start_s"]), float(it["end_s"]), str(it["label"])))
        else:
            s, e, label = it[:3]
            out.append((float(s), float(e), str(label)))
    return out


def call_segments(row: pd.Series, evidence_dir: Path) -> list[tuple[float, float, str]] | None:
    """The labelled segments of one call, in recording time, or None when the evidence has none.

    Read from the analysis file the row's ``segments`` column names (``harness analyze --format
    json`` output, or a bare list of ``[start_s, end_s, label]``), else from
    ``<recording>.segments.json`` next to the recording; paths as written or relative to the
    evidence file's folder.
    """
    candidates: list[Path] = []
    side = str(row.get("segments", "") or "").strip()
    if side:
        candidates += [Path(side), evidence_dir / side]
    rec = str(row.get("recording", "") or "").strip()
    for base in ((Path(rec), evidence_dir / rec) if rec else ()):
        candidates.append(base.with_name(base.name + ".segments.json"))
    try:
        for path in candidates:
            if path.is_file():
                return _parse_segments(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError, IndexError, OSError):
        # an unreadable segment list only costs the strip its detail; the phase columns remain
        return None
    return None
