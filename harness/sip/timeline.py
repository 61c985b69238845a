"""A call's signalling timeline: the SIP messages and call states one call saw -> its ``CallRecord``.

``build_record`` is pure (messages and times in, a record out); ``write_record`` writes the
record as ``<call_uid>.events.json``. Neither needs pjsua2, so the pool's parent process can
rebuild and write the record of a call whose worker died without loading the SIP stack.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.vocab import CallEvent, CallRecord, CallSpec, DisconnectBy


@dataclass
class SipMsg:
    """One SIP message as pjsua logged it, with the monotonic time (seconds) it passed."""

    mono_s: float
    direction: str  # TX or RX
    kind: str  # Request or Response
    method: str
    code: int | None
    text: str


class CallState(Protocol):
    """What a call's callbacks recorded, as monotonic times in seconds (the adapter's ``_Active``)."""

    start_mono: float  # when the call was started; the INVITE's send time when no INVITE was logged
    media_start_mono: float | None
    answered_mono: float | None
    disconnected_mono: float | None
    local_hangup: str | None  # "cancel" or "bye" once we asked to hang up
    last_code: int | None
    last_reason: str | None
    events: list[tuple[float, str, int | None, str | None]]


def build_record(spec: CallSpec, call_id: str | None, msgs: list[SipMsg], act: CallState,
                 utc: Callable[[float], str], error: str | None) -> CallRecord:
    """Turn captured SIP messages and call-state times into the call's ``CallRecord``.

    ``msgs`` are the call's SIP messages in the order they passed, ``act`` what the call's
    callbacks saw, ``utc`` turns a monotonic time (seconds) into UTC ISO-8601; every time in
    the record is in seconds since the INVITE was sent.
    """
    invite_tx = next((m for m in msgs if m.direction == "TX" and m.kind == "Request"
                      and m.method == "INVITE"), None)
    t0 = invite_tx.mono_s if invite_tx else act.start_mono
    evs: list[tuple[float, str, int | None, str | None, str | None]] = []
    seen: set[tuple[str, str, int | None]] = set()
    for m in msgs:
        key = (m.direction, m.method, m.code)
        if m.kind == "Request":
            if m.method == "INVITE" and m.direction == "TX":
                sent = "invite_sent" if not any(e[1] == "invite_sent" for e in evs) else "invite_resent"
                evs.append((m.mono_s, sent, None, None, None))
            elif m.method in ("CANCEL", "BYE") and key not in seen:
                by = "local" if m.direction == "TX" else "remote"
                evs.append((m.mono_s, f"{m.method.lower()}_{'sent' if by == 'local' else 'received'}",
                            None, None, by))
            seen.add(key)
            continue
        if m.method != "INVITE" or m.direction != "RX" or key in seen:
            continue
        seen.add(key)
        assert m.code is not None
        if m.code < 200:
            evs.append((m.mono_s, "provisional", m.code, _reason(m.text), None))
        elif m.code < 300:
            evs.append((m.mono_s, "answered", m.code, _reason(m.text), None))
        elif m.code in (401, 407):
            evs.append((m.mono_s, "auth_challenge", m.code, _reason(m.text), None))
        else:
            evs.append((m.mono_s, "final", m.code, _reason(m.text), None))
    for mono, typ, code, reason in act.events:
        evs.append((mono, typ, code, reason, None))
    evs.sort(key=lambda e: e[0])
    events = [CallEvent(t_s=round(mono - t0, 3), type=typ, code=code, reason=reason, utc=utc(mono), by=by)
              for mono, typ, code, reason, by in evs]
    answered = next((e for e in evs if e[1] == "answered"), None)
    answered_mono = answered[0] if answered else act.answered_mono
    # The call ends on the wire: our BYE/CANCEL, their BYE, or their final error response.
    enders = [e[0] for e in evs if e[1] in ("bye_sent", "bye_received", "cancel_sent", "final")]
    if answered_mono is not None:
        # a 200 that crossed our CANCEL: the call was answered, then ended by the BYE that followed
        enders = [t for t in enders if t >= answered_mono]
    ended_mono = min(enders) if enders else act.disconnected_mono
    if ended_mono is not None and act.disconnected_mono is not None:
        ended_mono = min(ended_mono, act.disconnected_mono) if not enders else ended_mono
    if answered_mono is not None and ended_mono is not None and ended_mono < answered_mono:
        ended_mono = answered_mono  # never an end before the answer
    # Who ended it: we did (our BYE, or our CANCEL at the ring timeout); the far end hung up
    # an answered call; or nobody, for a call the far end refused (busy, reject) and that
    # was therefore never connected (vocab.DisconnectBy).
    if act.local_hangup is not None:
        disconnect_by = DisconnectBy.LOCAL
    elif any(e[1] == "bye_received" for e in evs) or (
            act.disconnected_mono is not None and answered_mono is not None):
        disconnect_by = DisconnectBy.REMOTE
    else:
        disconnect_by = DisconnectBy.NONE
    final_status = act.last_code
    final_reason = act.last_reason
    if answered_mono is not None:
        final_status, final_reason = 200, "OK"
    heard = any(m.direction == "RX" and m.kind == "Response" for m in msgs)
    if not heard and act.disconnected_mono is not None and call_id and error is None:
        # nothing ever came back: the status pjsua reports (e.g. 487 after our hang-up) is its own
        n = sum(1 for e in evs if e[1] in ("invite_sent", "invite_resent"))
        error = f"no response from {spec.target} ({n} INVITE{'s' if n != 1 else ''} sent)"
        final_status, final_reason = None, "no response"
    rec = CallRecord(
        call_uid=spec.call_uid, sip_call_id=call_id, target=spec.target,
        invite_at=utc(t0), invite_monotonic_s=round(t0, 6), events=events,
        answered_s=None if answered_mono is None else round(answered_mono - t0, 3),
        media_start_s=None if act.media_start_mono is None else round(act.media_start_mono - t0, 3),
        ended_s=None if ended_mono is None else round(ended_mono - t0, 3),
        final_status=final_status, final_reason=final_reason, disconnect_by=disconnect_by, error=error,
    )
    return rec


def _reason(text: str) -> str | None:
    """The reason phrase of a SIP response's status line (None when it has none)."""
    for line in text.splitlines():
        if line.startswith("SIP/2.0 "):
            parts = line.split(" ", 2)
            return parts[2].strip() if len(parts) > 2 else None
    return None


def write_record(record: CallRecord, out_dir: Path) -> Path:
    """Write ``<call_uid>.events.json`` atomically (write, fsync, rename)."""
    path = out_dir / f"{record.call_uid}.events.json"
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        f.write(record.model_dump_json(indent=1))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path
