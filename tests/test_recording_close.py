"""A call's record comes back only once its recording is closed and final (real calls to the lab).

pjsua2 (pjsip >= 2.15) closes a call's WAV on its media clock thread, some time after the
recorder was dropped at DISCONNECTED: its last buffer and its header are written then. The
engine keeps the call until no file descriptor of its process refers to the WAV. These tests
run one ``SipEngine`` in the test process and hold a descriptor on the WAV themselves, which is
what a late close by the media clock looks like to the engine: the record must wait for it (and
the other calls on the engine must go on meanwhile), and a WAV that never closes must come back
as an error, neither measured nor repaired. The same race under real load is checked by
``test_pool.py::test_a_burst_of_calls_ending_together_returns_closed_final_recordings``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.audio.wav import wav_duration_s, wav_header_consistent
from harness.digest import sha256_file
from harness.sip.pjsua_adapter import SipEngine
from harness.vocab import CallRecord, CallSpec, DisconnectBy

pytestmark = [pytest.mark.sip, pytest.mark.timeout(120)]

GAP_TOL_S = 0.1  # well under one buffer of pjmedia's WAV writer (about 0.25 s at 8 kHz)


class Pump:
    """Polls one engine and keeps each record with the monotonic time it came back."""

    def __init__(self, engine: SipEngine) -> None:
        self.engine = engine
        self.records: dict[str, tuple[CallRecord, float]] = {}

    def until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll until ``condition`` holds; fail naming ``what`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
            for r in self.engine.poll(10):
                self.records[r.call_uid] = (r, time.monotonic())


@pytest.fixture(scope="module")
def engine() -> Iterator[SipEngine]:
    """One pjsua2 Endpoint in this process (the tests hold descriptors in the engine's own process)."""
    eng = SipEngine(bind_address="127.0.0.1")
    eng.start()
    yield eng
    eng.stop()


def _ended_on_the_wire(partial: Path) -> bool:
    """The engine's partial timeline of the call shows it disconnected."""
    try:
        return any(e["type"] == "disconnected" for e in json.loads(partial.read_text())["events"])
    except (OSError, ValueError, KeyError):
        return False  # not written yet, or caught mid-write


def test_a_record_waits_for_its_recording_to_close_and_other_calls_go_on(engine: SipEngine, lab,
                                                                       tmp_path: Path) -> None:
    # 2101: answer after 0.2 s, 2.5 s of music, the lab hangs up
    engine.recording_close_timeout_s = 30.0
    pump = Pump(engine)
    engine.begin(CallSpec(call_uid="held", target=lab.uri("2101"), out_dir=tmp_path, ring_timeout_s=5,
                          max_call_s=20))
    wav = tmp_path / "held.wav"
    pump.until(wav.exists, 10, "the recording to be created")
    with open(wav, "rb"):
        pump.until(lambda: "held" in pump.records or _ended_on_the_wire(tmp_path / "held.events.partial.json"),
                   15, "the lab to hang up")
        assert "held" not in pump.records, "the record came back while its WAV was still open"
        # the engine is not blocked while it waits: a new call is placed and completes meanwhile
        engine.begin(CallSpec(call_uid="other", target=lab.uri("2101"), out_dir=tmp_path, ring_timeout_s=5,
                              max_call_s=20))
        pump.until(lambda: "other" in pump.records, 20, "the second call's record")
        assert "held" not in pump.records, "the record came back while its WAV was still open"
        released = time.monotonic()
    pump.until(lambda: "held" in pump.records, 5, "the record once the WAV was closed")
    record, returned = pump.records["held"]
    assert returned >= released
    other, _ = pump.records["other"]
    for r in (record, other):
        assert r.final_status == 200 and r.disconnect_by == DisconnectBy.REMOTE, r
        assert r.error is None and not r.recording_repaired, r
        assert any(e.type == "recorder_closed" for e in r.events), r.events
        path = tmp_path / r.recording
        assert wav_header_consistent(path), r.call_uid
        assert r.recording_duration_s == pytest.approx(wav_duration_s(path), abs=0.001), r
        assert abs(r.recording_gap_s) <= GAP_TOL_S, r
    digest = sha256_file(wav)
    pump.until(lambda: time.monotonic() >= returned + 0.5, 2, "half a second of polling")
    assert sha256_file(wav) == digest


def test_a_recording_that_never_closes_is_an_error_not_a_repair(engine: SipEngine, lab,
                                                               tmp_path: Path) -> None:
    engine.recording_close_timeout_s = 1.0
    pump = Pump(engine)
    engine.begin(CallSpec(call_uid="stuck", target=lab.uri("2101"), out_dir=tmp_path, ring_timeout_s=5,
                          max_call_s=20))
    wav = tmp_path / "stuck.wav"
    pump.until(wav.exists, 10, "the recording to be created")
    with open(wav, "rb"):  # held open until the record is back: to the engine, the WAV never closes
        pump.until(lambda: "stuck" in pump.records, 20, "the record after the close timeout")
    record, _ = pump.records["stuck"]
    assert record.error is not None and "stuck.wav was still open" in record.error, record
    assert record.recording is None and record.recording_duration_s is None and record.recording_gap_s is None
    assert not record.recording_repaired
    types = [e.type for e in record.events]
    assert "recorder_not_closed" in types and "recorder_closed" not in types, types
    t = {e.type: e.t_s for e in record.events}
    assert t["recorder_not_closed"] - t["disconnected"] >= 1.0
    assert wav.exists()  # the file is kept, unmeasured
