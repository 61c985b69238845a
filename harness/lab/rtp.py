"""The lab's RTP: one G.711 stream per call, and the single 20 ms media clock that drives them all.

A stream sends whatever source the script gave it (or digital silence) one frame per tick,
and listens to the caller: RFC 2833 digits, and whether the caller is speaking (the agent
step replies when the caller stops).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable

import numpy as np

from harness.audio import g711
from harness.clock import Clock

log = logging.getLogger("harness.lab")

SAMPLE_RATE_HZ = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_S = 0.020
SPEECH_DBFS = -40.0  # caller energy above this counts as speaking (agent replies)
LATE_TICK_S = 0.06  # the media clock logs a warning when a tick is this late (a hole in every call's RTP)
RESYNC_LATE_S = 0.2  # this far behind (a stall), the clock resynchronises rather than bursts
SPEECH_START_FRAMES = 10  # loud frames in a row before the caller counts as speaking
SPEECH_END_FRAMES = 25  # quiet frames in a row before the caller counts as silent again
DTMF_EVENTS = "0123456789*#ABCD"  # RFC 2833 event codes 0-15


def encode(pcm: np.ndarray, payload_type: int) -> np.ndarray:
    """8 kHz int16 samples as G.711 codes: µ-law for payload type 0, A-law otherwise (8)."""
    return g711.ulaw_encode(pcm) if payload_type == 0 else g711.alaw_encode(pcm)


def rtp_header(payload_type: int, marker: bool, seq: int, timestamp: int, ssrc: int) -> bytes:
    """The 12-byte RTP header (version 2, no padding, extension or CSRCs)."""
    return bytes([0x80, (0x80 if marker else 0) | payload_type]) + seq.to_bytes(2, "big") + \
        timestamp.to_bytes(4, "big") + ssrc.to_bytes(4, "big")


class RtpStream(asyncio.DatagramProtocol):
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
        # a datagram endpoint's transport is a DatagramTransport; the protocol's signature says Base
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
                self.dtmf.append(DTMF_EVENTS[payload[0]] if payload[0] < 16 else "?")
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
            if not self.caller_speaking and self.rx_loud_frames >= SPEECH_START_FRAMES:
                self.caller_speaking = True
                self.speech_events.put_nowait("start")
        else:
            self.rx_quiet_frames += 1
            self.rx_loud_frames = 0
            if self.caller_speaking and self.rx_quiet_frames >= SPEECH_END_FRAMES:
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
        """Send one 20 ms frame (the source's next samples, or digital silence); ``wall`` is now, epoch s."""
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
                self.done.set_result(wall + filled / SAMPLE_RATE_HZ)
        header = rtp_header(self.pt, self.marker, self.seq, self.ts, self.ssrc)
        self.marker = False
        try:
            self.transport.sendto(header + frame.tobytes(), self.remote)
        except OSError:
            pass
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + FRAME_SAMPLES) & 0xFFFFFFFF

    def close(self) -> None:
        """Stop the current source and close the socket."""
        if self.done is not None and not self.done.done():
            self.done.cancel()
        if self.transport is not None:
            self.transport.close()
            self.transport = None


async def open_stream(bind: str, remote: tuple[str, int], pt: int, te_pt: int | None) -> RtpStream:
    """A stream on a free local UDP port of ``bind``, sending to ``remote``."""
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(lambda: RtpStream(remote, pt, te_pt), local_addr=(bind, 0))
    return proto


async def media_clock(streams: Callable[[], Iterable[RtpStream]], busy: Callable[[], bool], clock: Clock) -> None:
    """Tick every stream ``streams()`` names once per 20 ms, until cancelled.

    The schedule runs on the event loop's own clock; the wall time handed to each tick (when
    its frame went out, for the truth) is read from ``clock``. ``busy()`` says whether a late
    tick is worth a warning (it is not when no call is up).
    """
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
            if delay < -LATE_TICK_S and not late and busy():
                log.warning("lab: media clock %.0f ms late (the event loop was blocked or starved)",
                            -delay * 1000)
                late = True
            if delay < -RESYNC_LATE_S:
                t0 = loop.time() - n * FRAME_S
        wall = clock.wall_s()
        for stream in streams():
            stream.tick(wall)
