"""Phase analysis: what the caller heard, as a timeline of labelled segments.

    from harness.analysis import analyze_samples, analyze_file, AnalysisParams

The labels and segments it returns are ``harness.vocab.Label`` and ``harness.vocab.Segment``.
``analyze_samples`` takes samples in memory, ``analyze_file`` reads a WAV in blocks with flat
memory; both hand the speech model (loaded once from ``speech_model.json``) to the pure core
(``frames``, ``tones``, ``segmenter``), which does no I/O. Every threshold is in ``AnalysisParams`` (defaults: ``DEFAULT``);
``analyzer_id(params)`` names the version and a hash of the parameters.
"""

from harness.analysis.model import (
    DEFAULT,
    AnalysisParams,
    AnalysisResult,
    analyzer_id,
    summarize,
)
from harness.analysis.wavfile import analyze_file, analyze_samples

__all__ = [
    "DEFAULT", "AnalysisParams", "AnalysisResult",
    "analyze_file", "analyze_samples", "analyzer_id", "summarize",
]
