"""Metrics: pure polars functions (``compute_*``) from LazyFrames to LazyFrames, no I/O."""
