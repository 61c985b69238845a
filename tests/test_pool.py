"""The dialer's worker pool: real calls to the lab PBX over several pjsua2 worker processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.recording import wav_info
from harness.sip.pool import WorkerPool
from harness.sip.seam import CallSpec, DisconnectBy

pytestmark = pytest.mark.sip


def _collect(pool: WorkerPool, n: int, timeout_s: float) -> list:
    out: list = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        out += pool.collect(0.2)
    return out


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


def test_killed_worker_leaves_a_repaired_flagged_recording(lab, tmp_path: Path) -> None:
    # 2007 plays music until the caller hangs up; we kill the worker holding the call.
    with WorkerPool(concurrency=4) as pool:
        pool.submit(CallSpec(call_uid="victim", target=lab.uri("2007"), out_dir=tmp_path,
                             ring_timeout_s=5, max_call_s=30))
        partial = tmp_path / "victim.events.partial.json"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and '"answered_s":' not in (partial.read_text() if partial.exists()
                                                                      else ""):
            pool.collect(0.1)
        pool.collect(2.0)  # two seconds of recorded music
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
    wav = tmp_path / "victim.wav"
    audio, rate = sf.read(wav, dtype="float32")  # a readable WAV: the header was repaired
    assert rate == 8000 and len(audio) / rate == pytest.approx(record.recording_duration_s, abs=0.01)
    assert record.recording_duration_s > 1.5
    assert np.abs(audio[4000:]).max() > 0.02  # the samples are on disk, not a silently empty file
    assert (tmp_path / "victim.events.json").exists() and not partial.exists()
