"""The campaign plan, pure: which calls to place, when they may start, and when to give up.

A campaign is rounds of redial chains. ``initial_attempts`` gives a round's first calls,
``next_attempt`` the redial that follows a call under the campaign's policy, ``Limiter``
the politeness limits, ``plan_resume`` what an interrupted run left (done, cut off, next)
and ``AbortPolicy`` when every call failing means our side is broken. Times are plain
seconds the caller reads from its clock: nothing here reads a clock or touches a file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.campaign.config import Campaign
from harness.errors import BadInput
from harness.vocab import Outcome

FAILURES_BEFORE_STOP = 5  # calls failing in a row, none through yet: stop rather than hammer on

ChainKey = tuple[int, str, str]  # (round, hotline id, chain id)


@dataclass(frozen=True)
class Attempt:
    """One call of a redial chain: attempt 1 is the first call, 2.. the redials."""

    round: int
    hotline_id: str
    target: str
    chain_id: str
    attempt: int
    not_before_s: float = 0.0  # monotonic time before which it must not start (redial delay)

    @property
    def chain(self) -> ChainKey:
        """The redial chain this attempt belongs to."""
        return (self.round, self.hotline_id, self.chain_id)


def chain_id(round_no: int, hotline_id: str, n: int) -> str:
    """Stable id of a redial chain: round, hotline and the chain's number in the round."""
    return f"r{round_no}-{hotline_id}-{n}"


def initial_attempts(campaign: Campaign, round_no: int) -> list[Attempt]:
    """The first calls of every chain of one round, hotlines interleaved."""
    return [Attempt(round_no, h.id, h.target, chain_id(round_no, h.id, n), 1)
            for n in range(1, campaign.chains_per_round + 1) for h in campaign.hotlines]


def next_attempt(campaign: Campaign, done: Attempt, outcome: Outcome, ended_mono_s: float) -> Attempt | None:
    """The redial that follows ``done`` under the campaign's policy, or None when the chain ends.

    ``ended_mono_s`` is when ``done`` ended (monotonic seconds); the redial may start
    ``redial.delay_s`` later.
    """
    policy = campaign.redial
    if outcome not in policy.on or done.attempt >= policy.max_attempts:
        return None
    return Attempt(done.round, done.hotline_id, done.target, done.chain_id, done.attempt + 1,
                   ended_mono_s + policy.delay_s)


@dataclass
class Limiter:
    """Politeness limits: per-hotline concurrency and interval, global calls per minute.

    Times are monotonic seconds given by the caller.
    """

    per_hotline: int
    min_interval_s: float
    calls_per_minute: float
    active: Counter[str] = field(default_factory=Counter)
    last_start_s: dict[str, float] = field(default_factory=dict)
    starts_s: list[float] = field(default_factory=list)

    def wait_s(self, hotline_id: str, now_s: float) -> float:
        """Seconds until a call to ``hotline_id`` may start (0: now; inf: when a call ends)."""
        if self.active[hotline_id] >= self.per_hotline:
            return float("inf")
        wait = 0.0
        last = self.last_start_s.get(hotline_id)
        if last is not None:
            wait = max(wait, last + self.min_interval_s - now_s)
        window = [t for t in self.starts_s if t > now_s - 60.0]
        self.starts_s = window
        if len(window) >= self.calls_per_minute:
            wait = max(wait, window[len(window) - int(self.calls_per_minute)] + 60.0 - now_s)
        return max(0.0, wait)

    def started(self, hotline_id: str, now_s: float) -> None:
        """A call to ``hotline_id`` started at ``now_s``."""
        self.active[hotline_id] += 1
        self.last_start_s[hotline_id] = now_s
        self.starts_s.append(now_s)

    def ended(self, hotline_id: str) -> None:
        """A call to ``hotline_id`` ended."""
        self.active[hotline_id] -= 1


# -- resume -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CutOff:
    """An attempt the journal says was handed to the dialer, without a row: the run stopped mid-call."""

    call_uid: str
    attempt: Attempt


@dataclass(frozen=True)
class ResumePlan:
    """What the evidence and the journal of an earlier run say is done, was cut off, and comes next.

    ``outcomes`` tallies the rows already written; ``chains`` holds, per redial chain, the last
    attempt with a row that is not a cut-off row, and its outcome. Each of ``cut_off`` gets a row
    saying so and is placed again. A new run has empty rows and journal: nothing is done.
    """

    outcomes: Counter[str]
    chains: Mapping[ChainKey, tuple[int, str]]
    cut_off: Sequence[CutOff]

    def pending(self, campaign: Campaign, rounds: Iterable[int] | None, now_mono_s: float) -> list[Attempt]:
        """The attempts still to place, in order, for ``rounds`` (None: every round of the campaign).

        A chain without a row starts from its first attempt; a chain with rows goes on with the
        redial its last outcome calls for, ``redial.delay_s`` after ``now_mono_s``.
        """
        round_list = list(rounds) if rounds is not None else list(range(1, campaign.rounds + 1))
        pending: list[Attempt] = []
        for round_no in round_list:
            for att in initial_attempts(campaign, round_no):
                if att.chain not in self.chains:
                    pending.append(att)
                    continue
                last, outcome = self.chains[att.chain]
                nxt = next_attempt(campaign, Attempt(att.round, att.hotline_id, att.target, att.chain_id, last),
                                   Outcome(outcome), now_mono_s)
                if nxt is not None:
                    pending.append(nxt)
        return pending


def plan_resume(rows: Iterable[Mapping[str, str]], journal_attempts: Iterable[Mapping[str, Any]]) -> ResumePlan:
    """Read an earlier run's evidence ``rows`` and the journal's attempt lines into a ``ResumePlan``.

    A row whose note starts with "cut off" does not end its chain's attempt: that attempt is
    placed again. A journal attempt whose ``call_uid`` has no row was cut off (listed once).
    """
    outcomes: Counter[str] = Counter()
    chains: dict[ChainKey, tuple[int, str]] = {}
    seen: set[str] = set()
    for r in rows:
        seen.add(r["call_uid"])
        outcomes[r["outcome"]] += 1
        if r["note"].startswith("cut off"):
            continue
        k = (int(r["round"]), r["hotline_id"], r["chain_id"])
        if k not in chains or int(r["attempt"]) >= chains[k][0]:
            chains[k] = (int(r["attempt"]), r["outcome"])
    cut_off: list[CutOff] = []
    for entry in journal_attempts:
        if entry["call_uid"] in seen:
            continue
        cut_off.append(CutOff(entry["call_uid"], Attempt(entry["round"], entry["hotline_id"], entry["target"],
                                                         entry["chain_id"], entry["attempt"])))
        seen.add(entry["call_uid"])
    return ResumePlan(outcomes, chains, cut_off)


def resume_host(recorded: str | None, given: str | None, change_host: bool,
                default_host: str | None) -> tuple[str | None, str | None]:
    """The host a resumed run dials, and the host it changes from (None: no change).

    Without ``--host`` the run goes on dialling what it dialled (``recorded``; None: the
    campaign's own targets). A different ``--host`` would leave rows for two hosts in one
    evidence file: refused (BadInput) unless ``change_host``.
    """
    if given is None:
        return recorded, None
    before = recorded or default_host
    if given == before:
        return given, None
    if not change_host:
        was = f"--host {recorded}" if recorded else f"the campaign's default_host {default_host}"
        raise BadInput(f"--host {given} differs from the host this run dialled ({was}): resume without "
                       f"--host to go on with it, or add --change-host to dial {given} from now on "
                       "(the journal and the manifest record the change)")
    return given, before


# -- when to give up --------------------------------------------------------------------------------------

@dataclass
class AbortPolicy:
    """Every call failing (no response, transport, auth) means our side is broken, not the hotlines.

    Failures count only until one call gets through. The run stops early when the first
    ``max(FAILURES_BEFORE_STOP, concurrency)`` calls all failed, and fails at the end when
    every call placed failed, however few.
    """

    concurrency: int
    failures: list[str] = field(default_factory=list)  # the reasons, in the order the calls ended
    any_ok: bool = False

    def ended(self, outcome: Outcome, reason: str) -> bool:
        """Count one ended call; True when the run should stop now."""
        if outcome is Outcome.ERROR and not self.any_ok:
            self.failures.append(reason)
            return len(self.failures) >= max(FAILURES_BEFORE_STOP, self.concurrency)
        self.any_ok = True
        return False

    @property
    def all_failed(self) -> bool:
        """At least one call ended, and every one that did failed."""
        return bool(self.failures) and not self.any_ok
