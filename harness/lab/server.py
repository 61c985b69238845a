"""The lab PBX: many hotlines with declared behaviour, serving real SIP/RTP on loopback.

An asyncio UAS written independently of pjsua2 (so the harness is never only
tested against itself). One process handles hundreds of calls: one UDP socket for
SIP, one per call for RTP, and a single 20 ms media clock that sends every
stream's next G.711 frame. For each call it appends one JSON line of ground truth
(what it really did and when) to the truth file.

This module is the loop that ties the pieces together: SIP in (requests to calls),
``lab.sip`` for what goes out, ``lab.rtp`` for media, ``lab.script`` for the
hotlines' steps and ``lab.truth`` for the truth lines.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np

from harness.clock import SYSTEM_CLOCK, Clock
from harness.lab import rtp, sipmsg
from harness.lab.call import LabCall
from harness.lab.media import load_media
from harness.lab.scenario import LabConfig
from harness.lab.script import run_script
from harness.lab.sip import SipTransactions
from harness.lab.truth import TruthWriter, lead_s
from harness.sip.uri import user_of

log = logging.getLogger("harness.lab")

FORGET_AFTER_S = 35.0  # an ended call is kept this long to answer retransmissions of its requests
STOP_GRACE_S = 0.05  # on stop, the last BYEs and responses get this long to leave


class LabServer(asyncio.DatagramProtocol):
    """Serves the hotlines of a ``LabConfig``; ``await start()``, then ``await stop()``.

    Time is read from ``clock`` (the truth's timestamps); the loop's sleeps and
    retransmission timers run on the event loop's own schedule.
    """

    def __init__(self, config: LabConfig, media: dict[str, np.ndarray], truth_path: Path | None,
                 bind: str = "127.0.0.1", port: int = 5060, max_calls: int = 400,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.media = media
        self.clock = clock
        self._encoded: dict[tuple[str, int], np.ndarray] = {}
        self._leads: dict[str, float] = {}
        self.bind = bind
        self.port = port
        self.max_calls = max_calls
        self.truth_path = truth_path
        self._truth: TruthWriter | None = None
        self.hotlines = {h.number: h for h in config.hotlines}
        self.calls: dict[str, LabCall] = {}
        self._counts: dict[str, int] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.sip = SipTransactions(bind, port, self._final_done)
        self._ticker: asyncio.Task[None] | None = None
        self.calls_served = 0
        self.peak_calls = 0

    # -- life cycle ------------------------------------------------------------------------------
    async def start(self) -> int:
        """Bind the SIP socket and start the media clock; returns the bound port."""
        loop = asyncio.get_running_loop()
        # Encode every file for both laws and find its lead now, not on the event loop when a call
        # first plays it (a 90 s file took 35-60 ms, more on a loaded CPU: a hole in every stream).
        for name in self.media:
            self.lead_s(name)
            for pt in (0, 8):
                self.codes(name, pt)
        if self.truth_path is not None:
            self._truth = TruthWriter(self.truth_path)
        try:
            self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.bind, self.port))
        except OSError as exc:
            from harness.errors import InfraError

            raise InfraError(f"lab cannot listen on {self.bind}:{self.port}: {exc.strerror}") from exc
        self.port = self.transport.get_extra_info("sockname")[1]
        self.sip.attach(self.transport, self.port)
        self._ticker = asyncio.create_task(rtp.media_clock(self._streams, lambda: bool(self.calls), self.clock))
        return self.port

    async def stop(self) -> None:
        """Hang up every call (BYE), write its truth, and close the sockets."""
        for call in list(self.calls.values()):
            if call.hangup_by is None:
                call.note = "lab shut down"
                if call.answered_wall is not None:
                    self.sip.bye(call)
                    self.end(call, "lab")
                else:
                    self.sip.final(call, 503)
                    self.end(call, "lab")
        await asyncio.sleep(STOP_GRACE_S)
        if self._ticker:
            self._ticker.cancel()
        self.sip.close()
        if self._truth:
            self._truth.close()

    def _streams(self) -> list[rtp.RtpStream]:
        return [call.rtp for call in list(self.calls.values()) if call.rtp is not None and call.hangup_by is None]

    # -- SIP input ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a datagram endpoint's transport is a DatagramTransport; the protocol's signature says Base
        self.transport = transport  # type: ignore[assignment]
        self.sip.attach(transport, self.port)  # type: ignore[arg-type]  # the bound port: once start() resumes

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = sipmsg.parse(data)
            if msg is None:
                return
            if msg.is_request:
                self._on_request(msg, addr)
            else:
                self.sip.on_response(msg)
        except Exception:  # one bad datagram must not stop the lab
            log.exception("lab: error handling a datagram from %s", addr)

    def _on_request(self, msg: sipmsg.SipMessage, addr: tuple[str, int]) -> None:
        method = msg.method
        call = self.calls.get(msg.call_id)
        send = self.sip.send
        if method == "INVITE":
            if call is not None:
                if sipmsg.tag_of(msg.get("to") or "") is None:  # retransmission of the initial INVITE
                    if call.last_response:
                        send(call.last_response, addr)
                else:  # re-INVITE (session refresh): answer with the same SDP
                    send(sipmsg.response(msg, 200, call.to_tag, self.sip.contact(), call.sdp or b""), addr)
                return
            self._new_call(msg, addr)
        elif method == "ACK":
            if call is not None:
                call.acked = True
        elif method == "CANCEL":
            send(sipmsg.response(msg, 200, None), addr)
            if call is not None and call.final_code is None and call.hangup_by is None:
                now = self.clock.wall_s()
                self.sip.final(call, 487)
                self.end(call, "caller", now)
        elif method == "BYE":
            if call is None:
                send(sipmsg.response(msg, 481, sipmsg.new_tag()), addr)
                return
            send(sipmsg.response(msg, 200, None), addr)
            if call.hangup_by is None:
                self.end(call, "caller", self.clock.wall_s())
        elif method in ("OPTIONS", "UPDATE", "INFO"):
            body = call.sdp if (call and method == "UPDATE" and msg.body) else b""
            send(sipmsg.response(msg, 200, call.to_tag if call else sipmsg.new_tag(), body=body or b""), addr)
        else:
            send(sipmsg.response(msg, 501, sipmsg.new_tag()), addr)

    def _new_call(self, msg: sipmsg.SipMessage, addr: tuple[str, int]) -> None:
        number = user_of(msg.uri or "")
        hotline = self.hotlines.get(number)
        n = self._counts.get(number, 0)
        self._counts[number] = n + 1
        call = LabCall(call_id=msg.call_id, number=number, invite=msg, addr=addr, to_tag=sipmsg.new_tag(),
                       hotline=hotline, started_wall=self.clock.wall_s(),
                       rng=random.Random(f"{self.config.seed}:{number}:{n}"))
        self.calls[msg.call_id] = call
        self.calls_served += 1
        self.peak_calls = max(self.peak_calls, len(self.calls))
        self.sip.send(sipmsg.response(msg, 100, None), addr)
        if hotline is None:
            self.sip.final(call, 404)
            self.end(call, "lab")
            return
        if len(self.calls) > self.max_calls:
            call.note = "lab at capacity"
            self.sip.final(call, 503)
            self.end(call, "lab")
            return
        call.task = asyncio.create_task(run_script(self, call))

    # -- what the scripts use (script.ScriptHost) ------------------------------------------------
    async def ensure_media(self, call: LabCall) -> bool:
        """Open the call's RTP stream and SDP answer; False (488 sent, call ended) when no G.711 fits."""
        if call.rtp is not None:
            return True
        offer = sipmsg.parse_sdp(call.invite.body) if call.invite.body else None
        if offer is None or not ({0, 8} & set(offer.payload_types)):
            call.note = "no G.711 in the caller's offer"
            self.sip.final(call, 488)
            self.end(call, "lab")
            return False
        pt = 0 if 0 in offer.payload_types else 8
        stream = await rtp.open_stream(self.bind, (offer.address, offer.port), pt, offer.telephone_event_pt)
        call.rtp = stream
        port = stream.transport.get_extra_info("sockname")[1] if stream.transport else 0
        call.sdp = sipmsg.build_sdp(self.bind, port, pt, offer.telephone_event_pt, random.randint(1, 2**31))
        return True

    def end(self, call: LabCall, by: str, when: float | None = None) -> None:
        """The call is over: stop its media and script, write its truth line."""
        if call.hangup_by is not None:
            return
        call.hangup_by = by
        call.hangup_wall = when or self.clock.wall_s()
        call.close_phase(call.hangup_wall)
        if call.rtp is not None:
            call.rtp.close()
        call.ended.set()
        if call.task is not None and call.task is not asyncio.current_task():
            call.task.cancel()
        if self._truth is not None:
            self._truth.write(call.truth())
        if call.final_code is None or call.final_code < 300 or call.acked:
            asyncio.get_running_loop().call_later(FORGET_AFTER_S, self.calls.pop, call.call_id, None)

    def _final_done(self, call: LabCall) -> None:
        if call.hangup_by is not None:
            self.calls.pop(call.call_id, None)

    def lead_s(self, name: str) -> float:
        """Seconds of leading silence in media file ``name`` (``truth.lead_s``), computed once."""
        if name not in self._leads:
            self._leads[name] = lead_s(self.media[name])
        return self._leads[name]

    def codes(self, name: str, pt: int) -> np.ndarray:
        """Media file ``name`` as G.711 codes for payload type ``pt``, encoded once."""
        key = (name, pt)
        if key not in self._encoded:
            self._encoded[key] = rtp.encode(self.media[name], pt)
        return self._encoded[key]


async def serve(config: LabConfig, media_dir: Path, truth_path: Path | None, bind: str, port: int,
                ready: Any = None, stop_event: asyncio.Event | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
    """Run the lab until ``stop_event`` is set (or forever); ``ready(port)`` is called once listening."""
    media = load_media(media_dir, config.media_files())
    server = LabServer(config, media, truth_path, bind, port, clock=clock)
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
