"""The lab PBX's parts without a network: the script's dispatch table and the truth line's shape."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.clock import Clock, parse_utc
from harness.lab import script, sipmsg
from harness.lab.call import CallEnded, LabCall
from harness.lab.scenario import Hotline, Step, load_lab
from harness.lab.truth import TruthRecord

ROOT = Path(__file__).resolve().parent.parent
HOTLINE_FILES = [ROOT / "scenarios/lab/hotlines.yaml", ROOT / "tests/data/lab_test_hotlines.yaml"]

# A line the lab wrote before its truth was typed (a choose branch, a lead-in silence, an agent).
RECORDED_LINE = (
    '{"sip_call_id": "58S9J5uf.M9R2eVeWvmc-j4mXBoJt80A", "number": "1004", "hotline": "Drops 30% of calls '
    'after the hold", "branch": "agent", "started_at": "2026-12-01T22:50:00.381Z", "answered_at": '
    '"2026-12-01T22:50:01.382Z", "final_code": 200, "phases": [{"kind": "ring", "start": '
    '"2026-12-01T22:50:00.381Z", "end": "2026-12-01T22:50:01.382Z"}, {"kind": "music", "start": '
    '"2026-12-01T22:50:01.394Z", "end": "2026-12-01T22:50:07.394Z"}, {"kind": "silence", "start": '
    '"2026-12-01T22:50:07.394Z", "end": "2026-12-01T22:50:07.714Z"}, {"kind": "agent", "start": '
    '"2026-12-01T22:50:07.714Z", "end": "2026-12-01T22:50:22.385Z"}], "hangup_by": "caller", "hangup_at": '
    '"2026-12-01T22:50:22.385Z", "dtmf_received": "", "note": null}'
)
KEYS = ["sip_call_id", "number", "hotline", "branch", "started_at", "answered_at", "final_code", "phases",
        "hangup_by", "hangup_at", "dtmf_received", "note"]

INVITE = (b"INVITE sip:1004@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\n"
          b"From: <sip:h@127.0.0.1>;tag=a\r\nTo: <sip:1004@127.0.0.1>\r\n"
          b"Call-ID: 58S9J5uf.M9R2eVeWvmc-j4mXBoJt80A\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def _kinds(steps: list[Step]) -> set[str]:
    out: set[str] = set()
    for step in steps:
        out.add(step.kind)
        if step.repeat is not None:
            out |= _kinds(step.repeat.steps)
        for branch in step.choose or []:
            out |= _kinds(branch.steps)
    return out


def _call(hotline: Hotline | None = None, started_wall: float = 0.0) -> LabCall:
    invite = sipmsg.parse(INVITE)
    assert invite is not None
    return LabCall(call_id=invite.call_id, number="1004", invite=invite, addr=("127.0.0.1", 5070), to_tag="t",
                   hotline=hotline, started_wall=started_wall, rng=random.Random(1))


@pytest.mark.parametrize("path", HOTLINE_FILES, ids=lambda p: p.name)
def test_every_step_kind_in_the_hotline_files_has_a_handler(path: Path) -> None:
    kinds = set().union(*(_kinds(h.steps) for h in load_lab(path).hotlines))
    assert kinds <= set(script.HANDLERS)


def test_the_handlers_are_the_schema_step_kinds() -> None:
    assert set(script.HANDLERS) == set(Step.model_fields)


def test_an_unknown_step_kind_is_refused() -> None:
    step = SimpleNamespace(kind="dance")
    with pytest.raises(ValueError, match="unknown step dance"):
        asyncio.run(script.run_step(None, _call(), step))  # type: ignore[arg-type]


class _FixedClock(Clock):
    def __init__(self, wall_s: float) -> None:
        self.now_s = wall_s

    def monotonic_s(self) -> float:
        return self.now_s

    def wall_s(self) -> float:
        return self.now_s


class _Sip:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def final(self, call: LabCall, code: int, body: bytes = b"") -> None:
        call.final_code = code
        self.sent.append(code)

    def provisional(self, call: LabCall, code: int, body: bytes = b"") -> None:
        self.sent.append(code)


class _Host:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sip = _Sip()
        self.ended: list[str] = []

    def end(self, call: LabCall, by: str, when: float | None = None) -> None:
        call.hangup_by = by
        call.hangup_wall = when or self.clock.wall_s()
        self.ended.append(by)

    async def ensure_media(self, call: LabCall) -> bool:
        call.sdp = b"v=0\r\n"
        return True


def test_answer_and_reject_steps_read_time_from_the_given_clock() -> None:
    host = _Host(_FixedClock(1_764_629_401.382))
    call = _call(started_wall=1_764_629_400.381)
    call.open_phase("ring", 1_764_629_400.381)
    asyncio.run(script.run_step(host, call, Step.model_validate({"answer": {}})))  # type: ignore[arg-type]
    assert call.answered_wall == 1_764_629_401.382
    assert host.sip.sent == [200]
    assert (call.phases[0].end_s, call.phases[1].kind) == (1_764_629_401.382, "silence")

    other = _call()
    with pytest.raises(CallEnded):
        asyncio.run(script.run_step(host, other, Step.model_validate({"reject": {"code": 486}})))  # type: ignore[arg-type]
    assert (other.final_code, other.hangup_by) == (486, "lab")


def test_a_truth_record_writes_the_recorded_line_unchanged() -> None:
    obj = json.loads(RECORDED_LINE)
    record = TruthRecord.from_json(obj)
    assert list(record.to_json()) == KEYS
    assert list(record.to_json()["phases"][0]) == ["kind", "start", "end"]
    assert record.to_line() == RECORDED_LINE + "\n"


def test_a_call_builds_the_recorded_truth_line() -> None:
    obj = json.loads(RECORDED_LINE)

    def at(text: str) -> float:  # half a millisecond in, so the ms truncation of utc_iso gives it back
        return parse_utc(text) + 0.0005

    hotline = Hotline(number="1004", name=obj["hotline"], steps=[Step.model_validate({"answer": {}})])
    call = _call(hotline, at(obj["started_at"]))
    call.branch.append("agent")
    call.answered_wall = at(obj["answered_at"])
    call.final_code = 200
    for phase in obj["phases"]:
        call.open_phase(phase["kind"], at(phase["start"]))
        call.close_phase(at(phase["end"]))
    call.open_phase("silence", at(obj["hangup_at"]))  # shorter than a frame: left out of the truth
    call.hangup_by, call.hangup_wall = "caller", at(obj["hangup_at"])
    call.close_phase(call.hangup_wall)
    assert call.truth().to_line() == RECORDED_LINE + "\n"
