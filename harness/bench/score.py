"""Score an analyzer version on labelled sets (G.711 files): accuracy, confusions, boundaries.

    python -m harness.bench score SET_DIR...                  # this checkout's analyzer
    python -m harness.bench score --tree /tmp/old SET_DIR...  # another checkout's analyzer

``git worktree add /tmp/old <commit>`` then the second line scores that commit's analyzer on
the same files: this file is run again in a child Python whose ``PYTHONPATH`` is the other
checkout, so ``harness`` is imported from there. The scoring therefore uses only the APIs
every version since 1.0 has (``harness.analysis``: ``analyze_file``, ``Label``, ``Segment``,
``analyzer_id``; ``harness.analysis.evaluate``), imported when it runs, and nothing of
``harness.bench``, which older checkouts do not have. Prints the analyzer id, then per set:
frame accuracy, music frames called speech, speech frames called music, and median / p90
(ms) per boundary event.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``python -m harness.bench score``."""
    ap.add_argument("sets", nargs="+", type=Path, metavar="SET_DIR", help="labelled set folders (synth --out)")
    ap.add_argument("--tree", type=Path, default=None,
                    help="score the analyzer of this other checkout (a folder holding harness/) instead")


def run(args: argparse.Namespace) -> int:
    """Score each set directory given, with this checkout's analyzer or ``--tree``'s; returns the exit code."""
    from harness.errors import BadInput

    for d in args.sets:
        if not d.is_dir():
            raise BadInput(f"{d}: no such set folder")
    if args.tree is None:
        score(args.sets)
        return 0
    if not (args.tree / "harness" / "analysis" / "__init__.py").is_file():
        raise BadInput(f"--tree {args.tree}: no harness/analysis/ in it (expected a checkout of this project)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(args.tree.resolve())] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    # -P: the folder of this file is not put on sys.path, so only the other checkout provides harness
    cmd = [sys.executable, "-P", str(Path(__file__).resolve()), *(str(d) for d in args.sets)]
    return subprocess.run(cmd, env=env, check=False).returncode


def score(set_dirs: list[Path]) -> None:
    """Print the analyzer id, then the scores of each set folder (see the module docstring)."""
    from harness.analysis import analyze_file, analyzer_id

    try:
        from harness.vocab import Label, Segment
    except ImportError:  # an older tree given with --tree keeps them in harness.analysis
        from harness.analysis import Label, Segment  # type: ignore[attr-defined,no-redef]
    from harness.analysis.evaluate import boundary_errors, confusion, frame_codes

    mu, sp = list(Label).index(Label.MUSIC), list(Label).index(Label.SPEECH)
    print(analyzer_id())
    for d in set_dirs:
        conf: np.ndarray | int = 0
        bounds: dict[str, list[float]] = {}
        for wav in sorted(Path(d).glob("*.wav")):
            if "pcm16k" in wav.name or wav.name.startswith("long"):
                continue
            meta = json.loads(wav.with_suffix(".json").read_text())
            truth = [Segment(s["start_s"], s["end_s"], Label(s["label"])) for s in meta["segments"]]
            res = analyze_file(wav)
            n = int(res.duration_s / 0.02)
            conf = conf + confusion(frame_codes(truth, n), frame_codes(res.segments, n))
            for k, v in boundary_errors(meta["events"], res.segments).items():
                bounds.setdefault(k, []).extend(v)
        if isinstance(conf, int):
            print(f"{d}: no labelled G.711 files")
            continue
        c = np.asarray(conf)
        print(f"{d}: accuracy {np.trace(c) / c.sum():.2%}, music called speech {c[mu, sp] / c[mu].sum():.2%}, "
              f"speech called music {c[sp, mu] / c[sp].sum():.2%}")
        print("  median/p90 ms: " + "; ".join(f"{k} {1000 * np.median(v):.0f}/{1000 * np.percentile(v, 90):.0f}"
                                          for k, v in sorted(bounds.items())))


if __name__ == "__main__":  # the child of ``--tree`` (see the module docstring), not a command of its own
    score([Path(a) for a in sys.argv[1:]])
