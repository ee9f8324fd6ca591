"""Benchmarks (`make bench`): every figure measured against a baseline in the same run."""
