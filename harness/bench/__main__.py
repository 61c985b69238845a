"""The benchmark, training and set-generation commands: ``python -m harness.bench NAME [options]``.

    python -m harness.bench                 # make bench: analysis, calls, survey, stress
    python -m harness.bench NAME --help     # one part and its options

``analysis`` evaluates the phase analysis on the labelled sets; ``calls`` places simultaneous
calls against the lab PBX; ``survey`` checks the demo survey against the lab's ground truth;
``stress`` runs 1,000 calls in bursts that end together and checks every recording through
the evidence. ``synth`` writes a labelled set, ``cuts`` measures hold music cut into a
greeting, ``score`` scores an analyzer version on labelled sets, ``train`` retrains the speech
model. Figures printed here are the ones docs/BENCHMARKS.md records with these commands.

Exit codes as the product's: 0 ran (or passed), 1 a part's figures failed, 2 bad input (one
line on stderr), 3 the lab, the workers or the disk failed, 130 interrupted. With no NAME every
part of ``make bench`` runs, each with its defaults, and the exit code is the worst of them.

This module is what the call pool's spawned workers import again as their main module, so it
imports no part at its top level: a part is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import NoReturn

from harness.errors import EXIT_BAD_INPUT, EXIT_INFRA, HarnessError, on_one_line

# each NAME is a module of harness.bench with add_arguments(parser) and run(args) -> exit code
PARTS = ("analysis", "calls", "survey", "stress", "synth", "cuts", "score", "train")
MAKE_BENCH = ("analysis", "calls", "survey", "stress")
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog.removeprefix('python -m ')}: error: {on_one_line(message)} (see --help)", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every part (importing each part's module for its options)."""
    ap = _Parser(prog="python -m harness.bench", description=__doc__.splitlines()[0],
                 formatter_class=argparse.RawDescriptionHelpFormatter,
                 epilog="with no NAME: " + ", ".join(MAKE_BENCH) + " with their defaults, as make bench runs")
    sub = ap.add_subparsers(dest="name", metavar="NAME", parser_class=_Parser)
    for name in PARTS:
        mod = importlib.import_module(f"harness.bench.{name}")
        doc = (mod.__doc__ or name).strip()
        p = sub.add_parser(name, help=doc.splitlines()[0], description=doc,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(run=mod.run)
    return ap


def _guarded(name: str, run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one part; its errors become one line on stderr and an exit code (KeyboardInterrupt passes)."""
    try:
        return run(args)
    except HarnessError as exc:
        print(f"harness.bench {name}: error: {on_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a scratch or output folder: disk full, permissions
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"harness.bench {name}: error: {where}{on_one_line(exc.strerror or str(exc))}", file=sys.stderr)
        return EXIT_INFRA


def main(argv: list[str] | None = None) -> int:
    """Run the part named in ``argv`` (every part of make bench when none is named); returns the exit code."""
    ap = build_parser()
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.name is not None:
            return _guarded(args.name, args.run, args)
        worst = 0
        for name in MAKE_BENCH:
            print(f"\n===== {name}: python -m harness.bench {name} =====", flush=True)
            part = ap.parse_args([name])
            worst = max(worst, _guarded(name, part.run, part))
        return worst
    except KeyboardInterrupt:
        print(f"harness.bench{' ' + args.name if args.name else ''}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
