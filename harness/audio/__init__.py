"""Audio primitives shared by the analyzer, the lab and the tooling: one G.711 codec
(``g711``), WAV header inspection and repair (``wav``), one resampler (``resample``) and one
definition of "audible" (``level``). Pure numpy except ``wav``, which reads files."""
