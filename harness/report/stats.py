"""Small statistics used by the report tables: Wilson score interval and quantiles.

Pure functions on numbers; no pandas objects leak out of here except where noted.
"""

from __future__ import annotations

import math

#: two-sided 95% normal quantile, the z of every interval in the report
Z95 = 1.959963984540054


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / trials``.

    Returns ``(low, high)`` as fractions; ``(nan, nan)`` when ``trials`` is 0 (no rate exists).
    Unlike the normal (Wald) interval it stays inside [0, 1] and is honest for small counts
    and for 0 or ``trials`` successes, which is exactly the survey's situation.
    """
    if trials <= 0:
        return (math.nan, math.nan)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes={successes} outside 0..{trials}")
    p = successes / trials
    z2 = z * z
    denom = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denom
    # clamp rounding noise at the edges (0/n gives exactly 0, n/n exactly 1)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return (low, high)


def ratio(num: float, den: float) -> float:
    """``num / den``, or NaN when the denominator is 0 (a rate of nothing is not 0)."""
    return num / den if den else math.nan
