"""Campaign files (``scenarios/<campaign>.yaml``): typed, validated data.

A campaign names the hotlines to call, how often (rounds), how hard (concurrency and
limits), how each call is judged (``call``), when a dropped call is redialled and the
CI thresholds. Every section forbids unknown keys so a typo is an error that lists the
allowed names. A minimal file::

    campaign: bank-survey
    default_host: "127.0.0.1:5060"
    hotlines:
      - {id: bank-a, name: Bank A, target: "1001"}
      - {id: bank-b, name: Bank B, target: "sip:1002@127.0.0.1:5060"}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from harness.campaign.classify import CallRules
from harness.errors import BadInput
from harness.schema import StrictModel
from harness.sip.seam import Account
from harness.sip.uri import check_hostport, check_ip, check_sip_uri, env_name_problem
from harness.vocab import DEFAULT_REDIAL_PROPENSITY, Outcome
from harness.yamlfile import load_model

BARE_NUMBER = re.compile(r"^[0-9A-Za-z_+*#.-]+$")


class _Strict(StrictModel):
    pass


class CampaignAccount(_Strict):
    """Outbound SIP account; the password is read from an environment variable, never from the file."""

    registrar: str | None = Field(default=None, description="SIP URI; none = direct calls, no registration")
    username: str | None = None
    domain: str | None = None
    password_env: str | None = Field(default=None,
                                     description="NAME of the environment variable with the password")
    proxy: str | None = Field(default=None, description="outbound proxy SIP URI")
    credentials_file: Path | None = Field(default=None,
                                          description="a file (mode 0600) holding the password, "
                                                      "instead of password_env")

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: object) -> object:
        if isinstance(data, dict) and "password" in data:
            raise ValueError("'password' is not allowed in a campaign file: set password_env to the name "
                             "of an environment variable that holds the password")
        return data

    @field_validator("registrar", "proxy")
    @classmethod
    def _uri(cls, v: str | None) -> str | None:
        return None if v is None else check_sip_uri(v)

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None:
            problem = env_name_problem(v)
            if problem:
                raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _user_for_registrar(self) -> CampaignAccount:
        if self.registrar and not self.username:
            raise ValueError("username is required when a registrar is set")
        return self

    def to_seam(self) -> Account:
        """The account as the SIP seam takes it."""
        return Account(registrar=self.registrar, username=self.username, domain=self.domain,
                       password_env=self.password_env, proxy=self.proxy, credentials_file=self.credentials_file)


class HotlineTarget(_Strict):
    """One hotline to call; a bare number in the file becomes ``sip:NUMBER@<default_host>``."""

    id: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=64)
    name: str = Field(min_length=1)
    target: str

    @field_validator("target", mode="before")
    @classmethod
    def _number_as_text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        if BARE_NUMBER.match(v):
            raise ValueError(f"{v!r} is a bare number: set default_host at the top level "
                             f"(e.g. \"127.0.0.1:5060\") or give a URI like sip:{v}@host:port")
        return check_sip_uri(v)


class Limits(_Strict):
    """Politeness limits towards the hotlines."""

    per_hotline_concurrency: int = Field(default=1, ge=1, le=100,
                                         description="simultaneous calls to one hotline")
    min_interval_s: float = Field(default=5.0, ge=0, le=86400,
                                  description="seconds between the starts of two calls to the same hotline")
    calls_per_minute: float = Field(default=30.0, gt=0, le=6000, description="global cap on call starts")


class Redial(_Strict):
    """Redial chains: a caller who meets one of ``on`` calls again, up to ``max_attempts`` calls in all."""

    on: list[Outcome] = Field(default_factory=lambda: [Outcome.GENTLE_DISCONNECT, Outcome.DROPPED_SILENT])
    max_attempts: int = Field(default=3, ge=1, le=20, description="calls per chain, the first one included")
    delay_s: float = Field(default=2.0, ge=0, le=86400,
                           description="seconds between a call's end and the redial")

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: object) -> object:
        # YAML 1.1 reads a bare `on:` key as the boolean True
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data


class Thresholds(_Strict):
    """CI gates: the run fails (exit 1) when exceeded."""

    drop_rate_max: float | None = Field(default=None, ge=0, le=1,
                                        description="answered calls dropped without an agent, as a fraction")
    per_hotline: bool = Field(default=False, description="apply drop_rate_max to each hotline, not the total")


class LossModel(_Strict):
    """Share of callers who redial after their 1st, 2nd, 3rd... drop (used by the report)."""

    redial_propensity: list[float] = Field(default_factory=lambda: list(DEFAULT_REDIAL_PROPENSITY),
                                          min_length=1)

    @field_validator("redial_propensity")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        for i, p in enumerate(v):
            if not 0 <= p <= 1:
                raise ValueError(f"redial_propensity[{i}] = {p:g} is not a fraction between 0 and 1")
        return v


class Campaign(_Strict):
    """A whole campaign file."""

    campaign: str = Field(pattern=r"^[a-z0-9-]+$", max_length=64, description="name; reports/<campaign>/")
    account: CampaignAccount | None = None
    bind: str = "127.0.0.1"
    default_host: str | None = Field(default=None, description="host[:port] for bare-number targets")
    hotlines: list[HotlineTarget] = Field(min_length=1)
    rounds: int = Field(default=1, ge=1, le=1000)
    round_interval_s: float = Field(default=0.0, ge=0, le=30 * 86400)
    chains_per_round: int = Field(default=1, ge=1, le=1000,
                                  description="redial chains (independent first calls) per hotline per round")
    concurrency: int = Field(default=4, ge=1, le=100, description="simultaneous calls in all")
    limits: Limits = Field(default_factory=Limits)
    call: CallRules = Field(default_factory=CallRules)
    redial: Redial = Field(default_factory=Redial)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    loss_model: LossModel = Field(default_factory=LossModel)

    @model_validator(mode="before")
    @classmethod
    def _expand_bare_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        host = data.get("default_host")
        hotlines = data.get("hotlines")
        if not isinstance(host, str) or not host or not isinstance(hotlines, list):
            return data
        expanded = []
        for h in hotlines:
            if isinstance(h, dict) and isinstance(h.get("target"), (str, int)) and \
                    BARE_NUMBER.match(str(h["target"])):
                h = {**h, "target": f"sip:{h['target']}@{host}"}
            expanded.append(h)
        return {**data, "hotlines": expanded}

    @field_validator("default_host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        return None if v is None else check_hostport(v)

    @field_validator("bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        return check_ip(v)

    @field_validator("hotlines")
    @classmethod
    def _unique_ids(cls, v: list[HotlineTarget], info: ValidationInfo) -> list[HotlineTarget]:
        seen: dict[str, int] = {}
        for i, h in enumerate(v):
            if h.id in seen:
                raise ValueError(f"hotline id {h.id!r} is declared twice "
                                 f"(hotlines[{seen[h.id]}] and hotlines[{i}])")
            seen[h.id] = i
        return v

    @model_validator(mode="after")
    def _limits_fit(self) -> Campaign:
        if self.limits.per_hotline_concurrency > self.concurrency:
            raise ValueError(f"limits.per_hotline_concurrency ({self.limits.per_hotline_concurrency}) "
                             f"exceeds concurrency ({self.concurrency})")
        return self

    def with_host(self, hostport: str) -> Campaign:
        """The same campaign with its bare-number hotlines re-aimed at ``hostport`` (e.g. a lab on port 0)."""
        try:
            check_hostport(hostport)
        except ValueError as exc:
            raise BadInput(f"--host: {exc}") from exc
        if not self.default_host:
            raise BadInput("--host needs a campaign whose hotlines are bare numbers with default_host set")
        old = f"@{self.default_host}"
        hotlines = [h.model_copy(update={"target": h.target.replace(old, f"@{hostport}")})
                    if h.target.endswith(old) else h for h in self.hotlines]
        return self.model_copy(update={"default_host": hostport, "hotlines": hotlines})

    def hotline(self, hotline_id: str) -> HotlineTarget:
        """The hotline with this id (KeyError if none)."""
        for h in self.hotlines:
            if h.id == hotline_id:
                return h
        raise KeyError(hotline_id)


def load_campaign(path: Path) -> Campaign:
    """Load and validate a campaign file (BadInput: ``file:line: field.path: message``)."""
    return load_model(path, Campaign)
