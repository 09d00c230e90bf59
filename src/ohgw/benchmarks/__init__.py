"""Benchmarks: a model, its data, its search space and its losses, one module each."""
