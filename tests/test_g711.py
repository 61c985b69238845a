"""G.711: the two codecs in the tree agree on every PCM16 value and every code, both laws."""

from __future__ import annotations

import numpy as np

from harness import g711 as tables
from harness.analysis import g711 as arith

ALL_PCM16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)


def test_both_codecs_agree_on_every_value() -> None:
    for name in ("ulaw_encode", "alaw_encode"):
        a, b = getattr(tables, name)(ALL_PCM16), getattr(arith, name)(ALL_PCM16)
        assert a.dtype == b.dtype == np.uint8 and np.array_equal(a, b), name
    for name in ("ulaw_decode", "alaw_decode"):
        a, b = getattr(tables, name)(ALL_CODES), getattr(arith, name)(ALL_CODES)
        assert a.dtype == b.dtype == np.int16 and np.array_equal(a, b), name
