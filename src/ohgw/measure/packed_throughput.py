"""Throughput of packed trials against unpacked ones, in one run on one device.

Prints images/s (training images of a unit, evaluation included, per second of the unit) and
achieved TFLOP/s (the unpacked FLOPs of training and evaluation the trials did, per second) of
(a) one unpacked trial process, (b) ``--procs`` unpacked trial processes at once (today's
practice on a shared GPU), (c) the packed trainer at each ``--widths``, for ResNet-20 width 16
on CIFAR-10 (``cifar10-full``, ``--train-size`` images) and the ``cifar10-mini`` preset. Each
trial trains two units without a warm start; only the second unit is timed (no model building,
no warm start, no first-call overheads).

    python perf/packed_throughput.py --device cuda --train-size 10000 --amp
    python perf/packed_throughput.py --device cpu --quick      # a dry run of the script

The issue's goal: (c) at width 16 >= 20x (a) and >= 5x (b). Measured only where a CUDA GPU was
lent; on this project's CPU packing is slower (docs/studies.md). The last line,
``packed_tflops=X``, is the best packed TFLOP/s of cifar10-full over the widths: the rate at
which the GPU runbook's plan step (scripts/realistic_plan.py) sizes the studies. ``--quick``
runs cifar10-full only, at a tiny size (ResNet-8 width 4 on 64 images), with 2 processes and
width 2: a dry run of the plumbing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings

from ohgw.benchmarks.base import make_benchmark
from ohgw.packed import PackedTrainer
from ohgw.trial import TrialSpec
from ohgw.trial import WarmStartSettings
from ohgw.trial import run_trial


def _specs(name: str, options: dict, device: str, count: int, first_seed: int = 0):
    benchmark = make_benchmark(name, device=device, **options)
    config = dict(benchmark.default_config)
    return benchmark, [
        TrialSpec(
            benchmark=name,
            config=config,
            seed=first_seed + i,
            max_resource=2,
            warm_start=WarmStartSettings(mode="none"),
            benchmark_options=options,
            device=device,
        )
        for i in range(count)
    ]


def _second_unit(rows_per_trial, images: int) -> dict[str, float]:
    """images/s and TFLOP/s of the trials' second units, run together."""
    seconds = sum(r[1]["compute_seconds"] - r[0]["compute_seconds"] for r in rows_per_trial)
    flops = sum(
        r[1]["train_flops"] + r[1]["eval_flops"] - r[0]["train_flops"] - r[0]["eval_flops"]
        for r in rows_per_trial
    )
    return {
        "images": images * len(rows_per_trial),
        "seconds": seconds,
        "images_per_s": images * len(rows_per_trial) / seconds,
        "tflops": flops / seconds / 1e12,
    }


def single(name: str, options: dict, device: str, seed: int) -> dict[str, float]:
    benchmark, (spec,) = _specs(name, options, device, 1, seed)
    rows = run_trial(spec, benchmark=benchmark)
    return _second_unit([rows], len(benchmark.data["train"][1]))


def packed(name: str, options: dict, device: str, width: int) -> dict[str, float]:
    benchmark, specs = _specs(name, options, device, width)
    rows = PackedTrainer(benchmark, width).run(specs)
    # the pack's wall time is the sum of its trials' shares plus their evaluations
    return _second_unit(rows, len(benchmark.data["train"][1]))


def many(name: str, options: dict, device: str, procs: int) -> dict[str, float]:
    """``procs`` processes at once, each one trial; their rates add up (they overlap)."""
    command = [
        sys.executable,
        "-m",
        "ohgw.measure.packed_throughput",
        "--single",
        json.dumps([name, options, device]),
    ]
    running = [
        subprocess.Popen([*command, str(seed)], stdout=subprocess.PIPE, text=True)
        for seed in range(procs)
    ]
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in running]
    return {
        "images": sum(r["images"] for r in results),
        "seconds": max(r["seconds"] for r in results),
        "images_per_s": sum(r["images_per_s"] for r in results),
        "tflops": sum(r["tflops"] for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--train-size", type=int, default=10000, help="cifar10-full images")
    parser.add_argument("--procs", type=int, default=16, help="(b): unpacked processes")
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a dry run")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    parser.add_argument("seed", nargs="?", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.single:
        name, options, device = json.loads(args.single)
        print(json.dumps(single(name, options, device, args.seed)), flush=True)
        return 0
    amp = {"amp": True} if args.amp else {}
    eval_sizes = {"val_size": 1000, "test_size": 1000}
    presets = {
        "cifar10-full": {"train_size": args.train_size, **eval_sizes, **amp},
        "cifar10-mini": dict(amp),
    }
    procs, widths = args.procs, args.widths
    if args.quick:
        tiny = {"train_size": 64, "val_size": 50, "test_size": 50, "batch_size": 32}
        presets = {"cifar10-full": {**tiny, "width": 4, "blocks_per_stage": 1, **amp}}
        procs, widths = 2, [2]
    print(f"device {args.device}, amp {args.amp}, quick {args.quick}")
    print(f"{'preset':<14}{'run':<22}{'images':>8}{'s':>9}{'images/s':>11}{'TFLOP/s':>9}")
    for name, options in presets.items():
        runs = {"(a) 1 process": single(name, options, args.device, 0)}
        runs[f"(b) {procs} processes"] = many(name, options, args.device, procs)
        for width in widths:
            runs[f"(c) packed x{width}"] = packed(name, options, args.device, width)
        for label, r in runs.items():
            print(
                f"{name:<14}{label:<22}{r['images']:>8}{r['seconds']:>9.2f}"
                f"{r['images_per_s']:>11.0f}{r['tflops']:>9.4f}"
            )
        base = runs["(a) 1 process"]["images_per_s"]
        crowd = runs[f"(b) {procs} processes"]["images_per_s"]
        for width in widths:
            rate = runs[f"(c) packed x{width}"]["images_per_s"]
            print(f"{name:<14}packed x{width}: {rate / base:.2f}x (a), {rate / crowd:.2f}x (b)")
        if name == "cifar10-full":
            best = max(runs[f"(c) packed x{width}"]["tflops"] for width in widths)
    print(f"packed_tflops={best:.6g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
