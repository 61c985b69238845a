"""The one SHA-256 of a file: recordings, sidecars, the evidence CSV, the campaign file, media, model weights."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK_BYTES = 1 << 20  # read in 1 MiB blocks: an hour-long recording is never held in memory whole


def sha256_file(path: Path, block_bytes: int = BLOCK_BYTES) -> str:
    """Hex SHA-256 of the bytes of ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block_bytes):
            h.update(chunk)
    return h.hexdigest()
