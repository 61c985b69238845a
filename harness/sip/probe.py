"""``harness call``: one call placed after its options are checked, its three files, and what the CLI
prints of it (a one-line summary; why it counts as a SIP/infrastructure failure, if it does)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

from harness.errors import BadInput
from harness.sip.seam import Account
from harness.sip.uri import PASSWORD_IN_URI, check_ip, check_sip_uri, env_name_problem
from harness.vocab import CallRecord, CallSpec

AUTH_FAILURE_CODES = (401, 403, 407)


def new_call_uid(prefix: str = "call") -> str:
    """A sortable, unique call id: prefix-YYYYmmddTHHMMSS-xxxx."""
    return f"{prefix}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def default_bind(target: str) -> str:
    """Loopback targets get a loopback-bound stack, so lab calls never leave 127.0.0.1."""
    host = target.split("@", 1)[-1].split(":", 1)[0].split(";", 1)[0] if "@" in target else \
        target.split(":", 2)[1] if target.count(":") >= 1 else ""
    return "127.0.0.1" if host.startswith("127.") or host == "localhost" else "0.0.0.0"


def infra_failure(rec: CallRecord) -> str | None:
    """Why this call counts as a SIP/infrastructure failure (exit 3), or None."""
    if rec.error:
        return rec.error
    if rec.answered_s is None and rec.final_status in AUTH_FAILURE_CODES:
        return f"authentication refused: {rec.final_status} {rec.final_reason}"
    if rec.answered_s is None and not any(e.type in ("provisional", "final", "answered") for e in rec.events) \
            and rec.disconnect_by.value != "local":
        return f"no response from {rec.target} ({rec.final_status} {rec.final_reason})"
    return None


def summary_line(rec: CallRecord, out_dir: Path) -> str:
    """One line a person reads: what happened, when, and where the files are."""
    if rec.answered_s is not None:
        what = f"answered at {rec.answered_s:.2f} s, ended at {rec.ended_s or 0:.2f} s by {rec.disconnect_by.value}"
    else:
        what = (f"not answered: {rec.final_status} {rec.final_reason}, ended at {rec.ended_s or 0:.2f} s "
                f"by {rec.disconnect_by.value}")
    kinds = "wav,events.json,sip.log" if rec.recording else "events.json,sip.log"  # no media, no WAV
    files = f"{out_dir}/{rec.call_uid}.{{{kinds}}}"
    rec_note = ""
    if rec.recording_duration_s is not None:
        rec_note = f"; recording {rec.recording_duration_s:.2f} s (gap {rec.recording_gap_s or 0:+.3f} s)"
    return f"{rec.call_uid} {rec.target}: {what}{rec_note}; files {files}"


def _check_option(option: str, value: str, check: Callable[[str], str], example: str) -> None:
    try:
        check(value)
    except ValueError as exc:
        hint = f" ({example})" if example and "expected" not in str(exc) and PASSWORD_IN_URI not in str(exc) else ""
        extra = "; use --password-env" if PASSWORD_IN_URI in str(exc) else ""
        raise BadInput(f"{option}: {exc}{extra}{hint}") from None


def probe(target: str, out_dir: Path, *, registrar: str | None, username: str | None, password_env: str | None,
          credentials_file: Path | None = None,
          ring_timeout_s: float, max_call_s: float, dtmf: str | None, dtmf_after_s: float,
          bind: str | None) -> CallRecord:
    """Place one call and return its record once it has ended (its files are in ``out_dir``).

    Every option is checked before the SIP stack starts: a password inside a URI is
    refused (it would reach the events, the SIP log and the terminal), and nothing
    secret-looking is echoed back.
    """
    _check_option("TARGET", target, check_sip_uri, "e.g. sip:1001@127.0.0.1:5060")
    if registrar is not None:
        _check_option("--registrar", registrar, check_sip_uri, "e.g. sip:127.0.0.1:5070")
    if bind is not None:
        _check_option("--bind", bind, check_ip, "")
    if password_env is not None:
        problem = env_name_problem(password_env, "--password-env")
        if problem:
            raise BadInput(problem)
    if ring_timeout_s <= 0 or max_call_s <= 0:
        raise BadInput("--ring-timeout-s and --max-call-s must be positive")
    from harness.sip.pjsua_adapter import place_one

    account = Account(registrar=registrar, username=username, password_env=password_env,
                      credentials_file=credentials_file)
    spec = CallSpec(call_uid=new_call_uid(), target=target, out_dir=out_dir, ring_timeout_s=ring_timeout_s,
                    max_call_s=max_call_s, dtmf=dtmf, dtmf_after_s=dtmf_after_s)
    return place_one(spec, account, bind_address=bind or default_bind(target))
