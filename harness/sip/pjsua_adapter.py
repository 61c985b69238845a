"""The pjsua2 adapter: the only module that imports ``pjsua2``.

One ``SipEngine`` owns one pjsua2 Endpoint (one process, at most
``seam.MAX_CALLS_PER_PROCESS`` calls: the wheel's compile-time PJSUA_MAX_CALLS). It is
pumped from a single thread (``threadCnt=0``, ``mainThreadOnly=True``) through ``poll``. Every SIP message
pjsua logs is captured, split per Call-ID into ``<call_uid>.sip.log`` (with
Authorization values masked) and turned into the call's signalling timeline.

Lifetime rules of this wheel: drop the Python reference to a ``Call`` once it is
DISCONNECTED (a stale one destroyed later hangs up whichever new call reuses its id), wrap
every callback in try/except (a traceback keeps objects alive), and clear everything and
``gc.collect()`` before ``libDestroy`` (or the process aborts at exit).

Three behaviours callers rely on:

- pjsua reports DISCONNECTED as soon as *we* hang up, before the closing exchange
  (our CANCEL's 200 and 487 + ACK, or the 200 to our BYE) has crossed the wire. A
  call is therefore finished only once that exchange is complete, or after
  ``CLOSE_LINGER_S``, so its ``.sip.log`` and timeline hold the whole dialog.
- A call that never had media (busy, rejected, cancelled while ringing without
  early media) has no WAV: ``recording`` is null and no ``<call_uid>.wav`` is written.
- A call's record comes back only once its WAV is closed and final. Since pjsip 2.15 the
  conference bridge removes a port on its own clock thread: dropping the recorder only
  queues the removal, and the WAV writer flushes its last buffer (up to 0.25 s at 8 kHz),
  writes the header and closes the file later, on that thread. ``poll`` therefore keeps
  the call until no file descriptor of this process refers to the WAV, without blocking
  the other calls. If that takes longer than ``recording_close_timeout_s`` (the SIP stack
  is stuck), the record is returned with ``error`` saying so and ``recording`` null: a
  file that may still change is neither measured nor handed on to be hashed and analysed.
  The header is never repaired here (``recording_repaired`` means a worker died: pool.py).
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pjsua2 as pj

from harness.audio.wav import open_in_process, wav_duration_s, wav_header_consistent
from harness.clock import utc_iso
from harness.errors import BadInput, InfraError
from harness.sip.seam import MAX_CALLS_PER_PROCESS, Account
from harness.sip.timeline import SipMsg, build_record, write_record
from harness.sip.uri import env_name_problem, host_of, unset_env_message
from harness.vocab import CallRecord, CallSpec

CLOSE_LINGER_S = 2.0  # longest wait for the far end to complete our CANCEL/BYE before the call is written
# Longest wait, from DISCONNECTED, for pjsua's media clock thread to close a call's WAV. It
# normally takes one clock tick (measured 0-12 ms idle); the margin is for a starved machine.
RECORDING_CLOSE_TIMEOUT_S = 5.0
RECORDING_GC_AFTER_S = 0.5  # still open this long after DISCONNECTED: collect cycles once (one may hold the recorder)
_MSG_RE = re.compile(r"\b(TX|RX) \d+ bytes (Request|Response) msg (\S+)")
_CALLID_RE = re.compile(r"^(?:Call-ID|i)\s*:\s*(\S+)", re.MULTILINE | re.IGNORECASE)
_AUTH_RE = re.compile(r"^((?:Proxy-)?Authorization\s*:\s*)(\S+)(.*)$", re.MULTILINE | re.IGNORECASE)


def mask_auth(text: str) -> str:
    """Mask the values of Authorization and Proxy-Authorization headers, keeping the scheme."""
    return _AUTH_RE.sub(lambda m: f"{m.group(1)}{m.group(2)} <masked>", text)


# pjsip error names (the "(PJ_...)" at the end of pj.Error.reason) -> what a person reads
_PJ_PLAIN = {
    "PJ_ERESOLVE": "host not found",
    "PJSIP_EINVALIDURI": "not a valid SIP URI",
    "PJSIP_EINVALIDREQURI": "not a valid SIP URI",
    "PJ_ETOOMANY": "too many calls in this SIP worker",
    "PJ_ENOMEM": "out of memory",
    "PJSIP_ETPNOTSUITABLE": "no transport for this address (IPv4/IPv6 or protocol mismatch)",
    "PJSIP_EUNSUPTRANSPORT": "unsupported transport",
}


def pj_error_text(exc: pj.Error, host: str | None = None) -> str:
    """One clean line for a pjsua2 error: its reason, never the C++ call and source line of ``info()``."""
    reason = str(getattr(exc, "reason", "") or "").strip()
    code = re.search(r"\((PJ[A-Z0-9_]*)\)\s*$", reason)
    plain = _PJ_PLAIN.get(code.group(1)) if code else None
    if plain is None:
        # e.g. "gethostbyname() has returned error (PJ_ERESOLVE)": drop the C function's name
        plain = re.sub(r"^[A-Za-z_]\w*\(\)\s*(has returned error\s*)?", "", reason).strip() or \
            f"pjsip status {getattr(exc, 'status', '?')}"
    if host and plain == "host not found":
        plain = f"{plain} ({host})"
    return " ".join(plain.split())


_PASSWORD_ENV_OPTION = "--password-env (password_env in a campaign)"


def resolve_password(account: Account) -> str | None:
    """Read the account password from its environment variable or 0600 credentials file.

    The variable's name is repeated in a message only when it reads as a name: a
    password pasted where the name belongs must not be printed.
    """
    if account.password_env:
        problem = env_name_problem(account.password_env, _PASSWORD_ENV_OPTION)
        if problem:
            raise BadInput(problem)
        value = os.environ.get(account.password_env)
        if value is None:
            raise BadInput(unset_env_message(account.password_env, _PASSWORD_ENV_OPTION))
        return value
    if account.credentials_file:
        path = Path(account.credentials_file)
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise BadInput(f"{path}: cannot read credentials file: {exc.strerror}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise BadInput(f"{path}: credentials file must not be readable by others (chmod 600 {path})")
        return path.read_text().strip()
    return None


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 (C-level prints) for the duration of the block."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class _LogSink(pj.LogWriter):
    """Receives pjsua's log; keeps SIP messages per Call-ID with the time they passed."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.by_call_id: dict[str, list[SipMsg]] = {}
        self.other: list[SipMsg] = []

    def write(self, entry: pj.LogEntry) -> None:
        try:
            msg = entry.msg
            m = _MSG_RE.search(msg)
            if m is None:
                return
            now = time.monotonic()
            direction, kind, what = m.group(1), m.group(2), m.group(3)
            parts = what.split("/")
            code: int | None = None
            if kind == "Response":
                code = int(parts[0]) if parts[0].isdigit() else None
                method = parts[1] if len(parts) > 1 else ""
            else:
                method = parts[0]
            cid = _CALLID_RE.search(msg)
            item = SipMsg(now, direction, kind, method, code, mask_auth(msg.rstrip()))
            with self.lock:
                if cid:
                    self.by_call_id.setdefault(cid.group(1), []).append(item)
                else:
                    self.other.append(item)
        except Exception:  # noqa: BLE001, S110 - a callback must never raise into pjsua
            pass

    def take(self, call_id: str) -> list[SipMsg]:
        with self.lock:
            return self.by_call_id.pop(call_id, [])


def _prefer_g711(ep: pj.Endpoint) -> None:
    """Offer G.711 first (what telephone networks carry), keep GSM/iLBC as fallbacks, drop wideband."""
    ranks = {"PCMU/8000": 255, "PCMA/8000": 254, "GSM/8000": 120, "iLBC/8000": 110}
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, ranks.get(codec.codecId.rsplit("/", 1)[0], 0))


class _Account(pj.Account):
    def __init__(self) -> None:
        super().__init__()
        self.reg_code: int | None = None
        self.reg_reason = ""

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        try:
            self.reg_code = int(prm.code)
            self.reg_reason = str(prm.reason)
        except Exception:  # noqa: BLE001, S110 - a callback must never raise into pjsua
            pass


@dataclass
class _Active:
    spec: CallSpec
    call: _Call | None
    start_mono: float  # when makeCall was called; becomes the INVITE's send time once that is known
    wav_path: Path
    call_id: str = ""
    recorder: pj.AudioMediaRecorder | None = None
    rec_port: int | None = None
    media_start_mono: float | None = None
    answered_mono: float | None = None
    disconnected_mono: float | None = None
    local_hangup: str | None = None  # "cancel" or "bye" once we asked to hang up
    local_hangup_mono: float | None = None
    dtmf_sent_mono: float | None = None
    last_code: int | None = None
    last_reason: str | None = None
    events: list[tuple[float, str, int | None, str | None]] = field(default_factory=list)
    recording_closed: bool = False  # the WAV exists and no descriptor of this process refers to it
    recording_unclosed_note: str | None = None  # set when the close wait timed out
    gc_done: bool = False  # the one gc.collect() of a close that is slow to come has run
    done: bool = False
    partial_due: bool = False  # a callback changed the timeline; poll() writes the partial file


class _Call(pj.Call):
    def __init__(self, acc: _Account, engine: SipEngine, uid: str) -> None:
        super().__init__(acc)
        self.engine = engine
        self.uid = uid

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        try:
            self.engine._on_state(self.uid, self)
        except Exception as exc:  # noqa: BLE001
            self.engine._callback_error(self.uid, exc)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        try:
            self.engine._on_media(self.uid, self)
        except Exception as exc:  # noqa: BLE001
            self.engine._callback_error(self.uid, exc)


class SipEngine:
    """One pjsua2 Endpoint: places up to four calls at once and records them.

    Use ``start()``, then ``begin(spec)`` for each call and ``poll()`` in a loop
    until the finished ``CallRecord`` objects come back; ``stop()`` at the end.
    """

    def __init__(self, account: Account | None = None, clock_rate_hz: int = 8000,
                 bind_address: str = "0.0.0.0", log_dir: Path | None = None,
                 recording_close_timeout_s: float = RECORDING_CLOSE_TIMEOUT_S) -> None:
        self.account = account or Account()
        self.recording_close_timeout_s = recording_close_timeout_s
        self.clock_rate_hz = clock_rate_hz
        self.bind_address = bind_address
        self.log_dir = log_dir
        self._ep: pj.Endpoint | None = None
        self._acc: _Account | None = None
        self._sink: _LogSink | None = None
        self._active: dict[str, _Active] = {}
        self._finished: list[CallRecord] = []
        self._mono0 = time.monotonic()
        self._wall0 = time.time()
        self.local_port: int | None = None
        self._registered = False

    # -- life cycle -------------------------------------------------------------------------
    def start(self, register_timeout_s: float = 10.0) -> None:
        """Create the Endpoint, the UDP transport and the account; register if configured."""
        credential = resolve_password(self.account)
        if self.account.registrar and not self.account.username:
            raise BadInput("a registrar needs a username (--username)")
        try:
            ep = pj.Endpoint()
            with _quiet_stdout():  # libCreate logs to stdout before any log config applies
                ep.libCreate()
            cfg = pj.EpConfig()
            cfg.uaConfig.threadCnt = 0
            cfg.uaConfig.mainThreadOnly = True
            cfg.uaConfig.maxCalls = MAX_CALLS_PER_PROCESS
            cfg.uaConfig.userAgent = "harness-mystery-shopper"
            self._sink = _LogSink()
            cfg.logConfig.writer = self._sink
            cfg.logConfig.level = 4
            cfg.logConfig.consoleLevel = 4  # the writer replaces the console and gets what passes this level
            cfg.logConfig.msgLogging = True
            cfg.medConfig.clockRate = self.clock_rate_hz
            cfg.medConfig.sndClockRate = self.clock_rate_hz
            cfg.medConfig.channelCount = 1
            cfg.medConfig.ecTailLen = 0
            cfg.medConfig.noVad = True
            ep.libInit(cfg)
            tcfg = pj.TransportConfig()
            tcfg.port = 0
            if self.bind_address != "0.0.0.0":
                tcfg.boundAddress = self.bind_address
            tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
            self.local_port = int(ep.transportGetInfo(tid).localName.split(":")[-1])
            ep.libStart()
            ep.audDevManager().setNullDev()
            _prefer_g711(ep)
            self._ep = ep
            self._acc = _Account()
            self._acc.create(self._account_config(credential))
        except pj.Error as exc:
            raise InfraError(f"SIP stack failed to start: {pj_error_text(exc)}") from exc
        if self.account.registrar:
            try:
                self._wait_registration(register_timeout_s)
            except InfraError:
                # Tear down without un-REGISTERing: a refused account must not send more REGISTERs.
                self._registered = False
                self.stop()
                raise
            self._registered = True

    def _account_config(self, credential: str | None) -> pj.AccountConfig:
        acc = self.account
        acfg = pj.AccountConfig()
        host = "127.0.0.1" if self.bind_address == "0.0.0.0" else self.bind_address
        if acc.registrar:
            domain = acc.domain or acc.registrar.split(":", 1)[1].split(";")[0]
            acfg.idUri = f"sip:{acc.username}@{domain}"
            acfg.regConfig.registrarUri = acc.registrar
            acfg.regConfig.retryIntervalSec = 0  # no retry storm after a refusal
            acfg.regConfig.registerOnAdd = True
        else:
            user = acc.username or "harness"
            acfg.idUri = f"sip:{user}@{acc.domain or host}"
        proxy = acc.proxy or acc.registrar
        if proxy:
            acfg.sipConfig.proxies.append(proxy + (";lr" if ";lr" not in proxy else ""))
        if acc.username and credential is not None:
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", acc.username, 0, credential))
        acfg.mediaConfig.transportConfig.port = 0
        if self.bind_address != "0.0.0.0":
            acfg.mediaConfig.transportConfig.boundAddress = self.bind_address
        acfg.natConfig.iceEnabled = False
        return acfg

    def _wait_registration(self, timeout_s: float) -> None:
        assert self._acc is not None and self._ep is not None
        deadline = time.monotonic() + timeout_s
        while self._acc.reg_code is None and time.monotonic() < deadline:
            self._ep.libHandleEvents(10)
        code, reason = self._acc.reg_code, self._acc.reg_reason
        if code is None:
            raise InfraError(f"registration to {self.account.registrar}: no answer within {timeout_s:g} s")
        if code // 100 != 2:
            raise InfraError(f"registration to {self.account.registrar} refused: {code} {reason}")

    def stop(self) -> None:
        """Hang up what is left, unregister, and destroy the Endpoint cleanly."""
        ep = self._ep
        if ep is None:
            return
        for uid in list(self._active):
            self._hangup(self._active[uid], "bye")
        # the far end's answer to our BYE, then each recording's close on the media clock
        deadline = time.monotonic() + CLOSE_LINGER_S + self.recording_close_timeout_s + 0.5
        while self._active and time.monotonic() < deadline:
            self.poll(20)
        for act in self._active.values():
            act.call = None
            act.recorder = None
        self._active.clear()
        if self._acc is not None:
            try:
                if self.account.registrar and self._registered:
                    self._acc.reg_code = None
                    self._acc.setRegistration(False)
                    end = time.monotonic() + 1.0  # the registrar's answer, or give up: we are leaving
                    while self._acc.reg_code is None and time.monotonic() < end:
                        ep.libHandleEvents(10)
                self._acc.shutdown()
            except pj.Error:
                pass
        self._acc = None
        gc.collect()
        try:
            ep.libDestroy()
        except pj.Error:
            pass
        self._ep = None
        gc.collect()

    # -- calls --------------------------------------------------------------------------------
    @property
    def active_count(self) -> int:
        """Calls begun and not yet returned by ``poll`` (one still closing its dialog counts)."""
        return len(self._active)

    def begin(self, spec: CallSpec) -> None:
        """Send the INVITE for ``spec``; the result comes back from ``poll``."""
        assert self._ep is not None and self._acc is not None, "start() first"
        # pjsua frees a call's slot at DISCONNECTED; a call still closing its dialog holds none.
        if sum(1 for a in self._active.values() if a.disconnected_mono is None) >= MAX_CALLS_PER_PROCESS:
            raise InfraError("this SIP worker already holds 4 calls")
        spec.out_dir.mkdir(parents=True, exist_ok=True)
        act = _Active(spec=spec, call=None, start_mono=time.monotonic(),
                      wav_path=spec.out_dir / f"{spec.call_uid}.wav")
        self._active[spec.call_uid] = act
        call = _Call(self._acc, self, spec.call_uid)
        act.call = call
        try:
            call.makeCall(spec.target, pj.CallOpParam(True))
            act.call_id = call.getInfo().callIdString
            # The ring timeout and the maximum call length count from the INVITE on the wire,
            # like every time in the timeline (pjsua logs it from inside makeCall).
            if self._sink is not None:
                with self._sink.lock:
                    sent = [m.mono_s for m in self._sink.by_call_id.get(act.call_id, [])
                            if m.direction == "TX" and m.method == "INVITE"]
                if sent:
                    act.start_mono = sent[0]
        except pj.Error as exc:
            act.call = None
            act.last_reason = f"could not send INVITE to {spec.target}: {pj_error_text(exc, host_of(spec.target))}"
            act.events.append((time.monotonic(), "error", None, act.last_reason))
            self._finish(act, error=act.last_reason)
            return
        self._write_partial(act)

    def poll(self, timeout_ms: int = 10) -> list[CallRecord]:
        """Pump pjsua once, apply timers, and return the calls that have ended since."""
        assert self._ep is not None
        self._ep.libHandleEvents(timeout_ms)
        for act in list(self._active.values()):
            if act.partial_due and not act.done:
                self._write_partial(act)
        now = time.monotonic()
        for act in list(self._active.values()):
            if act.done or act.call is None:
                continue
            spec = act.spec
            if (act.answered_mono is None and act.local_hangup is None
                    and now - act.start_mono >= spec.ring_timeout_s):
                self._hangup(act, "cancel")
            elif act.local_hangup is None and (
                    now - act.start_mono >= spec.max_call_s
                    or (spec.max_answered_s is not None and act.answered_mono is not None
                        and now - act.answered_mono >= spec.max_answered_s)):
                self._hangup(act, "bye")
            elif (spec.dtmf and act.answered_mono is not None and act.dtmf_sent_mono is None
                  and act.local_hangup is None and now - act.answered_mono >= spec.dtmf_after_s):
                try:
                    act.call.dialDtmf(spec.dtmf)
                    act.dtmf_sent_mono = now
                    act.events.append((now, "dtmf_sent", None, spec.dtmf))
                except pj.Error as exc:
                    act.events.append((now, "dtmf_failed", None, pj_error_text(exc)))
        for act in [a for a in self._active.values() if a.disconnected_mono is not None and not a.done]:
            assert act.disconnected_mono is not None
            if not (self._closing_done(act) or now - act.disconnected_mono >= CLOSE_LINGER_S):
                continue
            if self._recording_settled(act, now):
                self._finish(act)
        out, self._finished = self._finished, []
        return out

    def hangup_all(self) -> None:
        """Ask every call in progress to end (CANCEL or BYE as fits its state)."""
        for act in self._active.values():
            self._hangup(act, "bye" if act.answered_mono is not None else "cancel")

    def _closing_done(self, act: _Active) -> bool:
        """True once the exchange that ends the call has completed on the wire.

        Our CANCEL is complete when the INVITE got its final response (487, or a 200
        that crossed it); our BYE when the BYE got a final response. A far-end BYE or
        rejection is complete at DISCONNECTED (pjsua has already sent the 200 or ACK).
        """
        if act.local_hangup is None or self._sink is None or not act.call_id:
            return True
        with self._sink.lock:
            msgs = list(self._sink.by_call_id.get(act.call_id, []))
        sent = [i for i, m in enumerate(msgs) if m.direction == "TX" and m.kind == "Request"
                and m.method == ("CANCEL" if act.local_hangup == "cancel" else "BYE")]
        if not sent:
            return False
        want = "INVITE" if act.local_hangup == "cancel" else "BYE"
        return any(m.direction == "RX" and m.kind == "Response" and m.method == want and (m.code or 0) >= 200
                   for m in msgs[sent[0] + 1:])

    def _recording_settled(self, act: _Active, now: float) -> bool:
        """True once the call's WAV is closed and final (or it has none), or the wait has timed out.

        pjsua closes the file on its media clock thread some time after the recorder was
        dropped at DISCONNECTED; until then its last buffer and header may still be written.
        A timeout is noted on the call (``recording_unclosed_note``), never repaired.
        """
        assert act.disconnected_mono is not None
        if act.recording_closed or act.recording_unclosed_note is not None or not act.wav_path.exists():
            return True
        if not open_in_process(act.wav_path):
            act.recording_closed = True
            act.events.append((now, "recorder_closed", None, None))
            return True
        waited_s = now - act.disconnected_mono
        if waited_s >= RECORDING_GC_AFTER_S and not act.gc_done:
            act.gc_done = True
            gc.collect()
        if waited_s >= self.recording_close_timeout_s:
            act.recording_unclosed_note = (
                f"recording {act.wav_path.name} was still open {waited_s:.1f} s after the call ended "
                "(the SIP stack did not close it): not measured, hashed or analysed; the file is kept")
            act.events.append((now, "recorder_not_closed", None, None))
            return True
        return False

    def _hangup(self, act: _Active, how: str) -> None:
        if act.call is None or act.local_hangup is not None or act.disconnected_mono is not None:
            return
        how = "bye" if act.answered_mono is not None else "cancel"  # what pjsua really sends
        now = time.monotonic()
        act.local_hangup = how
        act.local_hangup_mono = now
        try:
            prm = pj.CallOpParam(True)
            act.call.hangup(prm)
        except pj.Error as exc:
            act.events.append((now, "hangup_failed", None, pj_error_text(exc)))

    # -- callbacks (run inside libHandleEvents) -------------------------------------------------
    def _on_state(self, uid: str, call: _Call) -> None:
        act = self._active.get(uid)
        if act is None:
            return
        ci = call.getInfo()
        now = time.monotonic()
        if not act.call_id:
            act.call_id = ci.callIdString
        act.last_code = int(ci.lastStatusCode)
        act.last_reason = str(ci.lastReason)
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and act.answered_mono is None:
            act.answered_mono = now
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            act.disconnected_mono = now
            act.events.append((now, "disconnected", act.last_code, act.last_reason))
            # Drop the recorder (pjsua closes its WAV on the media clock thread, later: poll
            # waits for that) and the Call reference: a stale Call destroyed later would hang
            # up a reused call id.
            act.recorder = None
            act.call = None
        # Not written here: pjsua calls this for a 183 with SDP after the audio stream exists
        # and before onCallMediaState connects the recorder. A file write that blocks (100-150 ms
        # on a busy disk) left that much RTP queued in the jitter buffer, which pjmedia then
        # discarded 10 ms at a time through the first seconds of the recording.
        act.partial_due = True

    def _on_media(self, uid: str, call: _Call) -> None:
        act = self._active.get(uid)
        if act is None:
            return
        ci = call.getInfo()
        for idx, mi in enumerate(ci.media):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            am = call.getAudioMedia(idx)
            if act.recorder is None:
                rec = pj.AudioMediaRecorder()
                rec.createRecorder(str(act.wav_path))
                act.recorder = rec
                act.media_start_mono = time.monotonic()
                act.events.append((act.media_start_mono, "media_start", None, None))
            port = am.getPortId()
            if port != act.rec_port:
                am.startTransmit(act.recorder)
                act.rec_port = port
        act.partial_due = True

    def _callback_error(self, uid: str, exc: Exception) -> None:
        act = self._active.get(uid)
        if act is not None:
            act.events.append((time.monotonic(), "callback_error", None, repr(exc)[:200]))

    # -- results ------------------------------------------------------------------------------
    def _utc(self, mono_s: float) -> str:
        return utc_iso(self._wall0 + (mono_s - self._mono0))

    def _finish(self, act: _Active, error: str | None = None) -> None:
        act.done = True
        act.recorder = None
        act.call = None
        gc.collect()
        msgs = self._sink.take(act.call_id) if (self._sink and act.call_id) else []
        record = build_record(act.spec, act.call_id or None, msgs, act, self._utc, error)
        note: str | None = act.recording_unclosed_note
        if note is None and act.wav_path.exists():
            # closed and final (poll waited for it): measured once, as it will be hashed
            record.recording = act.wav_path.name
            record.recording_duration_s = round(wav_duration_s(act.wav_path), 3)
            if record.media_start_s is not None and record.ended_s is not None:
                record.recording_gap_s = round(
                    (record.ended_s - record.media_start_s) - record.recording_duration_s, 3)
            if not wav_header_consistent(act.wav_path):
                note = f"recording {act.wav_path.name}: its header does not match its length (not repaired)"
        if note is not None:
            record.error = f"{record.error}; {note}" if record.error else note
        sip_log = act.spec.out_dir / f"{act.spec.call_uid}.sip.log"
        with open(sip_log, "w") as f:
            f.writelines(f"--- {self._utc(m.mono_s)} {m.direction}\n{m.text}\n" for m in msgs)
        record.sip_log = sip_log.name
        write_record(record, act.spec.out_dir)
        partial = act.spec.out_dir / f"{act.spec.call_uid}.events.partial.json"
        partial.unlink(missing_ok=True)
        self._active.pop(act.spec.call_uid, None)
        self._finished.append(record)

    def _write_partial(self, act: _Active) -> None:
        """Keep a partial timeline on disk so a killed worker's call is not lost."""
        act.partial_due = False
        msgs = list(self._sink.by_call_id.get(act.call_id, [])) if (self._sink and act.call_id) else []
        rec = build_record(act.spec, act.call_id or None, msgs, act, self._utc, None)
        path = act.spec.out_dir / f"{act.spec.call_uid}.events.partial.json"
        path.write_text(rec.model_dump_json(indent=1))


def place_one(spec: CallSpec, account: Account | None = None, poll_ms: int = 10,
              bind_address: str = "0.0.0.0") -> CallRecord:
    """Place one call in this process and block until it has ended (``harness call``)."""
    engine = SipEngine(account, bind_address=bind_address)
    engine.start()
    try:
        engine.begin(spec)
        deadline = time.monotonic() + spec.max_call_s + 40.0
        while time.monotonic() < deadline:
            done = engine.poll(poll_ms)
            if done:
                return done[0]
        raise InfraError(f"call {spec.call_uid} did not end within {spec.max_call_s + 40:g} s")
    finally:
        engine.stop()


__all__ = [
    "SipEngine",
    "mask_auth",
    "place_one",
    "resolve_password",
]
