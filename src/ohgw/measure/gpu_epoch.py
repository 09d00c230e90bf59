"""Seconds per epoch of the full ResNet-20 (width 16) on a GPU, with and without the warm start.

Trains the default config for ``--units`` epochs through the trial runner on ``--train-size``
class-balanced training images (all 45,000 when the data is there; a lent GPU machine gets a
subset) and prints seconds per epoch, images per second, the projected seconds for a
45,000-image epoch, and the warm start's seconds beside one epoch's.

    python perf/gpu_epoch.py --device cuda --train-size 10000
"""

from __future__ import annotations

import argparse
import statistics
from itertools import pairwise

from ohgw.benchmarks.base import make_benchmark
from ohgw.trial import TrialSpec
from ohgw.trial import WarmStartSettings
from ohgw.trial import run_trial


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--train-size", type=int, default=None, help="default: all 45,000")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast")
    args = parser.parse_args(argv)
    options = {"train_size": args.train_size, "val_size": 2000, "test_size": 2000}
    options = {k: v for k, v in options.items() if v is not None}
    if args.amp:
        options["amp"] = True
    benchmark = make_benchmark("cifar10-full", device=args.device, **options)
    images = len(benchmark.data["train"][1])
    print(f"cifar10-full, ResNet-20 width 16, {images} training images, device {args.device}")
    print(
        f"{'warm start':<12}{'s/epoch (median)':>18}{'images/s':>11}{'45k epoch s':>13}"
        f"{'warm s':>8}{'val acc':>9}"
    )
    for mode in ("none", "gradient"):
        spec = TrialSpec(
            "cifar10-full",
            dict(benchmark.default_config),
            seed=0,
            max_resource=args.units,
            warm_start=WarmStartSettings(mode=mode),
            benchmark_options=options,
            device=args.device,
            report_test=False,
        )
        rows: list[dict] = []
        run_trial(spec, rows.append, benchmark)
        warm = rows[0]["warm_seconds"]
        per_epoch = [rows[0]["compute_seconds"] - warm] + [
            b["compute_seconds"] - a["compute_seconds"] for a, b in pairwise(rows)
        ]
        steady = statistics.median(per_epoch[1:] or per_epoch)  # the first pays warm-up
        print(
            f"{mode:<12}{steady:>18.3f}{images / steady:>11.0f}{45000 / images * steady:>13.2f}"
            f"{warm:>8.3f}{rows[-1]['val_metric']:>9.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
