"""Independent SIP peers for the SIP tests: SIPp and Kamailio on 127.0.0.1 (Debian packages).

    with sipp_uas(port, audio_ulaw, pause_ms, tmpdir) as uas:      # answers, streams, sends BYE
        ...
    with kamailio(port, lab_port, user, password, tmpdir) as proxy:  # registrar + auth + proxy
        ...

Each helper starts the peer in its own process group, waits until it listens (and, for
Kamailio, answers an OPTIONS), yields a handle, and always stops it: SIGTERM to its group,
then SIGKILL after a grace period. Their logs end up in the handle (``.log()``) so a failing
test can print what the peer saw. ``run_sipp_uac`` runs SIPp as a client and returns the
messages it really sent and received: SIPp's exit code alone is not proof (it is 0 for a refused REGISTER).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Self

import numpy as np
import soundfile as sf

from harness.audio.g711 import ulaw_encode

PEERS_DIR = Path(__file__).resolve().parent / "peers"
UAS_SCENARIO = PEERS_DIR / "uas_stream_bye.xml"
UAC_CALL_SCENARIO = PEERS_DIR / "uac_call.xml"
UAC_REGISTER_SCENARIO = PEERS_DIR / "uac_register.xml"
KAMAILIO_TEMPLATE = PEERS_DIR / "kamailio.cfg.tmpl"
UAS_AUDIO_NAME = "uas_audio.ulaw"  # the name uas_stream_bye.xml streams, relative to SIPp's cwd
HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_GRACE_S = 3.0


class PeerError(RuntimeError):
    """A peer did not start, or misbehaved; the message carries its log."""


def require(tool: str, package: str) -> str:
    """Path of ``tool`` or a PeerError naming the package to install."""
    exe = shutil.which(tool)
    if exe is None:
        raise PeerError(f"`{tool}` not found; install it: sudo apt-get install -y {package}")
    return exe


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def free_udp_port_pair() -> int:
    """An even UDP port p on 127.0.0.1 with p and p+1 free (an RTP/RTCP pair)."""
    for _ in range(200):
        p = free_udp_port() & ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind((HOST, p))
                b.bind((HOST, p + 1))
            return p
        except OSError:
            continue
    raise PeerError("no free even/odd UDP port pair on 127.0.0.1 after 200 tries")


def wav_to_ulaw(wav: Path, out: Path) -> Path:
    """Write ``wav`` (8 kHz mono PCM) as raw headerless G.711 µ-law bytes to ``out``."""
    pcm, rate = sf.read(wav, dtype="int16", always_2d=True)
    if rate != 8000:
        raise ValueError(f"{wav}: {rate} Hz; the µ-law stream must be 8000 Hz")
    out.write_bytes(ulaw_encode(pcm[:, 0]).tobytes())
    return out


def udp_listening(port: int, host: str = HOST) -> bool:
    """True if some socket is bound to host:port/UDP (``ss -lun``)."""
    out = subprocess.run(["ss", "-Hlun"], check=False, capture_output=True, text=True, timeout=5).stdout
    return any(f"{host}:{port}" == cols[3] for cols in (line.split() for line in out.splitlines()) if len(cols) > 3)


def sip_options_answered(port: int, timeout_s: float = 0.3) -> bool:
    """True if an OPTIONS to 127.0.0.1:port gets any SIP response."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        s.settimeout(timeout_s)
        lport = s.getsockname()[1]
        tag = uuid.uuid4().hex[:10]
        msg = (f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {HOST}:{lport};branch=z9hG4bK{tag};rport\r\n"
               f"From: <sip:probe@{HOST}>;tag={tag}\r\nTo: <sip:{HOST}:{port}>\r\n"
               f"Call-ID: {tag}@{HOST}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), (HOST, port))
        try:
            data, _ = s.recvfrom(65535)
        except (TimeoutError, ConnectionRefusedError, OSError):
            return False
        return data.startswith(b"SIP/2.0 ")


@dataclass
class Peer:
    """A running peer process; ``log()`` is its stdout/stderr plus any trace files."""

    name: str
    proc: subprocess.Popen[bytes]
    workdir: Path
    port: int
    log_path: Path
    extra: dict[str, int] = field(default_factory=dict)

    def log(self) -> str:
        parts = [self.log_path.read_text(errors="replace") if self.log_path.exists() else ""]
        for trace in sorted(self.workdir.glob("*_messages.log")) + sorted(self.workdir.glob("*_errors.log")):
            parts.append(f"--- {trace.name}\n{trace.read_text(errors='replace')}")
        return "\n".join(parts)

    def messages(self) -> list[TracedMessage]:
        """SIP messages from SIPp's -trace_msg file (sent and received, in order)."""
        return parse_sipp_messages(self.workdir)

    def wait_exit(self, timeout_s: float) -> int:
        """Wait for the peer to exit on its own (e.g. SIPp after ``-m 1``); returns its exit code."""
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise PeerError(f"{self.name} still running after {timeout_s} s\n{self.log()}") from None


def _wait_until(check: Callable[[], bool], what: str, peer: Peer, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if peer.proc.poll() is not None:
            raise PeerError(f"{peer.name} exited with {peer.proc.returncode} before {what}\n{peer.log()}")
        if check():
            return
        time.sleep(0.05)
    raise PeerError(f"timed out after {timeout_s} s waiting for {what}\n{peer.log()}")


def _stop(peer: Peer) -> None:
    """SIGTERM the peer's process group, then SIGKILL after STOP_GRACE_S."""
    if peer.proc.poll() is None:
        try:
            os.killpg(peer.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            peer.proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(peer.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            peer.proc.wait(timeout=STOP_GRACE_S)
    else:
        # The leader is gone; children (Kamailio's workers) may still be in the group.
        try:
            os.killpg(peer.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _start(name: str, cmd: list[str], workdir: Path, port: int) -> Peer:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return Peer(name, proc, workdir, port, log_path)


@contextmanager
def sipp_uas(port: int, audio_ulaw: Path, pause_ms: int, tmpdir: Path,
             media_port: int | None = None) -> Iterator[Peer]:
    """SIPp UAS on 127.0.0.1:port for one call: 100/180/200 with PCMU SDP, streams ``audio_ulaw``
    (raw µ-law) after the ACK, BYE ``pause_ms`` ms after the ACK, expects 200 to the BYE."""
    sipp = require("sipp", "sip-tester")
    workdir = Path(tmpdir) / f"sipp-uas-{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(audio_ulaw, workdir / UAS_AUDIO_NAME)
    media_port = media_port or free_udp_port_pair()
    cmd = [sipp, "-sf", str(UAS_SCENARIO), "-i", HOST, "-p", str(port), "-mi", HOST, "-mp", str(media_port),
           "-d", str(int(pause_ms)), "-m", "1", "-nostdin", "-trace_msg", "-trace_err",
           "-message_file", str(workdir / "uas_messages.log"), "-error_file", str(workdir / "uas_errors.log")]
    peer = _start("sipp-uas", cmd, workdir, port)
    peer.extra["media_port"] = media_port
    try:
        _wait_until(lambda: udp_listening(port), f"SIPp UAS listening on {HOST}:{port}/udp", peer)
        yield peer
    finally:
        _stop(peer)


@contextmanager
def kamailio(port: int, lab_port: int, user: str, password: str, tmpdir: Path) -> Iterator[Peer]:
    """Kamailio on 127.0.0.1:port: registrar (digest, ``user``/``password``), proxy-auth for
    INVITEs from registered users, relays them to 127.0.0.1:lab_port keeping the Request-URI user."""
    exe = require("kamailio", "kamailio")
    workdir = Path(tmpdir) / f"kamailio-{port}"
    rundir = workdir / "run"
    rundir.mkdir(parents=True, exist_ok=True)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", user):
        raise ValueError(f"user {user!r}: letters, digits, '_', '.', '-' only")
    if '"' in password or "\\" in password:
        raise ValueError("password must not contain '\"' or '\\'")
    cfg = workdir / "kamailio.cfg"
    cfg.write_text(KAMAILIO_TEMPLATE.read_text().replace("{{SIP_PORT}}", str(port))
                   .replace("{{LAB_PORT}}", str(lab_port)).replace("{{USER}}", user))
    # The password goes in as a pre-processor define, so it is never written to a file.
    cmd = [exe, "-f", str(cfg), "-A", f'HARNESS_TEST_PASSWORD="{password}"', "-DD", "-E", "-Y", str(rundir),
           "-P", str(rundir / "kamailio.pid"), "-w", str(workdir), "-m", "32", "-M", "4"]
    peer = _start("kamailio", cmd, workdir, port)
    try:
        _wait_until(lambda: udp_listening(port) and sip_options_answered(port),
                    f"Kamailio answering OPTIONS on {HOST}:{port}/udp", peer)
        yield peer
    finally:
        _stop(peer)


@dataclass(frozen=True)
class TracedMessage:
    """One SIP message from a SIPp -trace_msg file."""

    direction: str  # "sent" | "received"
    at: datetime
    text: str

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0] if self.text else ""

    @property
    def key(self) -> str:
        """``"INVITE"`` for a request, ``"SIP/2.0 200"`` for a response."""
        words = self.first_line.split()
        return " ".join(words[:2]) if self.first_line.startswith("SIP/2.0") else (words[0] if words else "")

    def header(self, name: str) -> str | None:
        for line in self.text.splitlines()[1:]:
            if not line.strip():
                return None
            if line.lower().startswith(name.lower() + ":"):
                return line.split(":", 1)[1].strip()
        return None


def parse_sipp_messages(workdir: Path) -> list[TracedMessage]:
    """SIP messages in the SIPp -trace_msg files under ``workdir``, in order."""
    out: list[TracedMessage] = []
    for trace in sorted(workdir.glob("*_messages.log")):
        text = trace.read_text(errors="replace")
        # Each entry: "---- <date> <time>\nUDP message sent (N bytes):\n\n<message>" ("received [N] bytes :")
        for m in re.finditer(r"^-{20,} (\S+ \S+)\n\S+ message (sent|received)[^\n]*:\n\n(.*?)(?=^-{20,} |\Z)",
                             text, re.S | re.M):
            out.append(TracedMessage(m.group(2), datetime.fromisoformat(m.group(1)), m.group(3).strip()))
    return out


def flow(messages: list[TracedMessage]) -> list[str]:
    """``["sent: INVITE", "received: SIP/2.0 100", ...]``."""
    return [f"{m.direction}: {m.key}" for m in messages]


@dataclass
class SippRun:
    """What a SIPp client run really did."""

    exit_code: int
    messages: list[TracedMessage]
    log: str
    successful_calls: int
    failed_calls: int

    def flow(self) -> list[str]:
        return flow(self.messages)


def _stat_counts(workdir: Path) -> tuple[int, int]:
    """(successful, failed) cumulative call counts from SIPp's -trace_stat CSV."""
    stats = sorted(workdir.glob("*.csv"))
    if not stats:
        return 0, 0
    lines = [ln for ln in stats[-1].read_text().splitlines() if ln.strip()]
    if len(lines) < 2:
        return 0, 0
    head, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(head, last))
    return int(row.get("SuccessfulCall(C)", 0) or 0), int(row.get("FailedCall(C)", 0) or 0)


def run_sipp_uac(scenario: Path, target_port: int, tmpdir: Path, *, service: str = "caller",
                 keys: dict[str, str] | None = None, auth: tuple[str, str] | None = None,
                 timeout_s: float = 20.0) -> SippRun:
    """Run SIPp as a client for exactly one call against 127.0.0.1:target_port; never raises on
    a failed call (check ``successful_calls`` and ``flow()``), only on a hang."""
    sipp = require("sipp", "sip-tester")
    workdir = Path(tmpdir) / f"sipp-uac-{scenario.stem}-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    cmd = [sipp, f"{HOST}:{target_port}", "-sf", str(scenario), "-i", HOST, "-p", str(free_udp_port()),
           "-mi", HOST, "-mp", str(free_udp_port_pair()), "-s", service, "-m", "1", "-nostdin",
           "-timeout", f"{int(timeout_s)}s", "-timeout_error", "-trace_msg", "-trace_err", "-trace_stat",
           "-stf", str(workdir / "uac_stat.csv"), "-fd", "1",
           "-message_file", str(workdir / "uac_messages.log"), "-error_file", str(workdir / "uac_errors.log")]
    for k, v in (keys or {}).items():
        cmd += ["-key", k, v]
    if auth is not None:
        cmd += ["-au", auth[0], "-ap", auth[1]]
    log_path = workdir / "sipp-uac.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    peer = Peer("sipp-uac", proc, workdir, 0, log_path)
    try:
        code = proc.wait(timeout=timeout_s + 5)
    except subprocess.TimeoutExpired:
        _stop(peer)
        raise PeerError(f"SIPp UAC ({scenario.name}) hung for {timeout_s + 5} s\n{peer.log()}") from None
    ok, failed = _stat_counts(workdir)
    return SippRun(code, parse_sipp_messages(workdir), peer.log(), ok, failed)


@dataclass
class RtpPacket:
    payload_type: int
    seq: int
    timestamp: int
    payload: bytes


class RtpSink:
    """Collects RTP packets arriving on 127.0.0.1:port in a thread (use as a context manager)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.packets: list[RtpPacket] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((HOST, port))
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rtp-sink-{port}", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) >= 12 and data[0] >> 6 == 2:
                self.packets.append(RtpPacket(data[1] & 0x7F, int.from_bytes(data[2:4], "big"),
                                              int.from_bytes(data[4:8], "big"), data[12:]))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def audio(self) -> bytes:
        """Payload bytes in sequence order."""
        return b"".join(p.payload for p in sorted(self.packets, key=lambda p: p.seq))


def ulaw_tone(path: Path, seconds: float, freq_hz: float = 440.0) -> Path:
    """A raw µ-law sine at -10 dBFS (for tests that need a stream but not real audio)."""
    t = np.arange(int(seconds * 8000)) / 8000
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)
    path.write_bytes(ulaw_encode(pcm).tobytes())
    return path
