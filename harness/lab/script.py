"""A hotline's script: its steps (``lab.scenario.Step``) played on a call, one handler per step kind.

``HANDLERS`` maps each step kind to the coroutine that performs it; ``run_step`` refuses a
kind without one. A handler returns when its step is over, and raises ``CallEnded`` when
the call is (the caller hung up, or the step itself ended it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import numpy as np

from harness.clock import Clock
from harness.lab.call import CallEnded, LabCall
from harness.lab.rtp import SAMPLE_RATE_HZ
from harness.lab.scenario import Step
from harness.lab.sip import SipTransactions

log = logging.getLogger("harness.lab")

AGENT_POLL_S = 1.0  # an agent looks at least this often whether the call or its time is over
AGENT_POLL_MIN_S = 0.01


class ScriptHost(Protocol):
    """What the steps need from the lab serving the call."""

    clock: Clock
    sip: SipTransactions

    def end(self, call: LabCall, by: str, when: float | None = None) -> None:
        """The call is over: stop its media and script, write its truth."""

    async def ensure_media(self, call: LabCall) -> bool:
        """Open the call's RTP stream and SDP answer; False (call rejected) when no codec fits."""

    def codes(self, name: str, pt: int) -> np.ndarray:
        """Media file ``name`` encoded for payload type ``pt``."""

    def lead_s(self, name: str) -> float:
        """Seconds before media file ``name`` becomes audible."""


Handler = Callable[[ScriptHost, LabCall, Step], Awaitable[None]]


async def run_script(host: ScriptHost, call: LabCall) -> None:
    """Play the call's hotline script to its end, then hold the line until the call ends."""
    assert call.hotline is not None
    try:
        await run_steps(host, call, call.hotline.steps)
        # The script ran out: an answered line stays open (silence) until the caller hangs up;
        # an unanswered one keeps ringing.
        if call.answered_wall is not None:
            call.open_phase("silence", host.clock.wall_s())
            if call.rtp:
                call.rtp.play(None, None, False)
        else:
            _ringing(host, call)
        await call.ended.wait()
    except (CallEnded, asyncio.CancelledError):
        pass
    except Exception:  # a broken script ends its call, never the lab
        log.exception("lab: script of %s failed", call.number)
        if call.hangup_by is None:
            call.note = "lab script error"
            if call.answered_wall is not None:
                host.sip.bye(call)
            else:
                host.sip.final(call, 500)
            host.end(call, "lab")


async def run_steps(host: ScriptHost, call: LabCall, steps: list[Step]) -> None:
    """Run ``steps`` in order (CallEnded as soon as the call is over)."""
    for step in steps:
        _check(call)
        await run_step(host, call, step)


async def run_step(host: ScriptHost, call: LabCall, step: Step) -> None:
    """Run one step by its kind's handler; ValueError for a kind without one."""
    handler = HANDLERS.get(step.kind)
    if handler is None:
        raise ValueError(f"unknown step {step.kind}")
    await handler(host, call, step)


def _check(call: LabCall) -> None:
    if call.hangup_by is not None:
        raise CallEnded


async def _sleep(call: LabCall, seconds: float) -> None:
    try:
        await asyncio.wait_for(call.ended.wait(), timeout=seconds)
    except TimeoutError:
        return
    raise CallEnded


def _ringing(host: ScriptHost, call: LabCall) -> None:
    """180 Ringing (once per call) and a ring phase from now."""
    if not call.sent_180:
        host.sip.provisional(call, 180)
        call.sent_180 = True
    call.open_phase("ring", host.clock.wall_s())


async def _play(host: ScriptHost, call: LabCall, name: str, seconds: float | None, loop: bool, kind: str,
                new_phase: bool = True) -> None:
    """Play ``name`` on the call's stream; the phase runs from its first frame to its last sample."""
    assert call.rtp is not None
    codes = host.codes(name, call.rtp.pt)
    limit = round(seconds * SAMPLE_RATE_HZ) if seconds is not None else len(codes)
    if not loop:
        limit = min(limit, len(codes))
    done = call.rtp.play(codes, limit, loop)
    if new_phase:
        call.open_phase(kind, host.clock.wall_s())
    ended = asyncio.ensure_future(call.ended.wait())
    try:
        waiters: set[asyncio.Future[Any]] = {done, ended}
        finished, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
    if new_phase and call.rtp is not None and call.rtp.started_wall is not None and call.phases:
        call.phases[-1].start_s = call.rtp.started_wall
        if kind in ("speech", "agent") and done in finished:
            call.lead_silence(host.lead_s(name))
    if done in finished and not done.cancelled():
        if new_phase:
            call.close_phase(done.result())
        return
    raise CallEnded


async def _ring(host: ScriptHost, call: LabCall, step: Step) -> None:
    assert step.ring is not None
    _ringing(host, call)
    await _sleep(call, step.ring.s)


async def _early_media(host: ScriptHost, call: LabCall, step: Step) -> None:
    assert step.early_media is not None
    if not await host.ensure_media(call):
        raise CallEnded
    if call.answered_wall is None:
        host.sip.provisional(call, 183, call.sdp or b"")
    await _play(host, call, step.early_media.file, step.early_media.s, step.early_media.loop, "early_media")


async def _answer(host: ScriptHost, call: LabCall, step: Step) -> None:
    if not await host.ensure_media(call):
        raise CallEnded
    call.answered_wall = host.clock.wall_s()
    call.close_phase(call.answered_wall)
    host.sip.final(call, 200, call.sdp or b"")
    call.open_phase("silence", call.answered_wall)


async def _play_step(host: ScriptHost, call: LabCall, step: Step) -> None:
    assert step.play is not None
    if call.rtp is None:
        if not await host.ensure_media(call):
            raise CallEnded
        host.sip.provisional(call, 183, call.sdp or b"")
    kind = step.play.phase_kind() if call.answered_wall is not None else "early_media"
    await _play(host, call, step.play.file, step.play.s, step.play.loop, kind)
    call.open_phase("silence", host.clock.wall_s())


async def _wait(host: ScriptHost, call: LabCall, step: Step) -> None:
    assert step.wait is not None
    if call.rtp:
        call.rtp.play(None, None, False)
    call.open_phase("silence" if call.answered_wall is not None else "ring", host.clock.wall_s())
    await _sleep(call, step.wait.s)


async def _agent(host: ScriptHost, call: LabCall, step: Step) -> None:
    """Speak the agent's file, then reply whenever the caller has spoken, until hangup or ``max_s``."""
    assert step.agent is not None
    file, reply, max_s = step.agent.file, step.agent.reply, step.agent.max_s
    if call.answered_wall is None or call.rtp is None:
        raise ValueError("an agent step needs an answered call")
    clock = host.clock
    deadline = clock.wall_s() + max_s
    call.open_phase("agent", clock.wall_s())
    try:
        await _play(host, call, file, None, False, "agent", new_phase=False)
    finally:  # also when the caller hangs up during the agent's first words
        if call.rtp is not None and call.rtp.started_wall is not None:
            call.phases[-1].start_s = call.rtp.started_wall
            if clock.wall_s() > call.rtp.started_wall + host.lead_s(file):
                call.lead_silence(host.lead_s(file))
    while clock.wall_s() < deadline:
        try:
            event = await asyncio.wait_for(
                call.rtp.speech_events.get(),
                timeout=max(AGENT_POLL_MIN_S, min(AGENT_POLL_S, deadline - clock.wall_s())))
        except TimeoutError:
            _check(call)
            continue
        _check(call)
        if event == "end" and reply:
            await _play(host, call, reply, None, False, "agent", new_phase=False)
    host.sip.bye(call)
    host.end(call, "lab")
    raise CallEnded


async def _hangup(host: ScriptHost, call: LabCall, step: Step) -> None:
    if call.answered_wall is not None:
        host.sip.bye(call)
    else:
        host.sip.final(call, 480)
    host.end(call, "lab")
    raise CallEnded


async def _reject(host: ScriptHost, call: LabCall, step: Step) -> None:
    assert step.reject is not None
    host.sip.final(call, step.reject.code)
    host.end(call, "lab")
    raise CallEnded


async def _never_answer(host: ScriptHost, call: LabCall, step: Step) -> None:
    _ringing(host, call)
    await call.ended.wait()
    raise CallEnded


async def _repeat(host: ScriptHost, call: LabCall, step: Step) -> None:
    assert step.repeat is not None
    i = 0
    while step.repeat.times == 0 or i < step.repeat.times:
        await run_steps(host, call, step.repeat.steps)
        i += 1


async def _choose(host: ScriptHost, call: LabCall, step: Step) -> None:
    assert step.choose is not None
    branches = step.choose
    pick = call.rng.choices(branches, weights=[b.weight for b in branches], k=1)[0]
    call.branch.append(pick.name)
    await run_steps(host, call, pick.steps)


HANDLERS: dict[str, Handler] = {
    "ring": _ring,
    "early_media": _early_media,
    "answer": _answer,
    "play": _play_step,
    "wait": _wait,
    "agent": _agent,
    "hangup": _hangup,
    "reject": _reject,
    "never_answer": _never_answer,
    "repeat": _repeat,
    "choose": _choose,
}
