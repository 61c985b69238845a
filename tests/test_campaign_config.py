"""Campaign files: a good file loads; every bad one gives exactly one line: file:line: field.path: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.campaign import load_campaign
from harness.errors import BadInput
from harness.validate import validate_files
from harness.vocab import Outcome

GOOD = """\
campaign: bank-survey
account:
  registrar: "sip:127.0.0.1:5070"
  username: shopper
  domain: example.test
  password_env: SHOPPER_PASSWORD
bind: 127.0.0.1
default_host: "127.0.0.1:5060"
hotlines:
  - {id: bank-a, name: Bank A, target: 1001}
  - {id: bank_b, name: Bank B, target: "sip:1002@127.0.0.1:5060"}
rounds: 3
round_interval_s: 60
concurrency: 8
limits: {per_hotline_concurrency: 2, min_interval_s: 0, calls_per_minute: 20}
call:
  ring_timeout_s: 20
  max_hold_s: 90
  max_call_s: 200
  agent_min_speech_s: 3.5
  dtmf: "1#"
  dtmf_after_s: 2
redial:
  on: [gentle_disconnect, dropped_silent, gave_up_on_hold]
  max_attempts: 3
  delay_s: 2
thresholds: {drop_rate_max: 0.03, per_hotline: true}
loss_model: {redial_propensity: [0.82, 0.54, 0.02]}
"""

MINIMAL = """\
campaign: lab-demo
hotlines:
  - id: a
    name: A
    target: "sip:1001@127.0.0.1:5060"
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads(tmp_path: Path) -> None:
    c = load_campaign(write(tmp_path, GOOD))
    assert c.campaign == "bank-survey"
    assert [h.target for h in c.hotlines] == ["sip:1001@127.0.0.1:5060", "sip:1002@127.0.0.1:5060"]
    assert c.redial.on == [Outcome.GENTLE_DISCONNECT, Outcome.DROPPED_SILENT, Outcome.GAVE_UP_ON_HOLD]
    assert c.call.max_hold_s == 90 and c.call.dtmf == "1#"
    assert c.thresholds.drop_rate_max == 0.03
    assert c.account is not None and c.account.to_seam().password_env == "SHOPPER_PASSWORD"
    assert c.hotline("bank_b").name == "Bank B"


def test_defaults(tmp_path: Path) -> None:
    c = load_campaign(write(tmp_path, MINIMAL))
    assert c.bind == "127.0.0.1" and c.rounds == 1 and c.round_interval_s == 0 and c.concurrency == 4
    limits = c.limits
    assert (limits.per_hotline_concurrency, limits.min_interval_s, limits.calls_per_minute) == (1, 5, 30)
    assert (c.call.ring_timeout_s, c.call.max_hold_s, c.call.max_call_s, c.call.agent_min_speech_s) == \
        (30, 120, 300, 4.0)
    assert c.redial.on == [Outcome.GENTLE_DISCONNECT, Outcome.DROPPED_SILENT]
    assert (c.redial.max_attempts, c.redial.delay_s) == (3, 2)
    assert c.loss_model.redial_propensity == [0.82, 0.54, 0.02]
    assert c.thresholds.drop_rate_max is None and c.account is None


def _replace(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new)


BAD = [
    (_replace("campaign: bank-survey", "campaign: Bank Survey"), 1, "campaign: String should match pattern"),
    (_replace("  password_env: SHOPPER_PASSWORD", "  password: hunter2"), 3,
     "account: 'password' is not allowed in a campaign file: set password_env"),
    (_replace("password_env: SHOPPER_PASSWORD", "password_env: hunter2!"), 6,
     ("account.password_env: give the NAME of an environment variable (letters, digits, _; "
      "e.g. HARNESS_SIP_PASSWORD), not the password itself (the value given is not shown)")),
    (_replace('registrar: "sip:127.0.0.1:5070"', 'registrar: "127.0.0.1"'), 3,
     "account.registrar: '127.0.0.1' is not a SIP URI"),
    (_replace('target: "sip:1002@127.0.0.1:5060"', 'target: "sip:1002@"'), 11,
     "hotlines[1].target: 'sip:1002@' has no host"),
    (_replace('target: "sip:1002@127.0.0.1:5060"', 'target: "sip:1002@h:99999"'), 11,
     "hotlines[1].target: 'sip:1002@h:99999' has a bad port '99999'"),
    (_replace("id: bank_b", "id: bank-a"), 10, "hotlines: hotline id 'bank-a' is declared twice"),
    (_replace("id: bank_b", "id: Bank B"), 11, "hotlines[1].id: String should match pattern"),
    (_replace("rounds: 3", "rounds: 0"), 12, "rounds: Input should be greater than or equal to 1"),
    (_replace("concurrency: 8", "concurrency: 101"), 14,
     "concurrency: Input should be less than or equal to 100"),
    (_replace("min_interval_s: 0", "min_interval_s: -1"), 15,
     "limits.min_interval_s: Input should be greater"),
    (_replace("per_hotline_concurrency: 2", "per_hotline_concurrency: 9"), 1,
     "(top level): limits.per_hotline_concurrency (9) exceeds concurrency (8)"),
    (_replace("  max_hold_s: 90", "  max_hold_s: 900"), 17,
     "call: max_hold_s (900) must not exceed max_call_s (200)"),
    (_replace("  ring_timeout_s: 20", "  ring_timeout_s: 20\n  ring_timout_s: 20"), 18,
     "call.ring_timout_s: unknown field (allowed: agent_confirm_s, agent_join_gap_s, agent_min_speech_s,"),
    (_replace("redial:\n  on: [gentle_disconnect", "redial:\n  on: [gentle_drop"), 24,
     "redial.on[0]: Input should be 'busy', 'no_answer'"),
    (_replace("thresholds: {drop_rate_max: 0.03", "thresholds: {drop_rate_max: 3"), 27,
     "thresholds.drop_rate_max: Input should be less than or equal to 1"),
    (_replace("[0.82, 0.54, 0.02]", "[0.82, 54, 0.02]"), 28,
     "loss_model.redial_propensity: redial_propensity[1] = 54 is not a fraction"),
    (GOOD + "labs: true\n", 29, "labs: unknown field (allowed: account, bind, call, campaign,"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD, ids=[m.split(":")[0] + str(i) for i, (_, _, m) in
                                                                  enumerate(BAD)])
def test_bad_file_one_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    errors = validate_files([path])
    assert len(errors) == 1
    assert "\n" not in errors[0]
    assert errors[0].startswith(f"{path}:{line}: {message}"), errors[0]


def test_bare_number_needs_default_host(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('"sip:1001@127.0.0.1:5060"', "1001"))
    with pytest.raises(BadInput) as exc:
        load_campaign(path)
    assert str(exc.value).startswith(
        f"{path}:5: hotlines[0].target: '1001' is a bare number: set default_host")


def test_password_key_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "account:\n  username: u\n  password: secret\n")
    with pytest.raises(BadInput, match=r"'password' is not allowed.*password_env"):
        load_campaign(path)


def test_validate_files_mixes_lab_and_campaign(tmp_path: Path) -> None:
    good = write(tmp_path, MINIMAL, "good.yaml")
    lab = write(tmp_path, "hotlines:\n  - number: '1'\n    name: x\n    steps: [answer, hangup]\n",
                "lab/h.yaml")
    bad_lab = write(tmp_path, "hotlines:\n  - number: '1'\n    name: x\n    steps: [{reject: {code: 499}}]\n",
                    "lab/bad.yaml")
    missing = tmp_path / "none.yaml"
    assert validate_files([good, lab]) == []
    errors = validate_files([good, lab, bad_lab, missing])
    assert errors == [
        (f"{bad_lab}:4: hotlines[0].steps[0].reject.code: "
        "reject code must be one of 404, 480, 486, 503, 600, 603, got 499"),
        f"{missing}: no such file",
    ]


def test_repository_scenarios_validate() -> None:
    root = Path(__file__).resolve().parent.parent / "scenarios"
    files = sorted(root.rglob("*.yaml"))
    assert files
    assert validate_files(files) == []
