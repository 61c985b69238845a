"""The project's tooling, apart from the product: benchmarks, the labelled sets, the speech
model's training. ``python -m harness.bench NAME`` runs one part (``__main__.py``); nothing
outside this package imports it.
"""
