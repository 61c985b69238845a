"""The error tree and the exit codes it maps to.

    HarnessError            exit 3 (a failure of the machinery; never 1, which means thresholds)
     ├── BadInput           exit 2 (a file, option or recording the user gave is unusable)
     └── InfraError         exit 3 (SIP, registration, network or worker failure)

Exit 1 is a verdict, not an error: ``harness report`` wrote its report and a CI threshold was
exceeded, so ``build_report`` returns ``EXIT_THRESHOLDS`` as its result's ``exit_code`` and the
CLI exits with it. No error exits 1, so a failure of the harness never reads as a failed gate.

A call that could not be placed is not an error either: its ``CallRecord`` says why (``error``).

Foreign errors (pjsua2's ``pj.Error``, OSError, pydantic's ValidationError) are
translated into these at the boundary, keeping the cause (``raise ... from exc``).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_THRESHOLDS = 1
EXIT_BAD_INPUT = 2
EXIT_INFRA = 3


class HarnessError(Exception):
    """Base of every error the CLI turns into one line and an exit code.

    Raise a subclass. The base exits 3 so that an error nobody classified reads as the
    harness failing, never as "thresholds failed" (1), which CI gates act on.
    """

    exit_code = EXIT_INFRA


class BadInput(HarnessError):
    """The user's input (file, option, recording) cannot be used as given."""

    exit_code = EXIT_BAD_INPUT


class InfraError(HarnessError):
    """SIP, registration, transport or worker-process failure."""

    exit_code = EXIT_INFRA


def on_one_line(text: str) -> str:
    """``text`` with its line breaks escaped: an error message is one line whatever it quotes (a key
    or a path with a newline in it)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")
