"""The dialer's worker pool: real calls to the lab PBX over several pjsua2 worker processes."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.audio.wav import open_in_process, wav_duration_s, wav_header_consistent, wav_info
from harness.digest import sha256_file
from harness.sip.pool import WorkerPool
from harness.vocab import CallSpec, DisconnectBy

pytestmark = pytest.mark.sip


def _collect(pool: WorkerPool, n: int, timeout_s: float) -> list:
    out: list = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        out += pool.collect(0.2)
    return out


def _partial_answered(partial: Path) -> bool:
    """The worker's partial timeline of the call exists and has its answer (``answered_s`` set)."""
    try:
        return json.loads(partial.read_text()).get("answered_s") is not None
    except (OSError, ValueError):
        return False  # not written yet, or caught mid-write


def _wait_for(pool: WorkerPool, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Pump the pool until ``condition`` holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        assert pool.collect(0.05) == [], "the call ended while the test waited"


def test_twelve_simultaneous_calls_over_three_workers(lab, tmp_path: Path) -> None:
    # 2008: answer after 0.2 s, 6 s of music, the Mandarin greeting, the lab hangs up.
    with WorkerPool(concurrency=12) as pool:
        assert pool.n_workers == 3 and len(set(pool.worker_pids())) == 3
        for i in range(12):
            pool.submit(CallSpec(call_uid=f"sim{i:02d}", target=lab.uri("2008"), out_dir=tmp_path,
                                 ring_timeout_s=5, max_call_s=30))
        assert pool.free_slots == 0
        records = _collect(pool, 12, 40)
    assert sorted(r.call_uid for r in records) == [f"sim{i:02d}" for i in range(12)]
    call_ids = {r.sip_call_id for r in records}
    assert len(call_ids) == 12
    # the twelve calls overlapped in time: every answer came before the first hangup
    first_end = min(lab.truth_for(c)["hangup_at"] for c in call_ids)
    assert all(lab.truth_for(c)["answered_at"] < first_end for c in call_ids)
    for r in records:
        assert r.final_status == 200 and r.disconnect_by == DisconnectBy.REMOTE, r
        assert not r.recording_repaired and r.error is None
        rate, channels, bits, _ = wav_info(tmp_path / r.recording)
        assert (rate, channels, bits) == (8000, 1, 16)
        # complete: the recording spans the media time of the signalling timeline
        assert abs(r.recording_gap_s) <= 0.1, r
        audio, _ = sf.read(tmp_path / r.recording, dtype="float32")
        music = audio[int(1.0 * 8000):int(6.0 * 8000)]
        assert np.sqrt(np.mean(music ** 2)) > 0.01  # the lab's music is there, not silence


BURST_CALLS = 40
GAP_TOL_S = 0.1  # well under one buffer of pjmedia's WAV writer (about 0.25 s at 8 kHz)


def test_a_burst_of_calls_ending_together_returns_closed_final_recordings(lab, tmp_path: Path) -> None:
    # 2101: answer after 0.2 s, 2.5 s of music, the lab hangs up: the calls of a burst end together,
    # and each worker closes up to four recordings at once while its media clock keeps running.
    with WorkerPool(concurrency=BURST_CALLS) as pool:
        pids = pool.worker_pids()
        for i in range(BURST_CALLS):
            pool.submit(CallSpec(call_uid=f"burst{i:02d}", target=lab.uri("2101"), out_dir=tmp_path,
                                 ring_timeout_s=5, max_call_s=30))
        seen: dict[str, tuple] = {}
        deadline = time.monotonic() + 60
        while len(seen) < BURST_CALLS and time.monotonic() < deadline:
            for r in pool.collect(0.05):
                wav = tmp_path / r.recording
                # what the evidence would hash, at the moment the record comes back
                holders = [pid for pid in pids if open_in_process(wav, pid)]
                seen[r.call_uid] = (r, holders, sha256_file(wav))
    assert len(seen) == BURST_CALLS
    # the workers have exited: whatever pjsua2 still had to write is on disk now
    problems = []
    for uid, (r, holders, digest) in sorted(seen.items()):
        wav = tmp_path / r.recording
        if holders:
            problems.append(f"{uid}: still open in worker {holders} when its record came back")
        if sha256_file(wav) != digest:
            problems.append(f"{uid}: changed after its record came back")
        if not wav_header_consistent(wav):
            problems.append(f"{uid}: header does not match the file")
        if r.recording_repaired or r.error is not None:
            problems.append(f"{uid}: repaired={r.recording_repaired} error={r.error}")
        if abs(r.recording_duration_s - wav_duration_s(wav)) > 0.001:
            problems.append(f"{uid}: record says {r.recording_duration_s} s, the file holds {wav_duration_s(wav)} s")
        if abs(r.recording_gap_s) > GAP_TOL_S:
            problems.append(f"{uid}: recording_gap_s {r.recording_gap_s}")
    assert problems == [], f"{len(problems)} problems over {BURST_CALLS} calls: {problems}"


def test_killed_worker_leaves_a_repaired_flagged_recording(lab, tmp_path: Path) -> None:
    # 2007 plays music until the caller hangs up; we kill the worker holding the call.
    with WorkerPool(concurrency=4) as pool:
        pool.submit(CallSpec(call_uid="victim", target=lab.uri("2007"), out_dir=tmp_path,
                             ring_timeout_s=5, max_call_s=30))
        partial = tmp_path / "victim.events.partial.json"
        wav = tmp_path / "victim.wav"
        _wait_for(pool, lambda: _partial_answered(partial), 10, "the partial events to show the answer")
        _wait_for(pool, lambda: wav.exists() and wav.stat().st_size >= 44 + 2 * 8000 * 2, 10,
                  "two seconds of recorded music on disk")
        (pid,) = pool.worker_pids()
        os.kill(pid, signal.SIGKILL)
        (record,) = _collect(pool, 1, 10)
        # the pool started a fresh worker: the next call works
        after = pool.place(CallSpec(call_uid="after", target=lab.uri("2003"), out_dir=tmp_path,
                                    ring_timeout_s=5, max_call_s=10))
        assert pool.restarts == 1
    assert after.final_status == 486
    assert record.call_uid == "victim" and record.answered_s is not None
    assert record.error and "died mid-call" in record.error
    assert record.recording_repaired is True
    audio, rate = sf.read(wav, dtype="float32")  # a readable WAV: the header was repaired
    assert rate == 8000 and len(audio) / rate == pytest.approx(record.recording_duration_s, abs=0.01)
    assert record.recording_duration_s > 1.5
    assert np.abs(audio[4000:]).max() > 0.02  # the samples are on disk, not a silently empty file
    assert (tmp_path / "victim.events.json").exists() and not partial.exists()
