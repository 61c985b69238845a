"""The tamper-evident evidence of a campaign: the hash chain (``chain``, pure) and its files (``store``).

The names the CLI, the runner, the report and the tests use are importable from here; each is
defined once, in ``chain`` (columns, row format and hash, verification of a chain's text) or
``store`` (the CSV writer, the manifest, verification of the files on disk). The file hash is
``harness.digest.sha256_file``.
"""

from harness.evidence.chain import (
    COLUMNS,
    DATA_COLUMNS,
    HEADER_HASH,
    MANIFEST_STATES,
    SCHEMA_VERSION,
    US,
    ZERO_HASH,
    VerifyResult,
    format_value,
    manifest_state,
    row_hash,
    verify_text,
)
from harness.evidence.store import (
    CallFiles,
    EvidenceWriter,
    FileCell,
    call_files,
    default_recordings_folder,
    read_evidence,
    verify_evidence,
    write_manifest,
)

__all__ = [
    "COLUMNS", "DATA_COLUMNS", "HEADER_HASH", "MANIFEST_STATES", "SCHEMA_VERSION", "US", "ZERO_HASH",
    "CallFiles", "EvidenceWriter", "FileCell", "VerifyResult", "call_files", "default_recordings_folder", "format_value", "manifest_state",
    "read_evidence", "row_hash", "verify_evidence", "verify_text", "write_manifest",
]
