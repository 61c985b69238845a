"""The recording stress check's plan (``harness.bench.stress``): pure parts, no calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench.stress import CALLS_PER_LAB, DEFAULT_SIZES, campaign_yaml, plan_rounds
from harness.campaign.config import load_campaign


@pytest.mark.parametrize(("calls", "sizes"), [(1000, list(DEFAULT_SIZES)), (3000, [12, 40]), (5, [12])])
def test_the_plan_places_at_least_the_calls_asked_in_bursts_a_lab_can_hold(calls: int, sizes: list[int]) -> None:
    plan = plan_rounds(calls, sizes)
    assert sum(b * r for b, r in plan) >= calls
    assert {b for b, _ in plan} == set(sizes)
    assert all(r >= 1 and b * r <= max(CALLS_PER_LAB, b) for b, r in plan)


def test_the_generated_campaign_is_valid_and_one_burst_per_round(tmp_path: Path) -> None:
    path = tmp_path / "stress-1-40.yaml"
    path.write_text(campaign_yaml("stress-1-40", 40, 9, "127.0.0.1:5999"))
    camp = load_campaign(path)
    assert (camp.rounds, camp.chains_per_round, camp.concurrency) == (9, 40, 40)
    assert camp.limits.per_hotline_concurrency == 40 and camp.limits.min_interval_s == 0
    assert camp.redial.max_attempts == 1 and camp.round_interval_s == 0
    assert [h.target for h in camp.hotlines] == ["sip:3002@127.0.0.1:5999"]


def test_the_stress_hotline_is_the_short_drop_the_check_describes() -> None:
    from harness.bench.stress import DEFAULT_HOTLINES, MEDIA_S, NUMBER
    from harness.lab.scenario import load_lab

    (hotline,) = [h for h in load_lab(DEFAULT_HOTLINES).hotlines if h.number == NUMBER]
    kinds = [next(k for k, v in step.model_dump().items() if v is not None) for step in hotline.steps]
    assert kinds == ["ring", "answer", "play", "hangup"]
    assert hotline.steps[2].play is not None and hotline.steps[2].play.s == MEDIA_S
