"""Real SIP calls on 127.0.0.1 through ``harness call`` (issue 2: the call path).

No SIP mock anywhere: every test places a real call with the pjsua2 adapter, in its own
``python -m harness.cli call`` subprocess (one pjsua2 Endpoint per process, as the dialer's
workers do), against the lab PBX (tests/data/lab_test_hotlines.yaml), a SIPp UAS or a
Kamailio registrar/proxy in front of the lab. What is checked is what happened: the
recording against the audio that was sent, our timeline against the lab's ground truth,
the SIP trace, the exit code and the one-line summary.

The lab calls are all in progress together (``lab_calls``) so the file stays fast; the
longest is 2001 (3 s music + an 8.3 s greeting).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import peers
import pytest
import soundfile as sf
from conftest import MEDIA_DIR, ROOT, Lab
from needs import require

from harness.audio.g711 import ulaw_decode, ulaw_encode
from harness.clock import parse_utc

pytestmark = [pytest.mark.sip, pytest.mark.timeout(120)]

RATE_HZ = 8000
CHUNK_S = 0.5  # the recording is judged chunk by chunk...
FRAME_S = 0.02  # ...from 20 ms frames, each looked for in the audio that was sent
FRAME_NCC = 0.99  # G.711 on loopback is bit-exact: a frame that was sent matches at ~1.0, others < 0.85
NEAR_S = 0.04  # a frame is first looked for this close to the current alignment,
JUMP_S = 0.3  # then this far: pjmedia's jitter buffer drops or conceals frames when the CPU is busy
MIN_CHUNK_MATCH = 0.5  # share of matching frames every 0.5 s chunk must have
MIN_TOTAL_MATCH = 0.9  # and the whole recording
AUDIBLE_DBFS = -60.0  # frames of the sent audio quieter than this (digital silence) are not compared
TRUTH_TOL_S = 0.050  # lab truth vs our events (issue 2)
CALL_TIMEOUT_S = 40.0
SIP_USER = "alice"
PASSWORD_ENV = "HARNESS_TEST_SIP_PASSWORD"


# -- running `harness call` -------------------------------------------------------------------------

@dataclass
class CallResult:
    """What one ``harness call`` run produced: exit code, output, and its three files."""

    exit_code: int
    stdout: str
    stderr: str
    out_dir: Path
    elapsed_s: float

    @property
    def record(self) -> dict[str, Any]:
        files = sorted(self.out_dir.glob("*.events.json"))
        assert len(files) == 1, f"expected one events file in {self.out_dir}: {files}\n{self.explain()}"
        return json.loads(files[0].read_text())

    @property
    def uid(self) -> str:
        return str(self.record["call_uid"])

    @property
    def wav(self) -> Path:
        return self.out_dir / f"{self.uid}.wav"

    @property
    def sip_log(self) -> str:
        return (self.out_dir / f"{self.uid}.sip.log").read_text()

    def events(self, typ: str) -> list[dict[str, Any]]:
        return [e for e in self.record["events"] if e["type"] == typ]

    def utc_of(self, t_s: float) -> float:
        """Epoch seconds of a time given in seconds since our INVITE."""
        return parse_utc(self.record["invite_at"]) + t_s

    def explain(self) -> str:
        return f"exit {self.exit_code}\nstdout: {self.stdout}\nstderr: {self.stderr}"


class CallRun:
    """A ``harness call`` subprocess started now; ``result()`` waits for it (once)."""

    def __init__(self, target: str, out_dir: Path, *options: str, env: dict[str, str] | None = None) -> None:
        self.out_dir = out_dir
        cmd = [sys.executable, "-m", "harness.cli", "call", target, "--out", str(out_dir), *options]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        self._result: CallResult | None = None

    def result(self, timeout_s: float = CALL_TIMEOUT_S) -> CallResult:
        if self._result is None:
            try:
                out, err = self.proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, err = self.proc.communicate()
                raise AssertionError(f"`harness call` still running after {timeout_s} s\n{out}\n{err}"
                                     ) from None
            elapsed_s = time.monotonic() - self.started
            self._result = CallResult(self.proc.returncode, out, err, self.out_dir, elapsed_s)
        return self._result

    def wait_invite_sent(self, timeout_s: float = 10.0) -> None:
        """Wait until the call's INVITE is out (the adapter writes its partial timeline then)."""
        deadline = time.monotonic() + timeout_s
        while not any(self.out_dir.glob("*.events*.json")) and self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"`harness call` sent no INVITE within {timeout_s} s ({self.out_dir})")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def call(target: str, out_dir: Path, *options: str, env: dict[str, str] | None = None,
         timeout_s: float = CALL_TIMEOUT_S) -> CallResult:
    """Run ``harness call`` to the end."""
    return CallRun(target, out_dir, *options, env=env).result(timeout_s)


# Every lab call of this file, all in progress together: name -> (number, options). The
# longest goes first; the timing-sensitive ones next, the refusals last.
LAB_CALLS: dict[str, tuple[str, tuple[str, ...]]] = {
    "answered": ("2001", ("--ring-timeout-s", "5", "--max-call-s", "30")),
    "early_media": ("2002", ("--ring-timeout-s", "5", "--max-call-s", "4")),
    "no_answer": ("2006", ("--ring-timeout-s", "1.5", "--max-call-s", "10")),
    "our_hangup": ("2007", ("--ring-timeout-s", "5", "--max-call-s", "3")),
    "busy": ("2003", ("--ring-timeout-s", "5", "--max-call-s", "10")),
    "not_found": ("2004", ("--ring-timeout-s", "5", "--max-call-s", "10")),
    "unavailable": ("2005", ("--ring-timeout-s", "5", "--max-call-s", "10")),
}


@pytest.fixture(scope="module")
def lab_calls(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, CallRun]]:
    """All the lab calls above, each by its own ``harness call`` process, in progress together.

    Each process starts once the previous one has sent its INVITE: seven interpreters
    importing numpy and pjsua2 at once on two cores would starve the calls already running.
    """
    base = tmp_path_factory.mktemp("calls")
    runs: dict[str, CallRun] = {}
    try:
        for name, (number, options) in LAB_CALLS.items():
            runs[name] = CallRun(lab.uri(number), base / name, *options)
            runs[name].wait_invite_sent()
        yield runs
    finally:
        for run in runs.values():
            run.stop()


def completed(lab_calls: dict[str, CallRun], name: str) -> CallResult:
    """The finished call ``name``; it must have exited 0 with one summary line."""
    res = lab_calls[name].result()
    assert res.exit_code == 0, res.explain()
    assert len(res.stdout.splitlines()) == 1 and res.stderr == "", res.explain()
    return res


# -- audio ---------------------------------------------------------------------------------------

def read_pcm(path: Path) -> np.ndarray:
    data, rate = sf.read(path, dtype="int16", always_2d=True)
    assert rate == RATE_HZ, f"{path}: {rate} Hz"
    return data[:, 0].astype(np.float64)


def via_ulaw(pcm: np.ndarray) -> np.ndarray:
    """What a G.711 µ-law leg delivers for ``pcm``."""
    return ulaw_decode(ulaw_encode(pcm.astype(np.int16))).astype(np.float64)


def media(name: str, seconds: float | None = None, start_s: float = 0.0) -> np.ndarray:
    pcm = read_pcm(MEDIA_DIR / name)
    first = int(start_s * RATE_HZ)
    return pcm[first:] if seconds is None else pcm[first:first + int(seconds * RATE_HZ)]


def dbfs(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(x * x)) / 32768.0 + 1e-12)


def global_lag(recording: np.ndarray, reference: np.ndarray) -> int:
    """Lag (samples) at which ``reference`` best matches ``recording``: recording[i] ~ reference[i - lag]."""
    n = 1 << int(np.ceil(np.log2(len(recording) + len(reference))))
    spec = np.fft.rfft(recording, n) * np.conj(np.fft.rfft(reference, n))
    xc = np.fft.irfft(spec, n)
    lags = np.concatenate([np.arange(0, len(recording)), np.arange(-len(reference) + 1, 0)])
    values = np.concatenate([xc[:len(recording)], xc[n - len(reference) + 1:]])
    return int(lags[int(np.argmax(values))])


def best_ncc(part: np.ndarray, window: np.ndarray) -> tuple[float, int]:
    """Highest normalised cross-correlation of ``part`` with a same-length slice of ``window``, and where."""
    n = len(part)
    c = part - part.mean()
    size = 1 << int(np.ceil(np.log2(len(window) + n)))
    dots = np.fft.irfft(np.fft.rfft(window, size) * np.conj(np.fft.rfft(c, size)), size)[:len(window) - n + 1]
    sums = np.concatenate([[0.0], np.cumsum(window)])
    squares = np.concatenate([[0.0], np.cumsum(window * window)])
    s1, s2 = sums[n:] - sums[:-n], squares[n:] - squares[:-n]
    spread = np.sqrt(np.maximum(s2 - s1 * s1 / n, 0.0))  # norm of each slice minus its mean
    # A flat slice (digital silence) correlates with nothing; dividing by its ~0 spread would say otherwise.
    ncc = np.where(spread > 1.0, dots / (spread * np.linalg.norm(c) + 1e-9), 0.0)
    at = int(np.argmax(ncc))
    return float(ncc[at]), at


@dataclass
class Match:
    """How a recording matches the audio that was sent, 20 ms frame by 20 ms frame."""

    lag_s: float  # global alignment: recording time = sent time + lag_s
    frames: list[tuple[float, float]]  # (recording time of an audible frame, best NCC near the alignment)
    jumps: int  # times the alignment moved (frames dropped or concealed on the way)

    def chunks(self) -> dict[float, float]:
        """Share of matching frames in each 0.5 s chunk of the recording."""
        groups: dict[float, list[bool]] = {}
        for t, score in self.frames:
            groups.setdefault(float(np.floor(t / CHUNK_S) * CHUNK_S), []).append(score >= FRAME_NCC)
        return {t: float(np.mean(v)) for t, v in sorted(groups.items())}

    @property
    def covered_s(self) -> float:
        return len(self.frames) * FRAME_S

    @property
    def matched(self) -> float:
        return float(np.mean([score >= FRAME_NCC for _, score in self.frames])) if self.frames else 0.0

    def __str__(self) -> str:
        chunks = ", ".join(f"{t:g}: {v:.0%}" for t, v in self.chunks().items())
        return (f"Match(lag {self.lag_s:.3f} s, {self.covered_s:.1f} s compared, "
                f"{self.matched:.1%} of frames matched, {self.jumps} jumps, chunks {{{chunks}}})")

    def check(self, min_covered_s: float) -> None:
        """Every 0.5 s chunk holds the audio that was sent, and nearly all of the recording does."""
        assert self.covered_s >= min_covered_s, f"only {self.covered_s:.1f} s compared: {self}"
        bad = {t: f"{v:.0%}" for t, v in self.chunks().items() if v < MIN_CHUNK_MATCH}
        assert not bad, f"chunks that do not hold what was sent: {bad}\n{self}"
        assert self.matched >= MIN_TOTAL_MATCH, str(self)


def match_chunks(recording: np.ndarray, reference: np.ndarray) -> Match:
    """Align ``reference`` (the audio that was sent) to ``recording`` and score every 20 ms frame.

    Each frame is looked for near the current alignment, then up to JUMP_S away; the alignment
    follows the frames that match, so a dropped or concealed frame costs one or two frames, not
    the rest of the recording.
    """
    lag = global_lag(recording, reference)
    size, near, far = int(FRAME_S * RATE_HZ), int(NEAR_S * RATE_HZ), int(JUMP_S * RATE_HZ)
    frames: list[tuple[float, float]] = []
    expected, jumps = lag, 0
    for start in range(0, len(recording) - size + 1, size):
        ref_start = start - expected
        if ref_start < 0 or ref_start + size > len(reference):
            continue  # outside what was sent (before it started or after it ended)
        if dbfs(reference[ref_start:ref_start + size]) < AUDIBLE_DBFS:
            continue  # digital silence correlates with nothing
        frame = recording[start:start + size]
        for reach in (near, far):
            lo, hi = max(0, ref_start - reach), min(len(reference), ref_start + size + reach)
            score, at = best_ncc(frame, reference[lo:hi])
            if score >= FRAME_NCC:
                break
        frames.append((start / RATE_HZ, score))
        if score >= FRAME_NCC and lo + at != ref_start:
            expected, jumps = start - (lo + at), jumps + 1
    return Match(lag / RATE_HZ, frames, jumps)


# -- 1. answered call -------------------------------------------------------------------------------

def test_answered_call_records_the_lab_audio_chunk_by_chunk(lab: Lab, lab_calls: dict[str, CallRun]) -> None:
    res = completed(lab_calls, "answered")
    rec = res.record
    assert "answered at" in res.stdout and "by remote" in res.stdout, res.explain()
    kinds = [(e["type"], e["code"]) for e in rec["events"]]
    assert kinds[0] == ("invite_sent", None) and rec["events"][0]["t_s"] == 0.0
    assert ("provisional", 180) in kinds and ("answered", 200) in kinds and ("bye_received", None) in kinds
    order = [kinds.index(k) for k in (("provisional", 180), ("answered", 200), ("bye_received", None))]
    assert order == sorted(order), kinds
    assert rec["final_status"] == 200 and rec["disconnect_by"] == "remote"
    assert 0.45 <= rec["answered_s"] <= 1.0, rec  # the hotline rings 0.5 s (later when the lab is starved)
    log = res.sip_log
    assert "INVITE sip:2001@" in log and re.search(r"^BYE sip:", log, re.MULTILINE), log
    assert re.search(r"TX \d+ bytes Response msg 200/BYE", log), "our 200 to the lab's BYE is in the trace"

    # The recording: 3 s of moh_1 then the whole English greeting, as G.711 carried them.
    assert rec["recording"] == res.wav.name and res.wav.exists()
    recording = read_pcm(res.wav)
    reference = via_ulaw(np.concatenate([media("moh_1.wav", 3.0), media("greeting_en.wav")]))
    assert abs(rec["recording_duration_s"] - len(recording) / RATE_HZ) < 0.01
    assert abs(rec["recording_gap_s"]) < 0.1, rec
    m = match_chunks(recording, reference)
    assert 0.0 <= m.lag_s < 0.3, f"the lab's audio should start just after our media start, lag {m.lag_s} s"
    m.check(min_covered_s=0.8 * len(reference) / RATE_HZ)


def test_the_correlation_check_rejects_audio_that_was_not_sent(lab_calls: dict[str, CallRun]) -> None:
    """The chunk check can fail: the same recording against other music and speech scores low."""
    res = completed(lab_calls, "answered")
    recording = read_pcm(res.wav)
    wrong = via_ulaw(np.concatenate([media("moh_2.wav", 3.0), media("agent_en.wav", 8.3)]))
    m = match_chunks(recording, wrong)
    assert m.covered_s >= 2.0 and m.matched < 0.05, m
    with pytest.raises(AssertionError, match="do not hold what was sent"):
        m.check(min_covered_s=2.0)


# -- 2. early media -------------------------------------------------------------------------------

def test_early_media_is_recorded_before_the_answer(lab: Lab, lab_calls: dict[str, CallRun]) -> None:
    res = completed(lab_calls, "early_media")
    rec = res.record
    kinds = [(e["type"], e["code"]) for e in rec["events"]]
    assert kinds.index(("provisional", 183)) < kinds.index(("answered", 200)), kinds
    assert rec["media_start_s"] < 0.5 and 1.9 <= rec["answered_s"] <= 2.5, rec  # 2 s of early media
    assert rec["disconnect_by"] == "local"  # our --max-call-s 4
    recording = read_pcm(res.wav)
    early = recording[:int((rec["answered_s"] - rec["media_start_s"]) * RATE_HZ)]
    assert len(early) >= 1.8 * RATE_HZ
    assert dbfs(early) > -35.0, f"the early media part is silent ({dbfs(early):.1f} dBFS)"
    match_chunks(early, via_ulaw(media("moh_2.wav", 2.0))).check(min_covered_s=1.0)  # moh_2 opens quietly
    truth = lab.truth_for(rec["sip_call_id"])
    assert [p["kind"] for p in truth["phases"]][:2] == ["early_media", "agent"], truth


# -- 3. busy and rejected -------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "code", "reason"), [
    ("busy", 486, "Busy Here"), ("not_found", 404, "Not Found"), ("unavailable", 503, "Service Unavailable")])
def test_refused_call_completes_with_its_code_and_no_recording(
        lab: Lab, lab_calls: dict[str, CallRun], name: str, code: int, reason: str) -> None:
    res = completed(lab_calls, name)  # exit 0: the call completed, the answer was a refusal
    rec = res.record
    assert f"not answered: {code} {reason}" in res.stdout, res.explain()
    assert (rec["final_status"], rec["final_reason"], rec["disconnect_by"]) == (code, reason, "none")
    assert rec["answered_s"] is None and rec["media_start_s"] is None
    assert [e["code"] for e in res.events("final")] == [code]
    assert not res.events("cancel_sent") and not res.events("bye_sent") and not res.events("bye_received")
    # Documented in the adapter: no media, no WAV.
    assert rec["recording"] is None and rec["recording_duration_s"] is None and not res.wav.exists()
    assert re.search(rf"RX \d+ bytes Response msg {code}/INVITE", res.sip_log)
    assert re.search(r"TX \d+ bytes Request msg ACK", res.sip_log)
    truth = lab.truth_for(rec["sip_call_id"])
    assert (truth["final_code"], truth["hangup_by"], truth["answered_at"]) == (code, "lab", None)


# -- 4. no answer ---------------------------------------------------------------------------------

def test_no_answer_is_cancelled_at_the_ring_timeout(lab: Lab, lab_calls: dict[str, CallRun]) -> None:
    res = completed(lab_calls, "no_answer")
    rec = res.record
    (cancel,) = res.events("cancel_sent")
    assert 1.5 <= cancel["t_s"] <= 1.75, cancel  # --ring-timeout-s 1.5
    assert cancel["by"] == "local"
    assert [(e["code"], e["t_s"] >= cancel["t_s"]) for e in res.events("final")] == [(487, True)]
    assert (rec["final_status"], rec["disconnect_by"], rec["answered_s"]) == (487, "local", None)
    assert rec["ended_s"] == cancel["t_s"]
    assert rec["recording"] is None and not res.wav.exists()
    # The whole closing exchange is in the trace (pjsua reports DISCONNECTED before it happens).
    log = res.sip_log
    for pattern in (r"TX \d+ bytes Request msg CANCEL", r"RX \d+ bytes Response msg 200/CANCEL",
                    r"RX \d+ bytes Response msg 487/INVITE", r"TX \d+ bytes Request msg ACK"):
        assert re.search(pattern, log), pattern
    truth = lab.truth_for(rec["sip_call_id"])
    assert (truth["hangup_by"], truth["final_code"], truth["answered_at"]) == ("caller", 487, None), truth
    assert abs(parse_utc(truth["hangup_at"]) - res.utc_of(cancel["t_s"])) <= TRUTH_TOL_S


# -- 5. who hung up -------------------------------------------------------------------------------

def test_remote_bye_and_our_hangup_are_told_apart(lab: Lab, lab_calls: dict[str, CallRun]) -> None:
    theirs, ours = completed(lab_calls, "answered"), completed(lab_calls, "our_hangup")

    assert theirs.record["disconnect_by"] == "remote"
    assert len(theirs.events("bye_received")) == 1 and not theirs.events("bye_sent")
    assert theirs.events("bye_received")[0]["by"] == "remote"
    assert lab.truth_for(theirs.record["sip_call_id"])["hangup_by"] == "lab"

    rec = ours.record
    assert rec["disconnect_by"] == "local" and "by local" in ours.stdout
    (bye,) = ours.events("bye_sent")
    assert bye["by"] == "local" and 3.0 <= bye["t_s"] <= 3.25, bye  # --max-call-s 3
    assert rec["ended_s"] == bye["t_s"]
    assert not ours.events("bye_received")
    assert re.search(r"RX \d+ bytes Response msg 200/BYE", ours.sip_log), "the 200 to our BYE is in the trace"
    truth = lab.truth_for(rec["sip_call_id"])
    assert truth["hangup_by"] == "caller" and truth["phases"][-1]["kind"] == "music", truth
    match_chunks(read_pcm(ours.wav), via_ulaw(media("moh_3.wav", 3.0))).check(min_covered_s=2.0)


# -- 6. lab truth vs our timeline -----------------------------------------------------------------

def test_lab_truth_and_our_events_agree_on_answer_and_hangup(lab: Lab, lab_calls: dict[str, CallRun],
                                                             record_property: Any) -> None:
    gaps: dict[str, float] = {}  # lab truth minus our timeline, seconds
    invite_gaps: list[float] = []
    for name in ("answered", "early_media", "our_hangup", "no_answer"):
        res = completed(lab_calls, name)
        rec = res.record
        truth = lab.truth_for(rec["sip_call_id"])
        # Reported, not checked: the lab stamps the INVITE when it gets round to it.
        invite_gaps.append(parse_utc(truth["started_at"]) - parse_utc(rec["invite_at"]))
        if rec["answered_s"] is not None:
            gaps[f"{name} answer"] = parse_utc(truth["answered_at"]) - res.utc_of(rec["answered_s"])
        gaps[f"{name} hangup"] = parse_utc(truth["hangup_at"]) - res.utc_of(rec["ended_s"])
    assert len(gaps) == 7
    worst = max(gaps, key=lambda k: abs(gaps[k]))
    record_property("truth_vs_events_max_gap_ms", round(abs(gaps[worst]) * 1000, 1))
    print(f"\ntruth vs events: max |gap| {abs(gaps[worst]) * 1000:.1f} ms ({worst}); "
          + ", ".join(f"{k} {v * 1000:+.0f} ms" for k, v in gaps.items())
          + f"; INVITE max {max(abs(g) for g in invite_gaps) * 1000:.0f} ms")
    assert all(abs(g) <= TRUTH_TOL_S for g in gaps.values()), gaps


# -- 7. an independent peer: SIPp ------------------------------------------------------------------

def test_sipp_uas_streams_audio_and_hangs_up(tmp_path: Path) -> None:
    require(shutil.which("sipp") is not None, "needs SIPp: sudo apt-get install -y sip-tester")
    sent = media("greeting_en.wav", 3.0)
    wav = tmp_path / "stream.wav"
    sf.write(wav, sent.astype(np.int16), RATE_HZ, subtype="PCM_16")
    stream = peers.wav_to_ulaw(wav, tmp_path / "stream.ulaw")
    port, pause_ms = peers.free_udp_port(), 3300
    with peers.sipp_uas(port, stream, pause_ms, tmp_path) as uas:
        res = call(f"sip:9100@127.0.0.1:{port}", tmp_path / "out",
                   "--ring-timeout-s", "5", "--max-call-s", "15")
        assert uas.wait_exit(5) == 0, uas.log()
        flow = peers.flow(uas.messages())
    assert res.exit_code == 0, res.explain()
    rec = res.record
    assert flow == ["received: INVITE", "sent: SIP/2.0 100", "sent: SIP/2.0 180", "sent: SIP/2.0 200",
                    "received: ACK", "sent: BYE", "received: SIP/2.0 200"], flow
    assert rec["disconnect_by"] == "remote" and len(res.events("bye_received")) == 1
    assert abs(rec["ended_s"] - rec["answered_s"] - pause_ms / 1000) < 0.25, rec
    streamed = ulaw_decode(np.frombuffer(stream.read_bytes(), np.uint8)).astype(np.float64)
    match_chunks(read_pcm(res.wav), streamed).check(min_covered_s=2.0)


# -- 8. Kamailio registrar and proxy with digest auth ----------------------------------------------

def registers_seen(proxy: peers.Peer) -> int:
    return proxy.log().count("REGISTER received for")


def wait_for_log(proxy: peers.Peer, text: str, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in proxy.log():
        if time.monotonic() > deadline:
            raise AssertionError(f"Kamailio never logged {text!r}\n{proxy.log()}")
        time.sleep(0.05)


@pytest.fixture
def kamailio_proxy(lab: Lab, tmp_path: Path) -> Iterator[tuple[peers.Peer, str]]:
    require(shutil.which("kamailio") is not None, "needs Kamailio: sudo apt-get install -y kamailio")
    password = "pw-" + secrets.token_hex(8)  # made at run time, never stored
    with peers.kamailio(peers.free_udp_port(), lab.port, SIP_USER, password, tmp_path) as proxy:
        yield proxy, password


def via_proxy(proxy: peers.Peer, out_dir: Path, password: str) -> CallResult:
    registrar = f"sip:127.0.0.1:{proxy.port}"
    env = dict(os.environ, **{PASSWORD_ENV: password})
    return call(f"sip:2101@127.0.0.1:{proxy.port}", out_dir, "--registrar", registrar, "--username", SIP_USER,
                "--password-env", PASSWORD_ENV, "--ring-timeout-s", "5", "--max-call-s", "10", env=env)


def test_registered_call_through_kamailio_with_digest_auth(lab: Lab, tmp_path: Path,
                                                           kamailio_proxy: tuple[peers.Peer, str]) -> None:
    proxy, password = kamailio_proxy
    res = via_proxy(proxy, tmp_path / "out", password)
    assert res.exit_code == 0, res.explain() + proxy.log()
    rec = res.record
    assert [e["code"] for e in res.events("auth_challenge")] == [407]  # the proxy asked, we answered
    assert rec["final_status"] == 200 and rec["disconnect_by"] == "remote", rec  # the lab's BYE, relayed
    match_chunks(read_pcm(res.wav), via_ulaw(media("moh_1.wav", 2.5))).check(min_covered_s=1.5)
    truth = lab.truth_for(rec["sip_call_id"])
    assert truth["number"] == "2101" and truth["hangup_by"] == "lab"
    masked = re.search(r"^Proxy-Authorization: Digest <masked>$", res.sip_log, re.MULTILINE)
    assert masked, "the INVITE's credentials are masked in the trace"
    for where, text in (("sip.log", res.sip_log), ("events.json", json.dumps(rec)), ("stdout", res.stdout),
                        ("stderr", res.stderr)):
        assert password not in text, f"the password leaked into {where}"
    wait_for_log(proxy, "REGISTER received for")
    n = registers_seen(proxy)
    assert 2 <= n <= 4, f"{n} REGISTERs (challenge + register, challenge + unregister)\n{proxy.log()}"


def test_wrong_password_fails_fast_with_one_line_and_no_retry_storm(
        tmp_path: Path, kamailio_proxy: tuple[peers.Peer, str]) -> None:
    proxy, _ = kamailio_proxy
    wrong = "wrong-" + secrets.token_hex(8)
    res = via_proxy(proxy, tmp_path / "out", wrong)
    assert res.exit_code == 3, res.explain()
    assert res.elapsed_s < 5.0, f"took {res.elapsed_s:.1f} s"
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "registration" in lines[0] and "403" in lines[0], res.explain()
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert wrong not in res.stderr + res.stdout
    wait_for_log(proxy, "wrong credentials")
    n = registers_seen(proxy)
    assert 1 <= n <= 3, f"{n} REGISTERs reached Kamailio (a retry storm?)\n{proxy.log()}"
