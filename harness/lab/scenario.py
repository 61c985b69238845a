"""Lab hotline declarations (``scenarios/lab/hotlines.yaml``): typed, validated data.

A hotline is a number with an ordered list of steps that follow the call, SIPp
style. Each step is a one-key mapping::

    - ring: {s: 3}                       # 180 Ringing, wait 3 s
    - early_media: {file: moh_1.wav, s: 6}   # 183 with SDP, play 6 s before any answer
    - answer: {}                         # 200 OK (billing starts)
    - play: {file: moh_1.wav, s: 20, loop: true}   # kind from the file name unless given
    - wait: {s: 2}                       # digital silence on an open line
    - agent: {file: agent_en.wav, reply: agent_reply.wav}   # a live-like agent until the caller hangs up
    - hangup: {}                         # BYE from the lab
    - reject: {code: 486}                # final error response
    - never_answer: {}                   # ring until the caller gives up
    - repeat: {times: 0, steps: [...]}   # 0 = until the call ends (IVR loops)
    - choose: [{weight: 60, name: drop, steps: [...]}, {weight: 40, name: agent, steps: [...]}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from harness.schema import StrictModel

PhaseKind = Literal["ring", "early_media", "music", "speech", "agent", "silence"]
REJECT_CODES = (404, 480, 486, 503, 600, 603)


class _Strict(StrictModel):
    pass


class Ring(_Strict):
    s: float = Field(gt=0, le=600, description="seconds of 180 Ringing before the next step")


class Play(_Strict):
    file: str = Field(description="a WAV in the lab media folder")
    s: float | None = Field(default=None, gt=0, le=7200, description="seconds; default: the file once")
    loop: bool = Field(default=True, description="loop the file when s is longer than it")
    kind: Literal["music", "speech", "agent"] | None = None  # default from the file name

    def phase_kind(self) -> str:
        """The ground-truth phase this playback counts as."""
        if self.kind:
            return self.kind
        name = Path(self.file).name
        if name.startswith("moh"):
            return "music"
        if name.startswith("agent"):
            return "agent"
        return "speech"


class Wait(_Strict):
    s: float = Field(gt=0, le=7200)


class Agent(_Strict):
    file: str
    reply: str | None = None
    max_s: float = Field(default=3600, gt=0, description="the agent hangs up after this long")


class Reject(_Strict):
    code: int

    @field_validator("code")
    @classmethod
    def _known(cls, v: int) -> int:
        if v not in REJECT_CODES:
            raise ValueError(f"reject code must be one of {', '.join(map(str, REJECT_CODES))}, got {v}")
        return v


class Empty(_Strict):
    pass


class Branch(_Strict):
    weight: float = Field(gt=0)
    name: str
    steps: list[Step]


class Repeat(_Strict):
    times: int = Field(ge=0, description="0 repeats until the call ends")
    steps: list[Step]


class Step(_Strict):
    """Exactly one of the fields is set."""

    ring: Ring | None = None
    early_media: Play | None = None
    answer: Empty | None = None
    play: Play | None = None
    wait: Wait | None = None
    agent: Agent | None = None
    hangup: Empty | None = None
    reject: Reject | None = None
    never_answer: Empty | None = None
    repeat: Repeat | None = None
    choose: list[Branch] | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_mappings(cls, data: object) -> object:
        # `- answer:` or `- answer: {}` both mean "no options"
        if isinstance(data, dict):
            return {k: ({} if v is None and k in ("answer", "hangup", "never_answer") else v)
                    for k, v in data.items()}
        if isinstance(data, str) and data in ("answer", "hangup", "never_answer"):
            return {data: {}}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        set_fields = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(set_fields) != 1:
            allowed = ", ".join(type(self).model_fields)
            raise ValueError(f"a step has exactly one of: {allowed} (got {', '.join(set_fields) or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)


class Hotline(_Strict):
    number: str = Field(pattern=r"^[0-9A-Za-z_+*#.-]+$")
    name: str
    description: str = ""
    steps: list[Step] = Field(min_length=1)


class LabConfig(_Strict):
    """The whole lab: a seed for ``choose`` branches, a media folder and the hotlines."""

    seed: int = 1
    media_dir: str = "build/media"  # relative to the working directory
    hotlines: list[Hotline] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_numbers(self) -> LabConfig:
        seen: set[str] = set()
        for h in self.hotlines:
            if h.number in seen:
                raise ValueError(f"hotline number {h.number} is declared twice")
            seen.add(h.number)
        return self

    def media_files(self) -> set[str]:
        """Every media file the steps refer to."""
        out: set[str] = set()

        def walk(steps: list[Step]) -> None:
            for st in steps:
                for p in (st.early_media, st.play):
                    if p:
                        out.add(p.file)
                if st.agent:
                    out.add(st.agent.file)
                    if st.agent.reply:
                        out.add(st.agent.reply)
                if st.repeat:
                    walk(st.repeat.steps)
                for b in st.choose or []:
                    walk(b.steps)

        for h in self.hotlines:
            walk(h.steps)
        return out


def load_lab(path: Path) -> LabConfig:
    """Load and validate a lab hotlines file (BadInput with file:line: field: message)."""
    from harness.yamlfile import load_model

    return load_model(path, LabConfig)
