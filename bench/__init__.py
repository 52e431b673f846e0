"""Performance and scale benchmark of the ImageMetadata provider (``python -m bench.run``).

See ``bench/README.md`` for what it measures and ``BENCHMARKS.md`` for the recorded figures.
"""
