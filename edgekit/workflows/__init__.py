"""Workflows: many conversions at once. ``build`` (a matrix of models × targets × variants, cached, sharded)
and ``sweep`` (every variant of one model for one target, benchmarked, with a recommendation)."""
