"""Seeded fuzz of the shipped campaign: every mutation is either valid or refused with one line (exit 2).

Mutations are text-level (delete, duplicate, swap or truncate lines, flip characters, control and
unicode characters, bad UTF-8) and structure-level (values of other types, booleans for numbers,
anchors and aliases, billion laughs, deep nesting, huge repetition, oversized files, newlines in
keys, passwords in URIs, bad hosts and binds). Each runs through ``validate_files`` (what
``harness validate`` calls) under a per-case time limit; then all of them go through the real
CLI in one ``harness validate`` process, and a sample through one process each, memory-capped.
"""

from __future__ import annotations

import random
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

from harness.validate import validate_files

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "scenarios" / "ten-hotline-survey.yaml"
SEED = 20261201
N_CASES = 240
N_SINGLE_PROCESS = 12  # cases also run alone through `harness validate`, each in its own process
CASE_LIMIT_S = 15.0  # no single validation may take longer (about 1.7 s at most here, on a busy machine)
CLI_MEMORY_BYTES = 1 << 30  # address-space cap for the CLI runs: a blow-up fails instead of swapping

VALUES = ["true", "false", "null", "~", "-1", "0", "1e999", "-.inf", ".nan", "''", "[]", "{}", "[1, [2, [3]]]",
          "'x'", "x" * 3000, "99999999999999999999999", "0x1F", "1_000", "2026-12-01", "!!binary aGk=",
          "!!python/object/apply:os.system ['true']", "\"\\u0000\"", "\"\\x07bell\"", "\"é中文🙂\"", "\"\\n\"",
          "\"sip:1007:hunter2@127.0.0.1\"", "\"; rm -rf /\"", "\"a@b\"", "\"sip:@\"", "\"sip:10 07@h\"",
          "&anchor 1", "*anchor", "<<", "? complex", "- item", "'unterminated", "{a: 1, a: 2}", "|\n  block"]
TARGETS = ["\"sip:1007:hunter2@127.0.0.1:5060\"", "\"sip:@\"", "\"sip:1 007@127.0.0.1\"", "\"sip:1007@ho st\"",
           "\"sip:1007@127.0.0.1:0\"", "\"sip:1007@[::1]:5060\"", "\"sips:x@example.com;transport=tls\"",
           "\"1007:hunter2@host\"", "1007", "true", "\"sip:1007@999.1.1.1\"", "\"sip:%00@h\""]
TOP_KEYS = ["rounds", "chains_per_round", "concurrency", "round_interval_s", "bind", "default_host", "campaign",
            "lab"]
NESTED_KEYS = ["per_hotline_concurrency", "min_interval_s", "calls_per_minute", "ring_timeout_s", "max_hold_s",
               "max_call_s", "max_attempts", "delay_s", "drop_rate_max", "per_hotline", "agent_min_speech_s"]

Mutation = Callable[[random.Random, list[str]], list[str] | bytes]


def _value_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]


def m_delete(rng: random.Random, lines: list[str]) -> list[str]:
    del lines[rng.randrange(len(lines))]
    return lines


def m_duplicate(rng: random.Random, lines: list[str]) -> list[str]:
    i = rng.randrange(len(lines))
    lines.insert(rng.randrange(i, len(lines) + 1), lines[i])
    return lines


def m_swap(rng: random.Random, lines: list[str]) -> list[str]:
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return lines


def m_truncate(rng: random.Random, lines: list[str]) -> list[str]:
    text = "\n".join(lines)
    return text[: rng.randrange(len(text))].split("\n")


def m_value(rng: random.Random, lines: list[str]) -> list[str]:
    i = rng.choice(_value_lines(lines))
    key = lines[i].split(":", 1)[0]
    lines[i] = f"{key}: {rng.choice(VALUES)}"
    return lines


def m_bool_for_number(rng: random.Random, lines: list[str]) -> list[str]:
    key = rng.choice(TOP_KEYS + NESTED_KEYS)
    for i, line in enumerate(lines):
        if line.lstrip().startswith(key + ":"):
            indent = line[: len(line) - len(line.lstrip())]
            lines[i] = f"{indent}{key}: {rng.choice(['true', 'false', 'yes', 'off'])}"
    return lines


def m_target(rng: random.Random, lines: list[str]) -> list[str]:
    idx = [i for i, line in enumerate(lines) if "target:" in line]
    i = rng.choice(idx)
    head = lines[i].split("target:", 1)[0]
    lines[i] = f"{head}target: {rng.choice(TARGETS)}}}"
    return lines


def m_top_value(rng: random.Random, lines: list[str]) -> list[str]:
    key = rng.choice(["bind", "default_host"])
    value = rng.choice(["\"; rm -rf /\"", "\"a@b\"", "localhost", "\"127.0.0.1:99999\"", "\"::1\"", "0.0.0.0",
                        "\"[::1]:5060\"", "\"sip:127.0.0.1\"", "\"host name\"", "\"127.0.0.1\\n\""])
    lines = [line for line in lines if not line.startswith(key + ":")]
    lines.insert(rng.randrange(1, len(lines)), f"{key}: {value}")
    return lines


def m_anchor(rng: random.Random, lines: list[str]) -> list[str]:
    i = rng.choice(_value_lines(lines))
    key, value = lines[i].split(":", 1)
    lines[i] = f"{key}: &a{rng.randrange(9)} {value.strip() or '1'}"
    if rng.random() < 0.7:
        j = rng.choice(_value_lines(lines))
        lines[j] = lines[j].split(":", 1)[0] + f": *a{rng.randrange(9)}"
    return lines


def m_billion_laughs(rng: random.Random, lines: list[str]) -> list[str]:
    out = ["lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    out += [f"lol{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 9) + "]" for k in range(1, rng.randrange(3, 10))]
    return lines[:5] + out + lines[5:]


def m_recursive(rng: random.Random, lines: list[str]) -> list[str]:
    return [*lines, rng.choice(["loop: &r [*r]", "loop: &r {a: *r}", "hotlines: &h [*h]"])]


def m_deep(rng: random.Random, lines: list[str]) -> list[str]:
    depth = rng.choice([10, 49, 51, 200, 5000, 20000])
    style = rng.random()
    if style < 0.5:
        nest = "[" * depth + "]" * depth
    elif style < 0.8:
        nest = "{a: " * depth + "1" + "}" * depth
    else:
        nest = "\n" + "".join("  " * (k + 1) + f"k{k}:\n" for k in range(min(depth, 120)))
    return [*lines, f"deep: {nest}"]


def m_repeat(rng: random.Random, lines: list[str]) -> list[str]:
    idx = [i for i, line in enumerate(lines) if "target:" in line]
    i = rng.choice(idx)
    count = rng.choice([50, 500, 3000, 20000])
    extra = [lines[i].replace("id: ", f"id: x{k}-", 1) for k in range(count)]
    return lines[: i + 1] + extra + lines[i + 1:]


def m_control(rng: random.Random, lines: list[str]) -> list[str]:
    i = rng.randrange(len(lines))
    pos = rng.randrange(len(lines[i]) + 1)
    ch = rng.choice(["\x00", "\x07", "\x1b[31m", "\t", "\r", "\u2028", "\ufeff", "中", "🙂", "\u202e", "\x7f"])
    lines[i] = lines[i][:pos] + ch + lines[i][pos:]
    return lines


def m_flip(rng: random.Random, lines: list[str]) -> list[str]:
    text = list("\n".join(lines))
    for _ in range(rng.randrange(1, 6)):
        text[rng.randrange(len(text))] = rng.choice(":-[]{}&*!|>%@`'\"#,? \n")
    return "".join(text).split("\n")


def m_newline_key(rng: random.Random, lines: list[str]) -> list[str]:
    key = rng.choice(['"evil\\nkey"', '"a\\r\\nb"', '"x\\u2028y"', '"\\x1b[2J"', '"k" ', "'multi\n  line'"])
    lines.insert(rng.randrange(1, len(lines)), f"{key}: 1")
    return lines


def m_indent(rng: random.Random, lines: list[str]) -> list[str]:
    i = rng.randrange(len(lines))
    lines[i] = (" " * rng.randrange(1, 5) + lines[i]) if rng.random() < 0.5 else lines[i].lstrip()
    return lines


def m_password(rng: random.Random, lines: list[str]) -> list[str]:
    block = rng.choice([
        ["account:", "  password: hunter2", "account:", "  username: u"],
        ["account:", "  username: u", "  password_env: \"hunter2!x\""],
        ["account:", "  registrar: \"sip:u:hunter2@127.0.0.1:5070\"", "  username: u"],
        ["account:", "  username: u", "  password_env: HARNESS_SIP_PASSWORD"],
        ["account: {password: hunter2}", "account: {username: u}"],
    ])
    return lines[:6] + block + lines[6:]


def m_oversize(rng: random.Random, lines: list[str]) -> list[str]:
    return [*lines, "# " + "x" * (1024 * 1024 + rng.randrange(10))]


def m_bad_utf8(rng: random.Random, lines: list[str]) -> bytes:
    data = bytearray("\n".join(lines).encode())
    data[rng.randrange(len(data))] = rng.choice([0xFF, 0xC3, 0x80, 0xFE])
    return bytes(data)


MUTATIONS: list[Mutation] = [m_delete, m_duplicate, m_swap, m_truncate, m_value, m_bool_for_number, m_target,
                             m_top_value, m_anchor, m_billion_laughs, m_recursive, m_deep, m_repeat, m_control,
                             m_flip, m_newline_key, m_indent, m_password, m_oversize, m_bad_utf8]


def mutate(rng: random.Random, text: str) -> tuple[list[str], bytes]:
    """1-3 mutations of ``text``; the names applied and the file's bytes."""
    names: list[str] = []
    current: list[str] | bytes = text.split("\n")
    for _ in range(rng.choice([1, 1, 2, 3])):
        mutation = rng.choice(MUTATIONS)
        if isinstance(current, bytes):
            break  # bad UTF-8 is the last mutation
        try:
            current = mutation(rng, list(current) or [""])
        except (ValueError, IndexError):  # nothing left for this mutation to work on (e.g. truncated to "")
            continue
        names.append(mutation.__name__)
    data = current if isinstance(current, bytes) else "\n".join(current).encode("utf-8", "surrogatepass")
    return names, data


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    def _expired(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"{what} took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CLI_MEMORY_BYTES, CLI_MEMORY_BYTES))


def _validate_cli(files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", "validate", *map(str, files)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
                          preexec_fn=_cap_memory)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, list[str]]]:
    rng = random.Random(SEED)
    base = SHIPPED.read_text(encoding="utf-8")
    folder = tmp_path_factory.mktemp("fuzz")
    out = []
    for n in range(N_CASES):
        names, data = mutate(rng, base)
        path = folder / f"case{n:03d}.yaml"
        path.write_bytes(data)
        out.append((path, names))
    return out


@pytest.fixture(scope="module")
def results(cases: list[tuple[Path, list[str]]]) -> dict[str, object]:
    """Each case through ``validate_files`` in this process, timed, under a per-case time limit."""
    t0 = time.monotonic()
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    errors: dict[Path, list[str]] = {}
    slowest_s = 0.0
    for path, names in cases:
        start = time.monotonic()
        with time_limit(CASE_LIMIT_S, f"{path.name} ({', '.join(names)})"):
            errors[path] = validate_files([path])
        slowest_s = max(slowest_s, time.monotonic() - start)
    return {"errors": errors, "elapsed_s": time.monotonic() - t0, "slowest_s": slowest_s,
            "rss_growth_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kib) / 1024}


def test_fuzz_in_process_every_case_valid_or_one_line(cases: list[tuple[Path, list[str]]],
                                                      results: dict[str, object]) -> None:
    errors: dict[Path, list[str]] = results["errors"]  # type: ignore[assignment]
    verdicts: Counter[str] = Counter()
    for path, names in cases:
        assert len(errors[path]) <= 1, (path.name, names, errors[path])
        if errors[path]:
            (error,) = errors[path]
            assert error.startswith(f"{path}"), (names, error)
            assert "\n" not in error and "\r" not in error and "\x1b" not in error, (names, error)
            assert "Traceback" not in error and "hunter2" not in error, (names, error)
            assert len(error) < 1200, (names, len(error))
            verdicts["refused"] += 1
        else:
            verdicts["valid"] += 1
    applied = Counter(name for _, names in cases for name in names)
    print(f"fuzz: {len(cases)} cases, {dict(verdicts)}, {results['elapsed_s']:.1f} s in process, "
          f"slowest {results['slowest_s']:.2f} s, peak RSS growth {results['rss_growth_mib']:.0f} MiB")
    assert len(cases) >= 200
    assert set(applied) == {m.__name__ for m in MUTATIONS}  # every kind of mutation was tried
    assert verdicts["valid"] >= 10 and verdicts["refused"] >= 100  # the mutations reach both sides
    assert results["rss_growth_mib"] < 300  # type: ignore[operator]
    assert results["elapsed_s"] < 40  # type: ignore[operator]


def test_fuzz_through_the_cli(cases: list[tuple[Path, list[str]]], results: dict[str, object]) -> None:
    """All cases in one `harness validate` (one line per bad file), then a sample alone (exit 2, one line)."""
    files = [path for path, _ in cases]
    errors: dict[Path, list[str]] = results["errors"]  # type: ignore[assignment]
    expected_bad = {str(p) for p in files if errors[p]}
    proc = _validate_cli(files)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == (2 if expected_bad else 0)
    lines = proc.stderr.splitlines()
    assert len(lines) == len(expected_bad), proc.stderr[-2000:]
    named = set()
    for line in lines:
        assert line.startswith("harness: error: "), line
        named.add(next(f for f in expected_bad if line.startswith(f"harness: error: {f}:")))
    assert named == expected_bad
    assert proc.stdout.count(": ok") == len(files) - len(expected_bad)

    rng = random.Random(SEED + 1)
    for path in rng.sample(sorted(expected_bad), N_SINGLE_PROCESS // 2) + \
            rng.sample(sorted(set(map(str, files)) - expected_bad), N_SINGLE_PROCESS // 2):
        alone = _validate_cli([Path(path)])
        assert "Traceback" not in alone.stderr
        if path in expected_bad:
            assert alone.returncode == 2
            assert len(alone.stderr.splitlines()) == 1 and alone.stderr.startswith("harness: error: ")
        else:
            assert alone.returncode == 0 and alone.stderr == "", alone.stderr
