"""``make bench``: every slow measurement the docs cite, in one run.

    python -m harness.bench [analysis|calls|survey ...]

Runs the phase-analysis evaluation (``harness.analysis.bench``) and the call-path
benchmark (``harness.sip.bench``: simultaneous calls against the lab PBX) and the survey's
accuracy against the lab's ground truth (``harness.campaign.bench``). Figures
printed here are the ones recorded in docs/BENCHMARKS.md with this command.
"""

from __future__ import annotations

import importlib
import sys

PARTS = {"analysis": "harness.analysis.bench", "calls": "harness.sip.bench", "survey": "harness.campaign.bench"}


def main(argv: list[str] | None = None) -> None:
    """Run the named benchmark parts (all of them by default)."""
    names = (argv if argv is not None else sys.argv[1:]) or list(PARTS)
    for name in names:
        if name not in PARTS:
            sys.exit(f"harness.bench: unknown part {name!r}; choose from {', '.join(PARTS)}")
        mod = importlib.import_module(PARTS[name])
        print(f"\n===== {name}: python -m {PARTS[name]} =====", flush=True)
        saved, sys.argv = sys.argv, [PARTS[name]]
        try:
            mod.main()
        finally:
            sys.argv = saved


if __name__ == "__main__":
    main()
