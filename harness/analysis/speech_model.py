"""The music-vs-speech model: a small neural network over the window inputs of ``WindowScore``.

Its weights live in ``speech_model.json`` next to this module, written by
``python -m harness.bench train`` (docs/ANALYSIS.md, "Speech model"). The parameters
name the file by its SHA-256 (``AnalysisParams.speech_model_sha256``), so the analyzer id
covers the weights and a changed file cannot pass for the one a verdict was made with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.digest import sha256_file

MODEL_PATH = Path(__file__).with_name("speech_model.json")
BANDS = 8
# window inputs, in the order of WindowScore.features
INPUTS = (
    ("std_db", "energy_persist", "flux_db", "step_db", "partials", "rhythm")
    + tuple(f"shape{k}_db" for k in range(BANDS))
    + tuple(f"shape{k}_spread_db" for k in range(BANDS))
    + tuple(f"band{k}_change_db" for k in range(BANDS))
    + ("low_energy_share",)
)


@dataclass(frozen=True)
class SpeechModel:
    """Standardise the inputs, one hidden layer (ReLU), one logit: speech > 0."""

    mean: np.ndarray  # per input
    scale: np.ndarray  # per input
    w1: np.ndarray  # hidden x inputs
    b1: np.ndarray  # hidden
    w2: np.ndarray  # hidden
    b2: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        """Logit of speech for inputs ``x`` (inputs x windows)."""
        z = (x - self.mean[:, None]) / self.scale[:, None]
        # einsum, not a matrix product: BLAS threads spin after each small product, which costs
        # more CPU than the product (process time of a 60-minute file 8.0 s with @, see
        # docs/BENCHMARKS-history.md "Analyzer 1.4")
        h = np.einsum("hi,in->hn", self.w1, z)
        h += self.b1[:, None]
        np.maximum(h, 0.0, out=h)
        return np.einsum("h,hn->n", self.w2, h) + self.b2

    def to_dict(self) -> dict[str, object]:
        return {"inputs": list(INPUTS), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "w1": self.w1.tolist(), "b1": self.b1.tolist(), "w2": self.w2.tolist(), "b2": self.b2}


def file_sha256(path: Path = MODEL_PATH) -> str:
    """SHA-256 (hex) of a model file's bytes."""
    return sha256_file(path)


def from_dict(d: dict[str, object]) -> SpeechModel:
    """A model from its JSON form; the inputs must be those ``WindowScore`` computes."""
    # d is parsed JSON of a known shape: "inputs" a list of names, "b2" a number
    if tuple(d["inputs"]) != INPUTS:  # type: ignore[arg-type]
        raise ValueError("speech model inputs do not match WindowScore.features")
    arr = {k: np.asarray(d[k], np.float64) for k in ("mean", "scale", "w1", "b1", "w2")}
    return SpeechModel(arr["mean"], arr["scale"], arr["w1"], arr["b1"], arr["w2"], float(d["b2"]))  # type: ignore[arg-type]


_CACHE: dict[str, SpeechModel] = {}


def load(sha256: str, path: Path = MODEL_PATH) -> SpeechModel:
    """The model in ``path``, which must hash to ``sha256`` (else ValueError: the parameters
    name other weights than the file holds)."""
    if sha256 not in _CACHE:
        blob = path.read_bytes()
        got = hashlib.sha256(blob).hexdigest()
        if got != sha256:
            raise ValueError(f"speech model {path} has SHA-256 {got[:12]}..., the parameters name {sha256[:12]}...")
        _CACHE[sha256] = from_dict(json.loads(blob))
    return _CACHE[sha256]
