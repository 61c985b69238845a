"""Score an analyzer version on labelled sets (G.711 files): accuracy, confusions, boundaries.

    python harness/analysis/score.py SET_DIR...            # this checkout's analyzer
    PYTHONPATH=/tmp/old python harness/analysis/score.py SET_DIR...   # another version

Run as a file (not ``-m``) so that ``PYTHONPATH`` decides which ``harness`` is imported:
``git worktree add /tmp/old <commit>`` then the line above scores that commit's analyzer on
the same files, with only the APIs every version since 1.0 has (``analyze_file``,
``harness.analysis.evaluate``). Prints the analyzer id, then per set: frame accuracy, music
frames called speech, speech frames called music, and median / p90 (ms) per boundary event.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> None:
    """Score each set directory given."""
    from harness.analysis.evaluate import boundary_errors, confusion, frame_codes
    from harness.analysis.model import analyzer_id
    from harness.analysis.wavfile import analyze_file
    from harness.vocab import Label, Segment

    if not argv:
        raise SystemExit(__doc__)
    mu, sp = list(Label).index(Label.MUSIC), list(Label).index(Label.SPEECH)
    print(analyzer_id())
    for d in argv:
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
        c = np.asarray(conf)
        print(f"{d}: accuracy {np.trace(c) / c.sum():.2%}, music called speech {c[mu, sp] / c[mu].sum():.2%}, "
              f"speech called music {c[sp, mu] / c[sp].sum():.2%}")
        print("  median/p90 ms: " + "; ".join(f"{k} {1000 * np.median(v):.0f}/{1000 * np.percentile(v, 90):.0f}"
                                          for k, v in sorted(bounds.items())))


if __name__ == "__main__":
    main(sys.argv[1:])
