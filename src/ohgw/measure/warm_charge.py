"""The warm start's seconds per FLOP over a training unit's: the study setting ``warm_charge``
that makes the simulated clock's charge for the warm start follow wall time.

The simulated clock charges FLOPs, and ``FlopCounterMode`` counts matrix multiplies and
convolutions only: BatchNorm, elementwise work and ``grid_sample`` are free, and the warm start
does relatively more of them than a training step (its FLOP share of a study is a fraction of its
wall share). This measures both in the same trials, side by side: each round runs one
warm-started trial (a fresh configuration and seed) to the end of its first unit and reads the
row the trial runner writes: the warm start's seconds and FLOPs, and the unit's (training and
evaluation: ``compute_seconds - warm_seconds`` over ``train_flops + eval_flops``). The ratio of
the two seconds-per-FLOP is that round's factor; the median over rounds is printed. A first round
warms the process up (data, kernels, FLOP counting) and is not counted.

    python perf/warm_charge.py --benchmark cifar10-mini --hypergrad graph --rounds 5 --threads 1

Write the factor into a study file as ``warm_charge`` (it is fixed there, so the study stays
deterministic); commit this script's output beside it (``perf/measure.sh``).
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import torch

from ohgw.benchmarks.base import Benchmark
from ohgw.benchmarks.base import make_benchmark
from ohgw.trial import TrialSpec
from ohgw.trial import WarmStartSettings
from ohgw.trial import run_trial


def round_factor(
    benchmark_name: str, benchmark: Benchmark, hypergrad: str, seed: int
) -> dict[str, float]:
    """One warm-started trial's first unit: seconds per FLOP of its warm start and of the unit."""
    spec = TrialSpec(
        benchmark=benchmark_name,
        config=benchmark.space.sample(seed),
        seed=seed,
        max_resource=1,
        warm_start=WarmStartSettings(mode="gradient", hypergrad=hypergrad),
        device=str(benchmark.device),
    )
    row = run_trial(spec, benchmark=benchmark)[-1]
    unit_seconds = row["compute_seconds"] - row["warm_seconds"]
    unit_flops = row["train_flops"] + row["eval_flops"]
    warm = row["warm_seconds"] / row["warm_flops"]
    unit = unit_seconds / unit_flops
    return {
        "warm_seconds": row["warm_seconds"],
        "warm_gflop": row["warm_flops"] / 1e9,
        "unit_seconds": unit_seconds,
        "unit_gflop": unit_flops / 1e9,
        "factor": warm / unit,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure the factor over ``--rounds`` trials and print each round and the median."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="cifar10-mini", help="a benchmark preset")
    parser.add_argument(
        "--hypergrad", default="graph", help="the warm start's path: auto, lean or graph"
    )
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds (one trial each)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: its default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds is {args.rounds}, but must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    benchmark = make_benchmark(args.benchmark, device=args.device)
    print(
        f"{args.benchmark}, hypergrad {args.hypergrad}, {args.device}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}; round 0 warms up"
    )
    print(
        f"{'round':>5} {'warm s':>8} {'warm GFLOP':>11} {'unit s':>8} {'unit GFLOP':>11} "
        f"{'factor':>7}"
    )
    factors = []
    for index in range(args.rounds + 1):
        result = round_factor(args.benchmark, benchmark, args.hypergrad, seed=1000 + index)
        if index:
            factors.append(result["factor"])
        print(
            f"{index:>5} {result['warm_seconds']:>8.2f} {result['warm_gflop']:>11.2f} "
            f"{result['unit_seconds']:>8.2f} {result['unit_gflop']:>11.2f} "
            f"{result['factor']:>7.3f}",
            flush=True,
        )
    low, high = min(factors), max(factors)
    print(
        f"warm_charge = {statistics.median(factors):.2f} (median of {len(factors)} rounds; "
        f"range {low:.2f} to {high:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
