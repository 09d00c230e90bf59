"""ohgw.measure.warm_charge: the warm start's seconds per FLOP over a unit's, from one trial."""

from __future__ import annotations

import math

from ohgw.benchmarks.base import make_benchmark
from ohgw.measure import warm_charge
from problems import TINY_CIFAR

TINY = TINY_CIFAR


def test_a_round_reads_the_warm_start_and_the_unit_from_one_warm_started_trial() -> None:
    benchmark = make_benchmark("cifar10-mini", **TINY)
    result = warm_charge.round_factor("cifar10-mini", benchmark, "graph", seed=3)
    assert result["warm_gflop"] > 0 and result["unit_gflop"] > 0
    assert result["warm_seconds"] > 0 and result["unit_seconds"] > 0
    per_flop = result["warm_seconds"] / result["warm_gflop"]
    unit_per_flop = result["unit_seconds"] / result["unit_gflop"]
    assert math.isclose(result["factor"], per_flop / unit_per_flop, rel_tol=1e-9)
