"""Data sets of the benchmarks: readers, canonical downloads, splits and noise."""
