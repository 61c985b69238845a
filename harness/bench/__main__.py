"""``make bench``: every slow measurement the docs cite, in one run.

    python -m harness.bench [analysis|calls|survey|stress ...]

Runs the phase-analysis evaluation (``harness.analysis.bench``), the call-path
benchmark (``harness.sip.bench``: simultaneous calls against the lab PBX), the survey's
accuracy against the lab's ground truth (``harness.campaign.bench``) and the recording
stress check (``harness.campaign.stress``: 1,000 calls in bursts that end together, every
recording final when hashed). Figures printed here are the ones recorded in
docs/BENCHMARKS.md with this command. Every part runs; the exit code is the worst of them.
"""

from __future__ import annotations

import importlib
import sys

PARTS = {"analysis": "harness.analysis.bench", "calls": "harness.sip.bench", "survey": "harness.campaign.bench",
         "stress": "harness.campaign.stress"}


def main(argv: list[str] | None = None) -> None:
    """Run the named benchmark parts (all of them by default)."""
    names = (argv if argv is not None else sys.argv[1:]) or list(PARTS)
    for name in names:
        if name not in PARTS:
            print(f"harness.bench: unknown part {name!r}; choose from {', '.join(PARTS)}", file=sys.stderr)
            sys.exit(2)
    worst = 0
    for name in names:
        mod = importlib.import_module(PARTS[name])
        print(f"\n===== {name}: python -m {PARTS[name]} =====", flush=True)
        saved, sys.argv = sys.argv, [PARTS[name]]
        try:
            mod.main()
        except SystemExit as exc:  # a part that failed its figures: the other parts still run
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if code == 130:
                raise
            worst = max(worst, code)
        finally:
            sys.argv = saved
    if worst:
        sys.exit(worst)


if __name__ == "__main__":
    main()
