"""WAV header inspection and repair: sizes, duration from the bytes on disk, consistency.

pjsua2 writes a WAV header only when the recorder is destroyed; a worker killed
mid-call leaves a file whose header claims 0 samples although the samples are
there. ``repair_wav_header`` rebuilds the sizes from the file length so the
evidence is kept, and callers flag the recording as repaired.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

PCM16_HEADER_BYTES = 44


def _find_data_chunk(head: bytes) -> tuple[int, int] | None:
    """Return (offset of the 'data' chunk header, declared size) in a RIFF/WAVE header."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        cid, size = head[pos : pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if cid == b"data":
            return pos, size
        pos += 8 + size + (size & 1)
    return None


def wav_info(path: Path) -> tuple[int, int, int, int]:
    """Return (sample_rate_hz, channels, bits_per_sample, data_bytes_on_disk) of a PCM WAV."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if len(head) < PCM16_HEADER_BYTES or head[:4] != b"RIFF":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    fmt = head.find(b"fmt ")
    if fmt < 0:
        raise ValueError(f"{path}: no fmt chunk")
    _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", head, fmt + 8)
    data = _find_data_chunk(head)
    if data is None:
        raise ValueError(f"{path}: no data chunk")
    data_bytes = os.path.getsize(path) - (data[0] + 8)
    return rate, channels, bits, max(0, data_bytes)


def wav_duration_s(path: Path) -> float:
    """Duration of a PCM WAV from the bytes really on disk (not the header's claim)."""
    rate, channels, bits, data_bytes = wav_info(path)
    frame_bytes = channels * bits // 8
    return (data_bytes // frame_bytes) / float(rate) if rate and frame_bytes else 0.0


def open_in_process(path: Path, pid: int | str = "self") -> bool:
    """True while a file descriptor of process ``pid`` (this one by default) refers to ``path``.

    Linux only (``/proc/<pid>/fd``). pjsua2 closes a recording on its media clock thread, some
    time after the recorder was dropped; until no descriptor points at the file its last buffer
    and header may still be written. Descriptors are matched by device and inode, not by name.
    """
    try:
        target = os.stat(path)
    except OSError:
        return False
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        try:
            st = os.stat(f"{fd_dir}/{fd}")
        except OSError:
            continue  # closed while we looked
        if st.st_ino == target.st_ino and st.st_dev == target.st_dev:
            return True
    return False


def _sizes_agree(head: bytes, size: int) -> tuple[int, int, bool] | None:
    """(offset of the data chunk, data bytes really on disk, whether the RIFF and data sizes match
    ``size`` bytes on disk), or None when ``head`` has no RIFF/WAVE data chunk."""
    data = _find_data_chunk(head)
    if data is None:
        return None
    data_pos, declared = data
    actual = size - (data_pos + 8)
    actual -= actual % 2
    return data_pos, actual, declared == actual and struct.unpack_from("<I", head, 4)[0] == size - 8


def wav_header_consistent(path: Path) -> bool:
    """True when the RIFF and data sizes in the header of ``path`` match the bytes on disk."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(4096)
    if size < PCM16_HEADER_BYTES or head[:4] != b"RIFF":
        return False
    state = _sizes_agree(head, size)
    return state is not None and state[2]


def repair_wav_header(path: Path) -> bool:
    """Rewrite the RIFF and data sizes of ``path`` to match the file length.

    Returns True when the header was wrong and has been fixed, False when it was
    already consistent. A file too short to hold a header is given one for a
    PCM16 mono 8 kHz stream with no samples (never a silently empty file: the
    caller flags it).
    """
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        head = f.read(4096)
        if size < PCM16_HEADER_BYTES or head[:4] != b"RIFF":
            f.seek(0)
            f.write(_pcm16_header(8000, 0))
            f.truncate(PCM16_HEADER_BYTES)
            return True
        state = _sizes_agree(head, size)
        if state is None or state[2]:
            return False
        data_pos, actual, _ = state
        f.seek(4)
        f.write(struct.pack("<I", size - 8))
        f.seek(data_pos + 4)
        f.write(struct.pack("<I", actual))
        f.flush()
        os.fsync(f.fileno())
    return True


def _pcm16_header(rate_hz: int, data_bytes: int) -> bytes:
    return b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate_hz, rate_hz * 2, 2, 16
    ) + b"data" + struct.pack("<I", data_bytes)
