"""G.711 (harness/audio/g711.py): golden tables over every PCM16 value and every code.

The digests were computed from the two codecs the tree had before they became one; both gave
the same bytes for all 65,536 PCM16 values and all 256 codes of both laws. A change to any
single table entry changes its digest.
"""

from __future__ import annotations

import hashlib

import numpy as np

from harness.audio import g711

ALL_PCM16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)

GOLDEN_SHA256 = {
    "ulaw_encode": "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a",
    "ulaw_decode": "3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827",
    "alaw_encode": "38488f6fd710f4686360edc4d38639f96c491595ef93f8eb8d62d5e07ca6ce7b",
    "alaw_decode": "e04788d110e58ff8c70c93b8480190d973e3b67876b6119abbaec766cc75c174",
}


def _digest(table: np.ndarray) -> str:
    return hashlib.sha256(table.astype(table.dtype.newbyteorder("<")).tobytes()).hexdigest()


def test_full_tables_match_the_golden_digests() -> None:
    got = {
        "ulaw_encode": g711.ulaw_encode(ALL_PCM16), "ulaw_decode": g711.ulaw_decode(ALL_CODES),
        "alaw_encode": g711.alaw_encode(ALL_PCM16), "alaw_decode": g711.alaw_decode(ALL_CODES),
    }
    assert {k: v.dtype for k, v in got.items()} == {
        "ulaw_encode": np.uint8, "ulaw_decode": np.int16, "alaw_encode": np.uint8, "alaw_decode": np.int16}
    assert {k: _digest(v) for k, v in got.items()} == GOLDEN_SHA256


def test_silence_codes_and_decode_of_encode_is_idempotent() -> None:
    assert (g711.ULAW_SILENCE, g711.ALAW_SILENCE) == (0xFF, 0xD5)
    for enc, dec in ((g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)):
        # every code decodes to a value that encodes back to the same code (-0 aside in µ-law)
        back = enc(dec(ALL_CODES))
        assert np.array_equal(dec(back), dec(ALL_CODES))
