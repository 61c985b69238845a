"""The lab PBX: many hotlines with declared behaviour, serving real SIP/RTP on loopback.

An asyncio UAS written independently of pjsua2 (so the harness is never only
tested against itself). One process handles hundreds of calls: one UDP socket for
SIP, one per call for RTP, and a single 20 ms media clock that sends every
stream's next G.711 frame. For each call it appends one JSON line of ground truth
(what it really did and when) to the truth file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from harness.audio import g711
from harness.clock import utc_iso
from harness.errors import BadInput
from harness.lab import sipmsg
from harness.lab.scenario import Hotline, LabConfig, Step

log = logging.getLogger("harness.lab")

FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_S = 0.020
T1_S = 0.5
MIN_PHASE_S = 0.025  # gaps shorter than a frame between two sources are not phases
LEAD_SILENCE_DBFS = -45.0  # a media file is audible from its first frame above this level
SPEECH_DBFS = -40.0  # caller energy above this counts as speaking (agent replies)
LATE_TICK_S = 0.06  # the media clock logs a warning when a tick is this late (a hole in every call's RTP)


class CallEnded(Exception):
    """Raised inside a hotline script when the call is over."""


def load_media(media_dir: Path, names: set[str]) -> dict[str, np.ndarray]:
    """Load the WAVs the hotlines use as 8 kHz int16 mono arrays."""
    out: dict[str, np.ndarray] = {}
    for name in sorted(names):
        path = media_dir / name
        if not path.exists():
            raise BadInput(f"{path}: lab media file is missing (prepare it with `make media`)")
        data, rate = sf.read(path, dtype="int16", always_2d=True)
        mono = data[:, 0]
        if rate != 8000:
            n = int(round(len(mono) * 8000 / rate))
            mono = np.interp(np.linspace(0, len(mono) - 1, n), np.arange(len(mono)), mono).astype(np.int16)
        out[name] = mono
    return out


class _Rtp(asyncio.DatagramProtocol):
    """One call's RTP: sends the current source on the lab clock, measures what the caller sends."""

    def __init__(self, remote: tuple[str, int], pt: int, te_pt: int | None) -> None:
        self.remote = remote
        self.pt = pt
        self.te_pt = te_pt
        self.transport: asyncio.DatagramTransport | None = None
        self.seq = random.randint(0, 0xFFFF)
        self.ts = random.randint(0, 0xFFFFFFFF)
        self.ssrc = random.randint(0, 0xFFFFFFFF)
        self.marker = True
        self.source: np.ndarray | None = None  # encoded G.711 bytes
        self.pos = 0
        self.loop_source = False
        self.limit: int | None = None  # samples to play from this source
        self.played = 0
        self.started_wall: float | None = None
        self.done: asyncio.Future[float] | None = None
        self.rx_loud_frames = 0
        self.rx_quiet_frames = 0
        self.caller_speaking = False
        self.speech_events: asyncio.Queue[str] = asyncio.Queue()
        self.dtmf: list[str] = []
        self._last_te_ts: int | None = None
        self.silence_byte = g711.ULAW_SILENCE if pt == 0 else g711.ALAW_SILENCE

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12:
            return
        pt = data[1] & 0x7F
        payload = data[12 + 4 * (data[0] & 0x0F):]
        if self.te_pt is not None and pt == self.te_pt and len(payload) >= 4:
            ts = int.from_bytes(data[4:8], "big")
            if ts != self._last_te_ts:
                self._last_te_ts = ts
                self.dtmf.append("0123456789*#ABCD"[payload[0]] if payload[0] < 16 else "?")
            return
        if pt != self.pt or not payload:
            return
        codes = np.frombuffer(payload, dtype=np.uint8)
        pcm = (g711.ulaw_decode(codes) if pt == 0 else g711.alaw_decode(codes)).astype(np.float64)
        rms = float(np.sqrt(np.mean(pcm * pcm))) + 1e-9
        loud = 20 * np.log10(rms / 32768.0) > SPEECH_DBFS
        if loud:
            self.rx_loud_frames += 1
            self.rx_quiet_frames = 0
            if not self.caller_speaking and self.rx_loud_frames >= 10:
                self.caller_speaking = True
                self.speech_events.put_nowait("start")
        else:
            self.rx_quiet_frames += 1
            self.rx_loud_frames = 0
            if self.caller_speaking and self.rx_quiet_frames >= 25:
                self.caller_speaking = False
                self.speech_events.put_nowait("end")

    def play(self, codes: np.ndarray | None, limit_samples: int | None, loop: bool) -> asyncio.Future[float]:
        """Switch the source; the future resolves with the wall time the last sample was sent."""
        if self.done is not None and not self.done.done():
            self.done.cancel()
        self.source, self.pos, self.played = codes, 0, 0
        self.limit, self.loop_source = limit_samples, loop
        self.started_wall = None
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    def tick(self, wall: float) -> None:
        """Send one 20 ms frame (the source's next samples, or digital silence)."""
        if self.transport is None:
            return
        frame = np.full(FRAME_SAMPLES, self.silence_byte, dtype=np.uint8)
        if self.source is not None and self.done is not None and not self.done.done():
            if self.started_wall is None:
                self.started_wall = wall
            total = self.limit if self.limit is not None else len(self.source)
            n = min(FRAME_SAMPLES, total - self.played)
            filled = 0
            while filled < n and len(self.source):
                take = min(n - filled, len(self.source) - self.pos)
                frame[filled:filled + take] = self.source[self.pos:self.pos + take]
                filled += take
                self.pos += take
                if self.pos >= len(self.source):
                    if not self.loop_source:
                        break
                    self.pos = 0
            self.played += filled
            if self.played >= total or filled < n or not len(self.source):
                self.source = None
                self.done.set_result(wall + filled / 8000.0)
        header = bytes([0x80, (0x80 if self.marker else 0) | self.pt]) + self.seq.to_bytes(2, "big") + \
            self.ts.to_bytes(4, "big") + self.ssrc.to_bytes(4, "big")
        self.marker = False
        try:
            self.transport.sendto(header + frame.tobytes(), self.remote)
        except OSError:
            pass
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + FRAME_SAMPLES) & 0xFFFFFFFF

    def close(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.cancel()
        if self.transport is not None:
            self.transport.close()
            self.transport = None


@dataclass
class LabCall:
    """One call the lab is serving, with what it has really done so far (the truth)."""

    call_id: str
    number: str
    invite: sipmsg.SipMessage
    addr: tuple[str, int]
    to_tag: str
    hotline: Hotline | None
    started_wall: float
    rng: random.Random
    branch: list[str] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)
    rtp: _Rtp | None = None
    sdp: bytes | None = None
    sent_180: bool = False
    answered_wall: float | None = None
    acked: bool = False
    final_code: int | None = None
    last_response: bytes | None = None
    hangup_by: str | None = None
    hangup_wall: float | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    local_cseq: int = 1
    note: str | None = None

    def open_phase(self, kind: str, start: float) -> None:
        self.close_phase(start)
        self.phases.append({"kind": kind, "start": start, "end": None})

    def lead_silence(self, lead_s: float) -> None:
        """The current phase's file opens with ``lead_s`` of silence: the truth records it as silence,
        and the phase from the first audible frame (ground truth is what the caller can hear)."""
        if lead_s <= 0 or not self.phases:
            return
        cur = self.phases[-1]
        self.phases.insert(len(self.phases) - 1, {"kind": "silence", "start": cur["start"],
                                                  "end": cur["start"] + lead_s})
        cur["start"] += lead_s

    def close_phase(self, end: float) -> None:
        if self.phases and self.phases[-1]["end"] is None:
            self.phases[-1]["end"] = max(end, self.phases[-1]["start"])

    def truth(self) -> dict[str, Any]:
        """The ground-truth JSON line for this call."""
        return {
            "sip_call_id": self.call_id,
            "number": self.number,
            "hotline": self.hotline.name if self.hotline else None,
            "branch": "/".join(self.branch) or None,
            "started_at": utc_iso(self.started_wall),
            "answered_at": utc_iso(self.answered_wall) if self.answered_wall else None,
            "final_code": self.final_code,
            "phases": [{"kind": p["kind"], "start": utc_iso(p["start"]), "end": utc_iso(p["end"])}
                       for p in self.phases if p["end"] is not None and p["end"] - p["start"] >= MIN_PHASE_S],
            "hangup_by": self.hangup_by,
            "hangup_at": utc_iso(self.hangup_wall) if self.hangup_wall else None,
            "dtmf_received": "".join(self.rtp.dtmf) if self.rtp else "",
            "note": self.note,
        }


class _TruthWriter:
    """Appends truth lines (write, flush, fsync) from its own thread, in order.

    The event loop also runs the 20 ms media clock: an fsync there (over 200 ms on a busy
    disk) was a hole in every call's RTP, which the caller's jitter buffer turned into
    concealment and a lasting delay of what followed.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="lab-truth", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        self._lines.put(line)

    def _run(self) -> None:
        done = False
        while not done:
            batch = [self._lines.get()]
            while True:  # whatever else is already queued goes in the same fsync
                try:
                    batch.append(self._lines.get_nowait())
                except queue.Empty:
                    break
            done = None in batch
            text = "".join(line for line in batch if line is not None)
            if text:
                try:
                    self._file.write(text)
                    self._file.flush()
                    os.fsync(self._file.fileno())
                except OSError:
                    log.exception("lab: cannot write the truth file")
        self._file.close()

    def close(self) -> None:
        """Write what is queued, then close the file."""
        self._lines.put(None)
        self._thread.join()


class LabServer(asyncio.DatagramProtocol):
    """Serves the hotlines of a ``LabConfig``; ``await start()``, then ``await stop()``."""

    def __init__(self, config: LabConfig, media: dict[str, np.ndarray], truth_path: Path | None,
                 bind: str = "127.0.0.1", port: int = 5060, max_calls: int = 400) -> None:
        self.config = config
        self.media = media
        self._encoded: dict[tuple[str, int], np.ndarray] = {}
        self._leads: dict[str, float] = {}
        self.bind = bind
        self.port = port
        self.max_calls = max_calls
        self.truth_path = truth_path
        self._truth: _TruthWriter | None = None
        self.hotlines = {h.number: h for h in config.hotlines}
        self.calls: dict[str, LabCall] = {}
        self._counts: dict[str, int] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._pending_bye: dict[str, asyncio.Task[None]] = {}
        self.calls_served = 0
        self.peak_calls = 0

    # -- life cycle ------------------------------------------------------------------------------
    async def start(self) -> int:
        """Bind the SIP socket and start the media clock; returns the bound port."""
        loop = asyncio.get_running_loop()
        # Encode every file for both laws and find its lead now, not on the event loop when a call
        # first plays it (a 90 s file took 35-60 ms, more on a loaded CPU: a hole in every stream).
        for name in self.media:
            self._lead_s(name)
            for pt in (0, 8):
                self._codes(name, pt)
        if self.truth_path is not None:
            self._truth = _TruthWriter(self.truth_path)
        try:
            self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.bind, self.port))
        except OSError as exc:
            from harness.errors import InfraError

            raise InfraError(f"lab cannot listen on {self.bind}:{self.port}: {exc.strerror}") from exc
        self.port = self.transport.get_extra_info("sockname")[1]
        self._ticker = asyncio.create_task(self._media_clock())
        return self.port

    async def stop(self) -> None:
        """Hang up every call (BYE), write its truth, and close the sockets."""
        for call in list(self.calls.values()):
            if call.hangup_by is None:
                call.note = "lab shut down"
                if call.answered_wall is not None:
                    self._send_bye(call)
                    self._end(call, "lab")
                else:
                    self._final(call, 503)
                    self._end(call, "lab")
        await asyncio.sleep(0.05)
        if self._ticker:
            self._ticker.cancel()
        for task in self._pending_bye.values():
            task.cancel()
        if self.transport:
            self.transport.close()
        if self._truth:
            self._truth.close()

    async def _media_clock(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        n = 0
        late = False
        while True:
            n += 1
            delay = t0 + n * FRAME_S - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                late = False
            else:
                if delay < -LATE_TICK_S and not late and self.calls:
                    log.warning("lab: media clock %.0f ms late (the event loop was blocked or starved)",
                                -delay * 1000)
                    late = True
                if delay < -0.2:  # we fell far behind (stall): resynchronise rather than burst
                    t0 = loop.time() - n * FRAME_S
            wall = time.time()
            for call in list(self.calls.values()):
                if call.rtp is not None and call.hangup_by is None:
                    call.rtp.tick(wall)

    # -- SIP input ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = sipmsg.parse(data)
            if msg is None:
                return
            if msg.is_request:
                self._on_request(msg, addr)
            else:
                self._on_response(msg)
        except Exception:  # noqa: BLE001 - one bad datagram must not stop the lab
            log.exception("lab: error handling a datagram from %s", addr)

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def _on_request(self, msg: sipmsg.SipMessage, addr: tuple[str, int]) -> None:
        method = msg.method
        call = self.calls.get(msg.call_id)
        if method == "INVITE":
            if call is not None:
                if sipmsg.tag_of(msg.get("to") or "") is None:  # retransmission of the initial INVITE
                    if call.last_response:
                        self._send(call.last_response, addr)
                else:  # re-INVITE (session refresh): answer with the same SDP
                    self._send(sipmsg.response(msg, 200, call.to_tag, self._contact(), call.sdp or b""), addr)
                return
            self._new_call(msg, addr)
        elif method == "ACK":
            if call is not None:
                call.acked = True
        elif method == "CANCEL":
            self._send(sipmsg.response(msg, 200, None), addr)
            if call is not None and call.final_code is None and call.hangup_by is None:
                now = time.time()
                self._final(call, 487)
                self._end(call, "caller", now)
        elif method == "BYE":
            if call is None:
                self._send(sipmsg.response(msg, 481, sipmsg.new_tag()), addr)
                return
            self._send(sipmsg.response(msg, 200, None), addr)
            if call.hangup_by is None:
                self._end(call, "caller", time.time())
        elif method in ("OPTIONS", "UPDATE", "INFO"):
            body = call.sdp if (call and method == "UPDATE" and msg.body) else b""
            self._send(sipmsg.response(msg, 200, call.to_tag if call else sipmsg.new_tag(), body=body or b""), addr)
        else:
            self._send(sipmsg.response(msg, 501, sipmsg.new_tag()), addr)

    def _on_response(self, msg: sipmsg.SipMessage) -> None:
        _, method = msg.cseq
        if method == "BYE" and (msg.status or 0) >= 200:
            task = self._pending_bye.pop(msg.call_id, None)
            if task:
                task.cancel()

    def _contact(self) -> list[tuple[str, str]]:
        return [("contact", f"<sip:lab@{self.bind}:{self.port}>"), ("allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE")]

    def _new_call(self, msg: sipmsg.SipMessage, addr: tuple[str, int]) -> None:
        number = sipmsg.user_of(msg.uri or "")
        hotline = self.hotlines.get(number)
        n = self._counts.get(number, 0)
        self._counts[number] = n + 1
        call = LabCall(call_id=msg.call_id, number=number, invite=msg, addr=addr, to_tag=sipmsg.new_tag(),
                       hotline=hotline, started_wall=time.time(),
                       rng=random.Random(f"{self.config.seed}:{number}:{n}"))
        self.calls[msg.call_id] = call
        self.calls_served += 1
        self.peak_calls = max(self.peak_calls, len(self.calls))
        self._send(sipmsg.response(msg, 100, None), addr)
        if hotline is None:
            self._final(call, 404)
            self._end(call, "lab")
            return
        if len(self.calls) > self.max_calls:
            call.note = "lab at capacity"
            self._final(call, 503)
            self._end(call, "lab")
            return
        call.task = asyncio.create_task(self._run(call))

    # -- sending -------------------------------------------------------------------------------
    async def _ensure_media(self, call: LabCall) -> bool:
        if call.rtp is not None:
            return True
        offer = sipmsg.parse_sdp(call.invite.body) if call.invite.body else None
        if offer is None or not ({0, 8} & set(offer.payload_types)):
            call.note = "no G.711 in the caller's offer"
            self._final(call, 488)
            self._end(call, "lab")
            return False
        pt = 0 if 0 in offer.payload_types else 8
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(
            lambda: _Rtp((offer.address, offer.port), pt, offer.telephone_event_pt), local_addr=(self.bind, 0))
        call.rtp = proto
        port = proto.transport.get_extra_info("sockname")[1] if proto.transport else 0
        call.sdp = sipmsg.build_sdp(self.bind, port, pt, offer.telephone_event_pt, random.randint(1, 2**31))
        return True

    def _provisional(self, call: LabCall, code: int, body: bytes = b"") -> None:
        data = sipmsg.response(call.invite, code, call.to_tag, self._contact(), body)
        call.last_response = data
        self._send(data, call.addr)

    def _final(self, call: LabCall, code: int, body: bytes = b"") -> None:
        if call.final_code is not None:
            return
        call.final_code = code
        extra = self._contact() if code < 300 else []
        data = sipmsg.response(call.invite, code, call.to_tag, extra, body)
        call.last_response = data
        self._send(data, call.addr)
        asyncio.get_running_loop().create_task(self._retransmit_final(call, data))

    async def _retransmit_final(self, call: LabCall, data: bytes) -> None:
        interval = T1_S
        waited = 0.0
        while not call.acked and waited < 32.0:
            await asyncio.sleep(interval)
            waited += interval
            if call.acked:
                break
            self._send(data, call.addr)
            interval = min(interval * 2, 4.0)
        if call.hangup_by is not None:
            self.calls.pop(call.call_id, None)

    def _send_bye(self, call: LabCall) -> None:
        inv = call.invite
        contact = sipmsg.uri_of(inv.get("contact") or inv.get("from") or "")
        routes = inv.get_all("record-route")
        if routes and ";lr" in routes[0]:
            dest = sipmsg.hostport_of(sipmsg.uri_of(routes[0]))
        else:
            dest = sipmsg.hostport_of(contact)
        to_hdr = inv.get("to") or ""
        data = sipmsg.request("BYE", contact, via_host=self.bind, via_port=self.port,
                              from_=f"{to_hdr};tag={call.to_tag}", to=inv.get("from") or "",
                              call_id=call.call_id, cseq=call.local_cseq, routes=routes)
        call.local_cseq += 1
        self._send(data, dest)
        self._pending_bye[call.call_id] = asyncio.get_running_loop().create_task(self._retransmit_bye(data, dest))

    async def _retransmit_bye(self, data: bytes, dest: tuple[str, int]) -> None:
        interval = T1_S
        for _ in range(7):
            await asyncio.sleep(interval)
            self._send(data, dest)
            interval = min(interval * 2, 4.0)

    def _end(self, call: LabCall, by: str, when: float | None = None) -> None:
        """The call is over: stop its media and script, write its truth line."""
        if call.hangup_by is not None:
            return
        call.hangup_by = by
        call.hangup_wall = when or time.time()
        call.close_phase(call.hangup_wall)
        if call.rtp is not None:
            call.rtp.close()
        call.ended.set()
        if call.task is not None and call.task is not asyncio.current_task():
            call.task.cancel()
        if self._truth is not None:
            self._truth.write(json.dumps(call.truth()) + "\n")
        if call.final_code is None or call.final_code < 300 or call.acked:
            asyncio.get_running_loop().call_later(35.0, self.calls.pop, call.call_id, None)

    # -- hotline scripts -------------------------------------------------------------------------
    async def _run(self, call: LabCall) -> None:
        assert call.hotline is not None
        try:
            await self._steps(call, call.hotline.steps)
            # The script ran out: an answered line stays open (silence) until the caller hangs up;
            # an unanswered one keeps ringing.
            if call.answered_wall is not None:
                call.open_phase("silence", time.time())
                if call.rtp:
                    call.rtp.play(None, None, False)
            else:
                if not call.sent_180:
                    self._provisional(call, 180)
                    call.sent_180 = True
                call.open_phase("ring", time.time())
            await call.ended.wait()
        except (CallEnded, asyncio.CancelledError):
            pass
        except Exception:  # noqa: BLE001
            log.exception("lab: script of %s failed", call.number)
            if call.hangup_by is None:
                call.note = "lab script error"
                if call.answered_wall is not None:
                    self._send_bye(call)
                else:
                    self._final(call, 500)
                self._end(call, "lab")

    def _check(self, call: LabCall) -> None:
        if call.hangup_by is not None:
            raise CallEnded

    async def _sleep(self, call: LabCall, seconds: float) -> None:
        try:
            await asyncio.wait_for(call.ended.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            return
        raise CallEnded

    def _lead_s(self, name: str) -> float:
        """Seconds of leading silence in a media file: before its first 20 ms frame above -45 dBFS."""
        if name not in self._leads:
            pcm = self.media[name].astype(np.float64) / 32768.0
            n = len(pcm) // FRAME_SAMPLES
            level = 10 * np.log10((pcm[: n * FRAME_SAMPLES].reshape(n, FRAME_SAMPLES) ** 2).mean(axis=1) + 1e-12)
            loud = np.flatnonzero(level > LEAD_SILENCE_DBFS)
            self._leads[name] = float(loud[0]) * FRAME_SAMPLES / 8000 if len(loud) else 0.0
        return self._leads[name]

    def _codes(self, name: str, pt: int) -> np.ndarray:
        key = (name, pt)
        if key not in self._encoded:
            pcm = self.media[name]
            self._encoded[key] = g711.ulaw_encode(pcm) if pt == 0 else g711.alaw_encode(pcm)
        return self._encoded[key]

    async def _play(self, call: LabCall, name: str, seconds: float | None, loop: bool, kind: str,
                    new_phase: bool = True) -> None:
        """Play ``name`` on the call's stream; the phase runs from its first frame to its last sample."""
        assert call.rtp is not None
        codes = self._codes(name, call.rtp.pt)
        limit = int(round(seconds * 8000)) if seconds is not None else len(codes)
        if not loop:
            limit = min(limit, len(codes))
        done = call.rtp.play(codes, limit, loop)
        if new_phase:
            call.open_phase(kind, time.time())
        ended = asyncio.ensure_future(call.ended.wait())
        try:
            finished, _ = await asyncio.wait({done, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
        if new_phase and call.rtp is not None and call.rtp.started_wall is not None and call.phases:
            call.phases[-1]["start"] = call.rtp.started_wall
            if kind in ("speech", "agent") and done in finished:
                call.lead_silence(self._lead_s(name))
        if done in finished and not done.cancelled():
            if new_phase:
                call.close_phase(done.result())
            return
        raise CallEnded

    async def _steps(self, call: LabCall, steps: list[Step]) -> None:
        for step in steps:
            self._check(call)
            await self._step(call, step)

    async def _step(self, call: LabCall, step: Step) -> None:
        kind = step.kind
        if step.ring is not None:
            if not call.sent_180:
                self._provisional(call, 180)
                call.sent_180 = True
            call.open_phase("ring", time.time())
            await self._sleep(call, step.ring.s)
        elif step.early_media is not None:
            if not await self._ensure_media(call):
                raise CallEnded
            if call.answered_wall is None:
                self._provisional(call, 183, call.sdp or b"")
            await self._play(call, step.early_media.file, step.early_media.s, step.early_media.loop, "early_media")
        elif step.answer is not None:
            if not await self._ensure_media(call):
                raise CallEnded
            call.answered_wall = time.time()
            call.close_phase(call.answered_wall)
            self._final(call, 200, call.sdp or b"")
            call.open_phase("silence", call.answered_wall)
        elif step.play is not None:
            if call.rtp is None:
                if not await self._ensure_media(call):
                    raise CallEnded
                self._provisional(call, 183, call.sdp or b"")
            kind = step.play.phase_kind() if call.answered_wall is not None else "early_media"
            await self._play(call, step.play.file, step.play.s, step.play.loop, kind)
            call.open_phase("silence", time.time())
        elif step.wait is not None:
            if call.rtp:
                call.rtp.play(None, None, False)
            call.open_phase("silence" if call.answered_wall is not None else "ring", time.time())
            await self._sleep(call, step.wait.s)
        elif step.agent is not None:
            await self._agent(call, step.agent.file, step.agent.reply, step.agent.max_s)
        elif step.hangup is not None:
            if call.answered_wall is not None:
                self._send_bye(call)
            else:
                self._final(call, 480)
            self._end(call, "lab")
            raise CallEnded
        elif step.reject is not None:
            self._final(call, step.reject.code)
            self._end(call, "lab")
            raise CallEnded
        elif step.never_answer is not None:
            if not call.sent_180:
                self._provisional(call, 180)
                call.sent_180 = True
            call.open_phase("ring", time.time())
            await call.ended.wait()
            raise CallEnded
        elif step.repeat is not None:
            i = 0
            while step.repeat.times == 0 or i < step.repeat.times:
                await self._steps(call, step.repeat.steps)
                i += 1
        elif step.choose is not None:
            branches = step.choose
            pick = call.rng.choices(branches, weights=[b.weight for b in branches], k=1)[0]
            call.branch.append(pick.name)
            await self._steps(call, pick.steps)
        else:  # pragma: no cover - the schema allows nothing else
            raise ValueError(f"unknown step {kind}")

    async def _agent(self, call: LabCall, file: str, reply: str | None, max_s: float) -> None:
        """Speak ``file``, then reply whenever the caller has spoken, until hangup or ``max_s``."""
        if call.answered_wall is None or call.rtp is None:
            raise ValueError("an agent step needs an answered call")
        deadline = time.time() + max_s
        call.open_phase("agent", time.time())
        try:
            await self._play(call, file, None, False, "agent", new_phase=False)
        finally:  # also when the caller hangs up during the agent's first words
            if call.rtp is not None and call.rtp.started_wall is not None:
                call.phases[-1]["start"] = call.rtp.started_wall
                if time.time() > call.rtp.started_wall + self._lead_s(file):
                    call.lead_silence(self._lead_s(file))
        while time.time() < deadline:
            try:
                event = await asyncio.wait_for(call.rtp.speech_events.get(),
                                               timeout=max(0.01, min(1.0, deadline - time.time())))
            except asyncio.TimeoutError:
                self._check(call)
                continue
            self._check(call)
            if event == "end" and reply:
                await self._play(call, reply, None, False, "agent", new_phase=False)
        self._send_bye(call)
        self._end(call, "lab")
        raise CallEnded


async def serve(config: LabConfig, media_dir: Path, truth_path: Path | None, bind: str, port: int,
                ready: Any = None, stop_event: asyncio.Event | None = None) -> None:
    """Run the lab until ``stop_event`` is set (or forever); ``ready(port)`` is called once listening."""
    media = load_media(media_dir, config.media_files())
    server = LabServer(config, media, truth_path, bind, port)
    bound = await server.start()
    if ready:
        ready(bound)
    try:
        if stop_event is None:
            await asyncio.Event().wait()
        else:
            await stop_event.wait()
    finally:
        await server.stop()
