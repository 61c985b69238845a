"""Hostile or careless input (issue 12, section 5): each case is refused with one line and exit 2
(3 for an infrastructure failure), no traceback, no hang, and nothing secret echoed."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from needs import require

from harness.campaign import load_campaign
from harness.errors import EXIT_INFRA, EXIT_THRESHOLDS, BadInput, HarnessError, InfraError
from harness.lab.scenario import load_lab
from harness.validate import validate_files
from harness.yamlfile import MAX_DEPTH_LEVELS, MAX_FILE_BYTES

ROOT = Path(__file__).resolve().parent.parent
HOTLINE = '  - {id: a, name: A, target: "sip:1001@127.0.0.1:5060"}\n'
MINIMAL = "campaign: lab-demo\nhotlines:\n" + HOTLINE


def harness(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout_s, check=False, env=env)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def the_error(path: Path) -> str:
    errors = validate_files([path])
    assert len(errors) == 1, errors
    assert "\n" not in errors[0] and "\r" not in errors[0]
    return errors[0]


# -- YAML ---------------------------------------------------------------------------------------

BILLION_LAUGHS = """\
campaign: lol
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
hotlines: *i
"""


@pytest.mark.timeout(20)
def test_billion_laughs_is_refused_quickly_with_bounded_memory(tmp_path: Path) -> None:
    path = write(tmp_path, BILLION_LAUGHS)
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    error = the_error(path)
    assert time.monotonic() - t0 < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib < 50_000  # KiB
    assert error == f"{path}:2: anchors and aliases (&name, *name) are not allowed"


def test_recursive_anchor_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "loop: &r [*r]\n")
    assert the_error(path) == f"{path}:4: anchors and aliases (&name, *name) are not allowed"


def test_an_alias_alone_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "campaign: &n lab-demo\nhotlines:\n" + HOTLINE + "x: *n\n")
    assert the_error(path) == f"{path}:1: anchors and aliases (&name, *name) are not allowed"


def test_merge_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "limits:\n  <<: {min_interval_s: 1}\n")
    assert the_error(path) == f"{path}:5: merge keys (<<) are not allowed"


@pytest.mark.parametrize("levels", [5000, MAX_DEPTH_LEVELS + 1])
def test_deep_nesting_is_refused(tmp_path: Path, levels: int) -> None:
    path = write(tmp_path, MINIMAL + "x: " + "[" * levels + "]" * levels + "\n")
    assert the_error(path) == f"{path}:4: nested more than {MAX_DEPTH_LEVELS} levels deep"
    block_levels = min(levels, 300)  # block style costs two spaces a level: keep the file small
    block = write(tmp_path, MINIMAL + "".join("  " * i + f"k{i}:\n" for i in range(block_levels)), "block.yaml")
    assert the_error(block).endswith(f"nested more than {MAX_DEPTH_LEVELS} levels deep")


def test_nesting_at_the_limit_is_still_read(tmp_path: Path) -> None:
    # the top-level mapping is one level; a list nested to the limit reaches the field check
    depth = MAX_DEPTH_LEVELS - 1
    path = write(tmp_path, MINIMAL + "x: " + "[" * depth + "]" * depth + "\n")
    assert the_error(path).startswith(f"{path}:4: x: unknown field")


def test_duplicate_account_hiding_a_password_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "account:\n  password: hunter2\naccount:\n  username: u\n")
    error = the_error(path)
    assert error == (f"{path}:6: duplicate key 'account' (first at line 4): "
                     "each key may appear once in a mapping")
    assert "hunter2" not in error


def test_duplicate_keys_in_a_nested_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "limits: {min_interval_s: 1, min_interval_s: 2}\n")
    assert the_error(path).startswith(f"{path}:4: duplicate key 'min_interval_s' (first at line 4)")
    lab = write(tmp_path, "hotlines:\n  - number: '1'\n    name: x\n    name: y\n    steps: [answer]\n",
                "lab/h.yaml")
    assert the_error(lab).startswith(f"{lab}:4: duplicate key 'name' (first at line 3)")


def test_a_key_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '"evil\\nkey\\r\\u0007": 1\n')
    error = the_error(path)
    assert error.startswith(f"{path}:4: evil\\nkey\\r\\x07: unknown field (allowed: account, bind,")
    proc = harness("validate", str(path))
    assert proc.returncode == 2
    one_error_line(proc)


def test_a_very_long_key_or_value_is_cut_in_the_message(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "? " + "k" * 5000 + "\n: 1\n")  # explicit key: no 1024-char limit
    error = the_error(path)
    assert len(error) < 1000 and "..." in error
    value = write(tmp_path, MINIMAL + "bind: " + "b" * 5000 + "\n", "v.yaml")
    error = the_error(value)
    assert len(error) < 1000 and "(5000 characters)" in error


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "# " + "x" * MAX_FILE_BYTES + "\n")
    size = path.stat().st_size
    assert the_error(path) == f"{path}: file is {size} bytes, larger than the {MAX_FILE_BYTES} allowed"


def test_huge_integer_and_bad_utf8_are_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "rounds: " + "9" * 5000 + "\n")
    assert the_error(path).startswith(f"{path}: not valid YAML: a number is too long to read")
    raw = tmp_path / "raw.yaml"
    raw.write_bytes(MINIMAL.encode() + b"x: \xff\xfe\n")
    assert the_error(raw) == f"{raw}:4: not UTF-8 text (byte {len(MINIMAL) + 3})"
    bell = write(tmp_path, MINIMAL + "x: \x07\n", "bell.yaml")  # the YAML reader refuses it before parsing
    assert the_error(bell) == (f"{bell}:4: not valid YAML: unacceptable character #x0007: "
                               "special characters are not allowed")


def test_every_product_yaml_read_uses_the_restricted_loader(tmp_path: Path) -> None:
    """run, lab, validate and report --campaign all refuse an alias the same way."""
    camp = write(tmp_path, MINIMAL + "x: &a 1\ny: *a\n")
    lab = write(tmp_path, "seed: &s 1\nhotlines:\n  - {number: '1', name: x, steps: [answer]}\n", "lab/h.yaml")
    with pytest.raises(BadInput, match="anchors and aliases"):
        load_campaign(camp)
    with pytest.raises(BadInput, match="anchors and aliases"):
        load_lab(lab)
    evidence = tmp_path / "e.csv"
    evidence.write_text("x\n")
    for args in (("run", str(camp), "--reports", str(tmp_path / "r"), "--recordings", str(tmp_path / "rec")),
                 ("validate", str(camp)),
                 ("report", str(evidence), "--campaign", str(camp), "--no-verify", "--out", str(tmp_path / "o")),
                 ("lab", "--hotlines", str(lab), "--port", "0", "--truth", str(tmp_path / "t.jsonl"))):
        proc = harness(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "anchors and aliases" in one_error_line(proc), args


def test_the_yaml_module_is_read_only_through_yamlfile() -> None:
    users = [p.relative_to(ROOT) for p in (ROOT / "harness").rglob("*.py")
             if p.name != "yamlfile.py" and ("import yaml" in p.read_text() or "yaml." in p.read_text()
                                             .replace("yamlfile.", "").replace(".yaml", ""))]
    assert users == []


# -- targets and other values ------------------------------------------------------------------

def _campaign(**top: str) -> str:
    lines = ["campaign: lab-demo"]
    target = top.pop("target", '"sip:1001@127.0.0.1:5060"')
    lines += [f"{k}: {v}" for k, v in top.items()]
    lines += ["hotlines:", f"  - {{id: a, name: A, target: {target}}}"]
    return "\n".join(lines) + "\n"


BAD_VALUES = [
    ({"target": '"sip:1007:PASSWORD@127.0.0.1"'}, 3,
     "hotlines[0].target: a password in a SIP URI is not allowed (user:password@host)"),
    ({"target": '"sip:@"'}, 3, "hotlines[0].target: 'sip:@' has an empty user before '@'"),
    ({"target": '"sip:@127.0.0.1"'}, 3, "hotlines[0].target: 'sip:@127.0.0.1' has an empty user before '@'"),
    ({"target": '"sip:10 07@127.0.0.1"'}, 3,
     "hotlines[0].target: 'sip:10 07@127.0.0.1' contains a space or control character"),
    ({"target": '"sip:1007@127.0. 0.1"'}, 3,
     "hotlines[0].target: 'sip:1007@127.0. 0.1' contains a space or control character"),
    ({"target": '"sip:1007@host\\tname"'}, 3,
     "hotlines[0].target: 'sip:1007@host\\tname' contains a space or control character"),
    ({"target": '"sip:1007@bad_host!"'}, 3, "hotlines[0].target: 'sip:1007@bad_host!' has a bad host"),
    ({"target": '"sip:1007@300.1.1.1"'}, 3, "hotlines[0].target: 'sip:1007@300.1.1.1' has a bad IPv4 host"),
    ({"target": '"sip:1007@[::g]:5060"'}, 3, "hotlines[0].target: 'sip:1007@[::g]:5060' has a bad IPv6 host"),
    ({"target": '"sip:1007@h:0"'}, 3, "hotlines[0].target: 'sip:1007@h:0' has a bad port '0'"),
    ({"target": '"sip:10<07@h"'}, 3, "hotlines[0].target: 'sip:10<07@h' has characters not allowed in a SIP user"),
    ({"bind": '"; rm -rf /"'}, 2, "bind: '; rm -rf /' is not an IP address"),
    ({"bind": "localhost"}, 2, "bind: 'localhost' is not an IP address"),
    ({"default_host": '"a@b"', "target": "1001"}, 2,
     "default_host: 'a@b' is not host[:port] (no user@ and no sip: here"),
    ({"default_host": '"sip:127.0.0.1"', "target": "1001"}, 2, "default_host: 'sip:127.0.0.1' is not host[:port]"),
    ({"default_host": '"127.0.0.1:99999"', "target": "1001"}, 2,
     "default_host: '127.0.0.1:99999' has a bad port '99999'"),
    ({"rounds": "true"}, 2, "rounds: expected a number, got true (a YAML boolean)"),
    ({"chains_per_round": "false"}, 2, "chains_per_round: expected a number, got false (a YAML boolean)"),
    ({"concurrency": "true"}, 2, "concurrency: expected a number, got true (a YAML boolean)"),
    ({"round_interval_s": "true"}, 2, "round_interval_s: expected a number, got true (a YAML boolean)"),
    ({"limits": "{calls_per_minute: true}"}, 2,
     "limits.calls_per_minute: expected a number, got true (a YAML boolean)"),
    ({"redial": "{max_attempts: true}"}, 2, "redial.max_attempts: expected a number, got true (a YAML boolean)"),
    ({"call": "{ring_timeout_s: true}"}, 2, "call.ring_timeout_s: expected a number, got true (a YAML boolean)"),
    ({"loss_model": "{redial_propensity: [0.8, true]}"}, 2,
     "loss_model.redial_propensity: item 1: expected a number, got true (a YAML boolean)"),
    ({"thresholds": "{drop_rate_max: false}"}, 2,
     "thresholds.drop_rate_max: expected a number, got false (a YAML boolean)"),
    ({"account": "{registrar: 'sip:u:pw@127.0.0.1:5070', username: u}"}, 2,
     "account.registrar: a password in a SIP URI is not allowed"),
    ({"account": "{proxy: 'sip:proxy host'}"}, 2, "account.proxy: 'sip:proxy host' contains a space"),
]


@pytest.mark.parametrize(("top", "line", "message"), BAD_VALUES,
                         ids=[m.split(":")[0] + str(i) for i, (_, _, m) in enumerate(BAD_VALUES)])
def test_bad_values_are_refused(tmp_path: Path, top: dict[str, str], line: int, message: str) -> None:
    path = write(tmp_path, _campaign(**top))
    error = the_error(path)
    assert error.startswith(f"{path}:{line}: {message}"), error
    assert "PASSWORD" not in error and "pw@" not in error


def test_a_password_in_a_uri_never_reaches_a_message(tmp_path: Path) -> None:
    for uri in ("sip:1007:PASSWORD@host:99999", "sip:1007:PASSWORD@bad host", "1007:PASSWORD@host",
                "sips:u:PASSWORD@h;transport=tls"):
        error = the_error(write(tmp_path, _campaign(target=f'"{uri}"')))
        assert "PASSWORD" not in error and "a password in a SIP URI is not allowed" in error, error


GOOD_TARGETS = ["sip:1002@127.0.0.1:5060", "sips:shop@example.com;transport=tls", "sip:1@[::1]:5060",
                "sip:127.0.0.1:5070", "sip:+4930123@gw.example.net", "sip:1001@host.example.;user=phone",
                "sip:*98%23@h", "sip:a.b-c_d@h?subject=x"]


@pytest.mark.parametrize("target", GOOD_TARGETS)
def test_good_targets_still_validate(tmp_path: Path, target: str) -> None:
    assert validate_files([write(tmp_path, _campaign(target=f'"{target}"'))]) == []


def test_good_binds_and_hosts_still_validate(tmp_path: Path) -> None:
    for top in ({"bind": "0.0.0.0"}, {"bind": "::1"}, {"bind": "192.0.2.7"},
                {"default_host": "pbx.example.net", "target": "1001"},
                {"default_host": '"[::1]:5060"', "target": "1001"},
                {"rounds": "2", "round_interval_s": "1.5"}):
        assert validate_files([write(tmp_path, _campaign(**top))]) == [], top


def test_lab_numbers_refuse_booleans(tmp_path: Path) -> None:
    lab = write(tmp_path, "seed: true\nhotlines:\n  - {number: '1', name: x, steps: [{ring: {s: true}}]}\n",
                "lab/h.yaml")
    assert the_error(lab).startswith(f"{lab}:1: seed: expected a number, got true (a YAML boolean)")
    lab2 = write(tmp_path, "hotlines:\n  - {number: '1', name: x, steps: [{ring: {s: true}}]}\n", "lab/h2.yaml")
    assert the_error(lab2).startswith(f"{lab2}:2: hotlines[0].steps[0].ring.s: expected a number, got true")
    loop = write(tmp_path, "hotlines:\n  - {number: '1', name: x, steps: [{play: {file: m.wav, loop: false}}]}\n",
                 "lab/h3.yaml")
    assert validate_files([loop]) == []  # a real bool field still takes a boolean


def test_run_host_option_is_checked(tmp_path: Path) -> None:
    camp = load_campaign(write(tmp_path, _campaign(default_host='"127.0.0.1:5060"', target="1001")))
    with pytest.raises(BadInput, match=r"^--host: 'a@b' is not host\[:port\]"):
        camp.with_host("a@b")
    assert camp.with_host("127.0.0.1:5999").hotlines[0].target == "sip:1001@127.0.0.1:5999"


# -- harness call: target, registrar, bind ------------------------------------------------------

@pytest.mark.parametrize(("args", "expected"), [
    (("sip:1007:PASSWORD@127.0.0.1:9",), ("harness: error: TARGET: a password in a SIP URI is not allowed "
                                          "(user:password@host); use --password-env")),
    (("sip:@127.0.0.1:9",), "harness: error: TARGET: 'sip:@127.0.0.1:9' has an empty user before '@'"),
    (("sip:10 07@127.0.0.1:9",), "harness: error: TARGET: 'sip:10 07@127.0.0.1:9' contains a space"),
    (("sip:1@127.0.0.1:9", "--registrar", "sip:u:PASSWORD@127.0.0.1:9", "--username", "u"),
     "harness: error: --registrar: a password in a SIP URI is not allowed"),
    (("sip:1@127.0.0.1:9", "--bind", "; rm -rf /"), "harness: error: --bind: '; rm -rf /' is not an IP address"),
])
def test_call_refuses_bad_options_before_dialling(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    proc = harness("call", *args, "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert line.startswith(expected), line
    assert "PASSWORD" not in proc.stderr + proc.stdout
    assert not (tmp_path / "o").exists()  # nothing was dialled, nothing written


# -- a password where a variable name belongs --------------------------------------------------

SECRET = "Zq7xR2pLw9"  # looks like a variable name (letters and digits) and is a password


def test_call_does_not_echo_a_password_given_as_variable_name(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != SECRET}
    for value in (SECRET, f"{SECRET}!#"):
        proc = harness("call", "sip:1@127.0.0.1:9", "--out", str(tmp_path / "o"), "--registrar",
                       "sip:127.0.0.1:9", "--username", "u", "--password-env", value, env=env)
        assert proc.returncode == 2
        line = one_error_line(proc)
        assert SECRET not in proc.stderr + proc.stdout
        assert "NAME of" in line and "not the password itself" in line, line


def test_resolve_password_names_only_what_reads_as_a_name() -> None:
    from harness.sip.pjsua_adapter import resolve_password
    from harness.sip.seam import Account

    with pytest.raises(BadInput) as exc:
        resolve_password(Account(username="u", password_env=SECRET))
    assert SECRET not in str(exc.value) and "NAME of a variable" in str(exc.value)
    with pytest.raises(BadInput, match="HARNESS_TEST_UNSET_PW"):
        resolve_password(Account(username="u", password_env="HARNESS_TEST_UNSET_PW"))


def test_validator_does_not_echo_a_password_given_as_variable_name(tmp_path: Path) -> None:
    path = write(tmp_path, _campaign(account=f"{{username: u, password_env: '{SECRET}!#'}}"))
    proc = harness("validate", str(path))
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert SECRET not in proc.stderr + proc.stdout
    assert line.endswith("account.password_env: give the NAME of an environment variable (letters, digits, _; "
                         "e.g. HARNESS_SIP_PASSWORD), not the password itself (the value given is not shown)")


# -- the resolver error ------------------------------------------------------------------------

@pytest.mark.sip
def test_unresolvable_host_is_one_clean_line(tmp_path: Path) -> None:
    import json

    proc = harness("call", "sip:1@nonexistent.invalid", "--out", str(tmp_path), "--ring-timeout-s", "2",
                   "--max-call-s", "3")
    assert proc.returncode == EXIT_INFRA
    line = one_error_line(proc)
    assert line == ("harness: error: could not send INVITE to sip:1@nonexistent.invalid: "
                    "host not found (nonexistent.invalid)")
    (events,) = tmp_path.glob("*.events.json")
    rec = json.loads(events.read_text())
    assert rec["error"] == line.removeprefix("harness: error: ")
    assert ".cpp" not in events.read_text() and "pjsua_call_make_call" not in events.read_text()


def test_pj_error_text_has_no_cxx_internals() -> None:
    import pjsua2 as pj  # a dependency of the package: its absence is a failure, never a skip

    from harness.sip.pjsua_adapter import pj_error_text

    err = pj.Error()
    err.status, err.title = 70018, "pjsua_call_make_call(acc.getId(), &pj_dst_uri, ...)"
    err.reason, err.srcFile, err.srcLine = "gethostbyname() has returned error (PJ_ERESOLVE)", "call.cpp", 712
    assert pj_error_text(err, "x.invalid") == "host not found (x.invalid)"
    err.reason = "some_function() has returned error (PJ_EWHATEVER)"
    assert pj_error_text(err) == "(PJ_EWHATEVER)"
    err.reason = ""
    assert pj_error_text(err) == "pjsip status 70018"


# -- exit codes -------------------------------------------------------------------------------

def test_only_threshold_failures_exit_1() -> None:
    assert HarnessError("x").exit_code == EXIT_INFRA
    assert EXIT_THRESHOLDS == 1 and all(c.exit_code != 1 for c in HarnessError.__subclasses__())
    assert BadInput("x").exit_code == 2 and InfraError("x").exit_code == 3


def test_espeak_failure_exits_3(tmp_path: Path) -> None:
    media = ROOT / "build" / "media"
    require((media / "MEDIA.json").exists(), "lab media not prepared (make media)")
    out = tmp_path / "media"
    shutil.copytree(media, out)
    (out / "greeting_zh.wav").unlink()  # the one file to re-render: espeak-ng, Mandarin
    fake = tmp_path / "bin"
    fake.mkdir()
    exe = fake / "espeak-ng"
    exe.write_text("#!/bin/sh\necho 'espeak-ng: voice not found' >&2\nexit 1\n")
    exe.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ.get('PATH', '')}"}
    proc = harness("media", "--out", str(out), env=env)
    assert proc.returncode == EXIT_INFRA, proc.stderr
    line = one_error_line(proc)
    assert "espeak-ng failed for voice 'cmn'" in line and "voice not found" in line


def test_a_file_name_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    evil = str(tmp_path / "evil\nname.yaml")
    for args in (("validate", evil), ("run", evil, "--reports", str(tmp_path / "r")),
                 ("lab", "--hotlines", evil, "--port", "0")):
        proc = harness(*args)
        assert proc.returncode == 2, args
        assert one_error_line(proc).endswith("evil\\nname.yaml: no such file"), args
