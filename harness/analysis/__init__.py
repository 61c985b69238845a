"""Phase analysis: what the caller heard, as a timeline of labelled segments.

    from harness.analysis import analyze_samples, analyze_file, AnalysisParams

The labels and segments it returns are ``harness.vocab.Label`` and ``harness.vocab.Segment``.
``analyze_samples`` is pure (samples in, segments out); ``analyze_file`` reads a WAV in
blocks with flat memory. Every threshold is in ``AnalysisParams`` (defaults: ``DEFAULT``);
``analyzer_id(params)`` names the version and a hash of the parameters.
"""

from harness.analysis.model import (
    DEFAULT,
    AnalysisParams,
    AnalysisResult,
    analyzer_id,
    summarize,
)
from harness.analysis.segmenter import analyze_samples
from harness.analysis.wavfile import analyze_file

__all__ = [
    "DEFAULT", "AnalysisParams", "AnalysisResult",
    "analyze_file", "analyze_samples", "analyzer_id", "summarize",
]
